"""Each request that once ended in a 500 (or was accepted although wrong), replayed on SQLite and PostgreSQL:
every one is now a 4xx naming the field, or a 200 that says what it cannot know."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from serving.inputs import find_bad_text

JSON = {"content-type": "application/json"}


def _raw(api: Any, path: str, body: str, role: str = "admin") -> Any:
    return api.client.post(path, content=body.encode(), headers={**api.as_(role), **JSON})


def _field(r: Any) -> list[Any]:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    return list(r.json()["detail"][0]["loc"])


def test_estimate_of_a_plan_with_no_purchase_is_no_data(api: Any) -> None:
    r = api.client.post("/v1/plans", json={"budget": 1, "epsilon": 0.2}, headers=api.as_("planner"))
    assert r.status_code == 201, r.text
    assert r.json()["targets"] == []
    est = api.client.get(f"/v1/plans/{r.json()['plan_id']}/estimate", headers=api.as_("planner"))
    assert est.status_code == 200, est.text
    e = est.json()
    assert e["pass_rate"]["estimate"] is None and e["fail_rate"]["estimate"] is None
    assert (e["pass_rate"]["lower"], e["pass_rate"]["upper"]) == (0.0, 1.0)


def test_large_seeds_are_stored(api: Any) -> None:
    for seed in (2**31, 2**63 - 1):
        r = api.client.post("/v1/plans", json={"budget": 3000, "seed": seed}, headers=api.as_("planner"))
        assert r.status_code == 201, r.text
        got = api.client.get(f"/v1/plans/{r.json()['plan_id']}", headers=api.as_("planner"))
        assert got.json()["seed"] == seed
    assert _field(api.client.post("/v1/plans", json={"budget": 3000, "seed": 2**63}, headers=api.as_("planner"))) == [
        "body",
        "seed",
    ]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/plans", '{"budget": 3000, "name": "a\\u0000b"}', ["body", "name"]),
        ("/v1/plans", '{"budget": 3000, "name": "a\\ud800b"}', ["body", "name"]),
        ("/v1/plans", '{"budget": 3000, "quotas": {"\\udc00": {}}}', ["body", "quotas", "\\udc00"]),
        ("/v1/admin/keys", '{"role": "planner", "name": "\\u0000"}', ["body", "name"]),
    ],
)
def test_nul_and_lone_surrogates_are_422(api: Any, path: str, body: str, loc: list[Any]) -> None:
    r = _raw(api, path, body)
    assert r.status_code == 422 and _field(r) == loc, r.text
    assert "NUL" in r.json()["message"]


def test_lone_surrogate_in_a_listing_is_named(api: Any, rec: Any) -> None:
    body = json.dumps({"listing": rec.listing(lid="L\ud800"), "merchant": rec.merchant()})
    r = _raw(api, "/v1/score/listing", body, "platform")
    assert _field(r) == ["body", "listing", "listing_id"]
    # a valid surrogate pair (an emoji, escaped as JSON allows) is ordinary text
    ok = json.dumps({"listing": rec.listing(title="好评\U0001f600"), "merchant": rec.merchant()})
    assert _raw(api, "/v1/score/listing", ok, "platform").status_code == 200


def test_nul_in_ids_is_not_a_500(api: Any) -> None:
    h = api.as_("admin")
    assert api.client.get("/v1/plans/a%00b", headers=h).status_code == 404
    assert api.client.get("/v1/plans/a%00b/estimate", headers=h).status_code == 404
    assert api.client.delete("/v1/admin/keys/a%00", headers=h).status_code == 404
    assert api.client.get("/v1/model", headers={"Authorization": "Bearer cj_a\x00b_secret"}).status_code == 401
    assert api.client.get("/web/plans/a%00b", follow_redirects=False).status_code == 303  # login first


@pytest.mark.parametrize(
    ("where", "value", "loc"),
    [
        ("listing", {"sales": 10**30}, ["body", "listing", "sales"]),
        ("merchant", {"removals_elsewhere": 10**25}, ["body", "merchant", "removals_elsewhere"]),
    ],
)
def test_counts_beyond_what_a_model_holds_are_422(api: Any, rec: Any, where: str, value: Any, loc: list[Any]) -> None:
    body = {"listing": rec.listing(), "merchant": rec.merchant()}
    body[where] = {**body[where], **value}
    r = api.client.post("/v1/score/listing", json=body, headers=api.as_("platform"))
    assert _field(r) == loc


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_say_so(api: Any, rec: Any, literal: str) -> None:
    body = json.dumps({"listing": rec.listing(), "merchant": rec.merchant()})
    body = body.replace('"price": 89.0', f'"price": {literal}')
    r = _raw(api, "/v1/score/listing", body, "platform")
    assert _field(r) == ["body", "listing", "price"] and "finite" in r.json()["message"]
    r = _raw(api, "/v1/plans", f'{{"budget": {literal}}}', "planner")
    assert _field(r) == ["body", "budget"] and "finite" in r.json()["message"]


def test_future_sampled_date_is_refused(api: Any) -> None:
    plan = api.client.post("/v1/plans", json={"budget": 20000, "seed": 3}, headers=api.as_("planner")).json()
    t = plan["targets"][0]
    future = (date.today() + timedelta(days=30)).isoformat()
    body = {"results": [{"listing_id": t["listing_id"], "sampled_date": future, "verdict": "pass"}]}
    r = api.client.post(f"/v1/plans/{plan['plan_id']}/results", json=body, headers=api.as_("planner"))
    assert _field(r) == ["body", "results", 0, "sampled_date"] and "future" in r.json()["message"]
    assert api.client.get(f"/v1/plans/{plan['plan_id']}/results", headers=api.as_("planner")).json()["results"] == []


def test_find_bad_text_locates_keys_and_items() -> None:
    assert find_bad_text(b'{"a": ["x", "\\u0000"]}') == ["body", "a", 1]
    assert find_bad_text(b'{"a": "\\ud83d\\ude00"}') is None  # a pair is one character
    assert find_bad_text(b'{"a": "\\\\u0000"}') is None  # an escaped backslash, then plain text
    assert find_bad_text(b'{"a": "\\u0000"') is None  # not JSON: the route's own parser reports it


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(api: Any) -> None:
    """Bytes that are not UTF-8 (schemathesis found them) are refused like any body that is not JSON."""
    r = api.client.post(
        "/v1/score/listing",
        content=b"\x7f\xff\xfe%\xe9",
        headers={**api.as_("platform"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["message"].startswith("body")
