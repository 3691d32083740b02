"""Estimates that say what they rest on: effective random n and design effect, a flag below the minimum
number of random draws, "no data" for domains no draw covers, a warning before a too-small random arm is
drawn, and a trend over every plan with results."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from sampling.estimation import MIN_RANDOM_DRAWS


def _plan(api: Any, **kw: Any) -> dict[str, Any]:
    r = api.client.post("/v1/plans", json={"seed": 1, **kw}, headers=api.as_("planner"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _report_all(api: Any, plan: dict[str, Any]) -> None:
    results = [
        {
            "listing_id": t["listing_id"],
            "sampled_date": "2026-11-20",
            "verdict": "fail" if i % 4 == 0 else "pass",
            "failure_types": ["quality"] if i % 4 == 0 else [],
        }
        for i, t in enumerate(plan["targets"])
    ]
    r = api.client.post(f"/v1/plans/{plan['plan_id']}/results", json={"results": results}, headers=api.as_("planner"))
    assert r.status_code == 200, r.text


def _estimate(api: Any, plan: dict[str, Any]) -> dict[str, Any]:
    r = api.client.get(f"/v1/plans/{plan['plan_id']}/estimate", headers=api.as_("planner"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_few_random_draws_are_flagged_and_empty_domains_are_no_data(api: Any) -> None:
    plan = _plan(api, budget=20000, epsilon=0.3)
    assert plan["warnings"] and "needs at least" in plan["warnings"][0]  # told when it was made
    _report_all(api, plan)
    e = _estimate(api, plan)
    assert e["complete"] and e["min_random_draws"] == MIN_RANDOM_DRAWS
    p = e["pass_rate"]
    assert p["n_random"] < MIN_RANDOM_DRAWS and p["too_few_draws"] and e["fail_rate"]["too_few_draws"]
    assert any("indicative only" in n for n in e["notes"])
    covered = {c["domain"] for c in e["by_category"] if c["n_random"] > 0}
    for c in e["by_category"]:
        if c["domain"] not in covered and c["population"] > 0:
            # never "0 failures" (100% pass) for listings nobody drew
            assert c["no_data"] and c["estimate"] is None and c["se"] is None, c
            assert c["lower"] <= c["upper"]
    assert any(c["no_data"] for c in e["by_category"])


def test_every_estimate_reports_its_effective_sample(api: Any) -> None:
    plan = _plan(api, budget=100000, epsilon=0.8)
    _report_all(api, plan)
    f = _estimate(api, plan)["fail_rate"]
    assert f["n_random"] >= 2 and f["estimate"] is not None
    if f["n_eff"] is not None:  # the draws varied: the design's variance is measured
        assert f["n_eff"] > 0 and abs(f["design_effect"] - f["n_random"] / f["n_eff"]) < 1e-9
    assert f["too_few_draws"] == (f["n_random"] < MIN_RANDOM_DRAWS)


def test_too_small_random_arm_is_refused_before_drawing_when_asked(api: Any) -> None:
    r = api.client.post(
        "/v1/plans", json={"budget": 20000, "epsilon": 0.3, "require_estimate": True}, headers=api.as_("planner")
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "budget"]
    assert re.search(r"budget of about [\d,]+ yuan|larger market", r.json()["message"]), r.json()["message"]
    assert api.client.get("/v1/plans", headers=api.as_("planner")).json()["total"] == 0  # nothing drawn or stored


def _login(c: TestClient, key: str) -> None:
    page = c.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    assert c.post("/web/login", data={"api_key": key, "csrf_token": token.group(1)}).status_code == 200


def test_pages_warn_and_the_trend_reads_every_plan_with_results(api: Any) -> None:
    plan = _plan(api, budget=20000, epsilon=0.3)
    _report_all(api, plan)
    for _ in range(41):  # more newer plans without results than the trend once read
        _plan(api, budget=1)
    _login(api.client, api.keys["planner"])
    page = api.client.get(f"/web/plans/{plan['plan_id']}").text
    assert 'data-testid="estimate-warning"' in page and "随机样本不足" in page
    assert "无数据" in page  # categories no random draw covers
    trend = api.client.get("/web/estimates").text
    assert plan["plan_id"] in trend and "还没有检测结果" not in trend and "仅供参考" in trend
