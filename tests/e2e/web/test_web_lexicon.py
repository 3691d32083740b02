"""The 词库建议 page: suggestions mined from the service's market with evidence, accepting one writes a new
lexicon version in the configured folder (CSRF-protected, planner sessions only), rejecting hides it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.paths import LEXICON_DIR
from features.lexicon import Lexicon
from features.lexicon_changes import history
from tests.support.markets import NEW_CUE, census, with_cue


@pytest.fixture(scope="module")
def cue_market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cue-market")
    with_cue(census(60, 800, seed=11)).write(out)
    return out


@pytest.fixture
def client(tmp_path: Path, cue_market_dir: Path, web_tools: Any) -> Iterator[TestClient]:
    lexicons = tmp_path / "lexicons"
    shutil.copytree(LEXICON_DIR, lexicons)
    app = replace(web_tools, market_dir=cue_market_dir).app(tmp_path / "store.db", lexicon_dir=lexicons)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.app_keys = {r: web_tools.make_key(app, r) for r in ("planner", "platform")}  # type: ignore[attr-defined]
        c.lexicons = lexicons  # type: ignore[attr-defined]
        yield c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _login(c: TestClient, key: str) -> None:
    page = c.get("/web/login")
    r = c.post("/web/login", data={"api_key": key, "csrf_token": _csrf(page.text), "next": ""}, follow_redirects=False)
    assert r.status_code == 303


def test_page_needs_a_planner_session(client: TestClient) -> None:
    r = client.get("/web/lexicon", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login")
    r = client.post("/web/lexicon/decisions", data={"phrase": NEW_CUE, "action": "accept"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login")
    page = client.get("/web/login")
    r = client.post(
        "/web/login",
        data={"api_key": client.app_keys["platform"], "csrf_token": _csrf(page.text), "next": ""},  # type: ignore[attr-defined]
    )
    assert r.status_code == 401  # a platform key cannot log in, so it can neither see nor accept
    assert history(client.lexicons) == []  # type: ignore[attr-defined]


def test_suggest_accept_and_the_new_version(client: TestClient) -> None:
    lexicons: Path = client.lexicons  # type: ignore[attr-defined]
    before = Lexicon.load(lexicons).version
    _login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    page = client.get("/web/lexicon?target=counterfeit")
    assert page.status_code == 200, page.text
    html = page.text
    assert "词库建议" in html and before in html
    row = re.search(r'<tr data-testid="suggestion" data-phrase="' + NEW_CUE + r'">(.*?)</tr>', html, re.S)
    assert row, "the planted cue is not suggested"
    cells = row.group(1)
    assert "假货暗语" in cells  # the suggested lexicon
    assert cells.count("<mark>") == 3  # three evidence listings, the phrase marked in each
    assert re.search(r"<mark>(海关罚没渠道|海 关 罚 没 渠 道)</mark>", cells)
    assert 'option value="counterfeit_cue" selected' in cells

    # no CSRF token: refused, nothing written
    r = client.post("/web/lexicon/decisions", data={"phrase": NEW_CUE, "kind": "counterfeit_cue", "action": "accept"})
    assert r.status_code == 403 and history(lexicons) == []

    form = {"csrf_token": _csrf(html), "phrase": NEW_CUE, "kind": "counterfeit_cue", "target": "counterfeit"}
    r = client.post(
        "/web/lexicon/decisions", data={**form, "action": "accept", "note": "海关通报"}, follow_redirects=False
    )
    assert r.status_code == 303 and "msg=lexicon-accept" in r.headers["location"]
    after = Lexicon.load(lexicons)
    assert NEW_CUE in after.phrases["counterfeit_cue"] and after.version != before
    [change] = history(lexicons)
    assert change.by.endswith(")") and "web test planner" in change.by and change.note == "海关通报"
    assert change.evidence["n_fail"] >= 5 and change.evidence["suggested_kind"] == "counterfeit_cue"
    shown = client.get(r.headers["location"]).text
    assert after.version in shown and "词库版本已更新" in shown
    assert f'data-phrase="{NEW_CUE}"' not in shown  # in a lexicon now: no longer suggested
    assert re.search(r'<tr data-testid="change">.*?采纳.*?' + NEW_CUE, shown, re.S)

    # accepting it again says why not, on the page, and writes nothing
    r = client.post("/web/lexicon/decisions", data={**form, "action": "accept"})
    assert r.status_code == 422 and "already in the counterfeit_cue lexicon" in r.text
    assert len(history(lexicons)) == 1


def test_reject_and_bad_fields(client: TestClient) -> None:
    lexicons: Path = client.lexicons  # type: ignore[attr-defined]
    _login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    html = client.get("/web/lexicon?target=counterfeit").text
    token = _csrf(html)
    for data in (
        {"phrase": "", "kind": "counterfeit_cue", "action": "accept"},
        {"phrase": NEW_CUE, "kind": "nonsense", "action": "accept"},
        {"phrase": NEW_CUE, "kind": "counterfeit_cue", "action": "delete"},
    ):
        r = client.post("/web/lexicon/decisions", data={"csrf_token": token, "target": "counterfeit", **data})
        assert r.status_code == 422 and 'data-testid="lexicon-error"' in r.text, data
    assert client.get("/web/lexicon?target=nonsense").status_code == 422
    r = client.post(
        "/web/lexicon/decisions",
        data={"csrf_token": token, "target": "counterfeit", "phrase": NEW_CUE, "action": "reject"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    shown = client.get(r.headers["location"]).text
    assert "不再出现在建议中" in shown and f'data-phrase="{NEW_CUE}"' not in shown
    assert [c.action for c in history(lexicons)] == ["reject"]
    assert Lexicon.load(lexicons).version == Lexicon.load(LEXICON_DIR).version
