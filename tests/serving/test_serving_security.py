"""Secrets, sessions bound to the key, key expiry and rotation, bounded metric labels."""

from __future__ import annotations

import re
import stat
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from serving import security, store
from serving.db import utcnow
from serving.settings import Settings
from serving.web import session as websession


def _login(c: TestClient, key: str) -> Any:
    page = c.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return c.post("/web/login", data={"api_key": key, "csrf_token": token.group(1)}, follow_redirects=False)


def _opens(c: TestClient) -> bool:
    return c.get("/web/plans", follow_redirects=False).status_code == 200


def test_each_installation_generates_its_own_secret(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "secret_key"
    s = Settings(environment="development", secret_key_file=path)
    assert s.secret_key is None
    first = security.session_secret(s)
    assert first and security.usable(first) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert security.session_secret(s) == first  # kept, not regenerated
    other = security.session_secret(Settings(environment="development", secret_key_file=tmp_path / "other"))
    assert other != first
    # a placeholder is never used to sign, even in development
    assert security.session_secret(Settings(secret_key=SecretStr("changethis"), secret_key_file=path)) == first
    assert security.session_secret(Settings(secret_key=SecretStr("k" * 32), secret_key_file=path)) == "k" * 32
    with pytest.raises(ValidationError, match="CHOUJIAN_SECRET_KEY"):
        Settings(environment="production")


def test_pages_refuse_to_serve_without_a_secret(start_app: Any, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the secret's folder should be: nothing can be created
    with start_app(environment="development", secret_key=None, secret_key_file=blocked / "secret_key") as api:
        assert api.client.get("/web/login").status_code == 503
        assert api.client.get("/healthz").status_code == 200  # the API does not depend on it


def test_forged_and_unbound_cookies_are_refused(api: Any) -> None:
    c = api.client
    key_id = store.split_key(api.keys["planner"])
    assert key_id is not None
    # the old public default, and the real secret without the key's binding: both are only a login page
    for secret in ("changethis", api.app.state.web_secret):
        forged = websession.new_session(key_id=key_id[0], role="planner")
        c.cookies.set(websession.COOKIE_NAME, websession.encode(forged, secret))
        assert not _opens(c)
    c.cookies.clear()
    assert _login(c, api.keys["planner"]).status_code == 303
    assert _opens(c)


def test_rotation_keeps_the_old_key_for_its_grace_period_only(api: Any) -> None:
    c = api.client
    assert _login(c, api.keys["planner"]).status_code == 303 and _opens(c)
    key_id = api.keys["planner"].split("_")[1]
    r = c.post(f"/v1/admin/keys/{key_id}/rotate?grace_hours=1", headers=api.as_("admin"))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["role"] == "planner" and new["key_id"] != key_id
    new_h = {"Authorization": f"Bearer {new['key']}"}
    assert c.get("/v1/plans", headers=api.as_("planner")).status_code == 200  # within the grace period
    assert c.get("/v1/plans", headers=new_h).status_code == 200 and _opens(c)
    # no grace: the old key, and every session bound to it, stops now
    assert c.post(f"/v1/admin/keys/{key_id}/rotate?grace_hours=0", headers=api.as_("admin")).status_code == 201
    assert c.get("/v1/plans", headers=api.as_("planner")).status_code == 401
    assert not _opens(c)
    assert c.post(f"/v1/admin/keys/{key_id}/rotate", headers=api.as_("admin")).status_code == 404
    assert c.get("/v1/plans", headers=new_h).status_code == 200


def test_expired_keys_are_refused(start_app: Any) -> None:
    with start_app(auth_cache_seconds=0) as api:  # every request looks its key up: a change in the store holds at once
        r = api.client.post(
            "/v1/admin/keys", json={"role": "platform", "expires_in_days": 30}, headers=api.as_("admin")
        )
        assert r.status_code == 201 and r.json()["expires_at"] is not None
        h = {"Authorization": f"Bearer {r.json()['key']}"}
        assert api.client.get("/v1/model", headers=h).status_code == 200
        with api.app.state.sessions() as s:
            row = store.get_key(s, r.json()["key_id"])
            assert row is not None
            row.expires_at = utcnow() - timedelta(seconds=1)
            s.commit()
        r = api.client.get("/v1/model", headers=h)
        assert r.status_code == 401 and "expired" in r.json()["message"]


def test_a_verified_key_is_remembered_for_seconds_and_no_longer(start_app: Any) -> None:
    """`CHOUJIAN_AUTH_CACHE_SECONDS`: a key verified a moment ago is not looked up again, so a change made behind
    the process's back (the CLI, another worker) holds after those seconds; its own expiry holds at once, and a
    key revoked through this process's API is refused at once."""
    with start_app(auth_cache_seconds=0.5) as api:
        c = api.client
        with api.app.state.sessions() as s:
            row, key = store.create_key(s, role="platform", name="revoked behind its back")
        h = {"Authorization": f"Bearer {key}"}
        assert c.get("/v1/model", headers=h).status_code == 200
        with api.app.state.sessions() as s:
            store.revoke_key(s, row.key_id)  # as `choujian keys revoke` does: this process is not told
        assert c.get("/v1/model", headers=h).status_code == 200  # remembered
        time.sleep(0.6)
        assert c.get("/v1/model", headers=h).status_code == 401  # looked up again
    with start_app(auth_cache_seconds=60) as api:
        c, admin = api.client, api.as_("admin")
        with api.app.state.sessions() as s:
            _, soon = store.create_key(s, role="platform", name="soon", expires_at=utcnow() + timedelta(seconds=1))
        h = {"Authorization": f"Bearer {soon}"}
        assert c.get("/v1/model", headers=h).status_code == 200
        time.sleep(1.1)
        assert c.get("/v1/model", headers=h).status_code == 401  # its expiry, although remembered
        # revoked through the API: refused at once, although verified a moment ago
        r = c.post("/v1/admin/keys", json={"role": "platform"}, headers=admin)
        h = {"Authorization": f"Bearer {r.json()['key']}"}
        assert c.get("/v1/model", headers=h).status_code == 200
        assert c.delete(f"/v1/admin/keys/{r.json()['key_id']}", headers=admin).status_code == 200
        assert c.get("/v1/model", headers=h).status_code == 401


def test_made_up_methods_add_at_most_one_series(api: Any) -> None:
    def series() -> int:
        text = api.client.get("/metrics").text
        return sum(1 for line in text.splitlines() if line.startswith("choujian_request_seconds_count"))

    before = series()
    for i in range(50):
        api.client.request(f"BOGUS{i}", "/v1/plans")
        api.client.request(f"X{i}", f"/nowhere/{i}")
    assert series() - before <= 3  # other-method on /v1/plans (405) and on unmatched (404), plus /metrics itself
