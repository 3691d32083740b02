"""Plans over HTTP: create within budget, fetch, list, idempotent lab results, estimates."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.market import load_market
from sampling.plan_config import DEFAULT_EXPLORE


def _plan(api: Any, **kw: Any) -> Any:
    body = {"name": "第四季度 抽检", "budget": 30000, "epsilon": 0.3, "per_merchant_cap": 2, "seed": 5, **kw}
    return api.client.post("/v1/plans", json=body, headers=api.as_("planner"))


def _result(t: dict[str, Any], verdict: str = "fail", **kw: Any) -> dict[str, Any]:
    types = ["false_advertising"] if verdict == "fail" else []
    return {
        "listing_id": t["listing_id"],
        "sampled_date": "2026-11-20",
        "verdict": verdict,
        "failure_types": types,
        **kw,
    }


def test_create_fetch_list_plan(api: Any, market_dir: Any) -> None:
    r = _plan(api)
    assert r.status_code == 201, r.text
    plan = r.json()
    targets = plan["targets"]
    assert targets and plan["n_targets"] == len(targets)
    assert [t["rank"] for t in targets] == list(range(1, len(targets) + 1))
    assert abs(plan["spent"] - sum(t["cost"] for t in targets)) < 1e-6 and plan["spent"] <= 30000
    assert all(0 < t["inclusion_prob"] <= 1 for t in targets)
    assert {"targeted", "random"} <= {t["arm"] for t in targets} <= {"targeted", "random", "topup"}
    assert all(t["inclusion_prob"] == 1 for t in targets if t["arm"] == "targeted")
    per_merchant = pd.Series([t["merchant_id"] for t in targets]).value_counts()
    assert per_merchant.max() <= 2
    # candidates are the whole current market, costs are price + lab fee
    market = load_market(market_dir)
    assert plan["n_candidates"] == len(market.listings)
    prices = market.listings.set_index("listing_id")["price"]
    assert all(t["cost"] > prices[t["listing_id"]] for t in targets)
    assert plan["model"] == {"name": "rules", "version": "1"}
    assert plan["design"]["expected_sample_size"] > 0

    # the same seed, market and model give the same plan; another seed draws another random arm
    again = _plan(api).json()
    assert [t["listing_id"] for t in again["targets"]] == [t["listing_id"] for t in targets]
    assert again["plan_id"] != plan["plan_id"]

    got = api.client.get(f"/v1/plans/{plan['plan_id']}", headers=api.as_("planner")).json()
    assert got["targets"] == targets and got["quotas"] == {}
    listing = api.client.get("/v1/plans?limit=1", headers=api.as_("planner")).json()
    assert listing["total"] == 2 and len(listing["plans"]) == 1 and listing["plans"][0]["plan_id"] == again["plan_id"]
    assert api.client.get("/v1/plans/plan-nope", headers=api.as_("planner")).status_code == 404


def test_quotas_and_bad_plan_requests(api: Any, market_dir: Any) -> None:
    market = load_market(market_dir)
    cat = market.listings["category"].value_counts().index[0]
    r = _plan(api, quotas={cat: {"max_purchases": 1}})
    assert r.status_code == 201, r.text
    assert sum(t["category"] == cat for t in r.json()["targets"]) <= 1
    assert r.json()["quotas"][cat]["max_purchases"] == 1

    r = _plan(api, quotas={"不存在的类目": {"min_purchases": 1}})
    assert r.status_code == 422 and r.json()["message"].startswith("quotas.不存在的类目: no category")
    r = _plan(api, per_merchant_cap=1)
    assert r.status_code == 422 and r.json()["message"].startswith("per_merchant_cap: ")
    r = _plan(api, budget=-1)
    assert r.status_code == 422 and r.json()["message"].startswith("budget: ")
    r = _plan(api, quotas={cat: {"min_purchases": 5, "max_purchases": 2}})
    assert r.status_code == 422 and "max_purchases is below min_purchases" in r.json()["message"]
    r = _plan(api, budget=10, epsilon=0.2, quotas={cat: {"min_purchases": 3}})
    assert r.status_code == 422 and "infeasible" in r.json()["message"]
    r = _plan(api, surprise=1)
    assert r.status_code == 422 and r.json()["message"].startswith("surprise: ")
    for bad in (-0.1, 1.5, "lots"):
        r = _plan(api, explore=bad)
        assert r.status_code == 422 and r.json()["message"].startswith("explore: "), r.text


def test_an_exploring_plan_marks_its_explored_purchases(api: Any) -> None:
    r = _plan(api, budget=60000, explore=0.3, per_merchant_cap=None)  # 300 listings: a cap leaves no room
    assert r.status_code == 201, r.text
    plan = r.json()
    explored = [t for t in plan["targets"] if t["arm"] == "explore"]
    assert explored and all(t["inclusion_prob"] == 1 for t in explored)
    arms = [t["arm"] for t in plan["targets"]]
    assert arms == sorted(arms, key=["targeted", "explore", "topup", "random"].index)
    assert plan["explore"] == 0.3 and plan["design"]["n_explored"] == len(explored)
    d = plan["design"]
    assert 0 < d["explored_cost"] and d["targeted_cost"] + d["explored_cost"] <= d["targeted_budget"] + 1e-6
    listed = api.client.get("/v1/plans?limit=1", headers=api.as_("planner")).json()["plans"][0]
    assert listed["plan_id"] == plan["plan_id"] and listed["explore"] == 0.3
    assert _plan(api, budget=60000).json()["explore"] == DEFAULT_EXPLORE


def test_results_are_idempotent_and_conflicts_409(api: Any) -> None:
    plan = _plan(api).json()
    pid, t = plan["plan_id"], plan["targets"]
    url, h = f"/v1/plans/{pid}/results", api.as_("planner")
    first = api.client.post(url, json={"results": [_result(t[0]), _result(t[1], "pass")]}, headers=h)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 2 and first.json()["unchanged"] == 0
    assert first.json()["results"][0]["inclusion_prob"] == t[0]["inclusion_prob"]
    again = api.client.post(url, json={"results": [_result(t[0])]}, headers=h).json()
    assert again["created"] == 0 and again["unchanged"] == 1 and again["results"][0]["status"] == "unchanged"
    stored = api.client.get(url, headers=h).json()["results"]
    assert len(stored) == 2

    r = api.client.post(url, json={"results": [_result(t[2]), _result(t[0], "pass")]}, headers=h)
    assert r.status_code == 409
    assert "verdict stored 'fail', sent 'pass'" in r.json()["message"] and t[0]["listing_id"] in r.json()["message"]
    # all or nothing: the good row of the rejected request was not stored
    assert len(api.client.get(url, headers=h).json()["results"]) == 2

    r = api.client.post(url, json={"results": [_result({"listing_id": "NOT-A-TARGET"})]}, headers=h)
    assert r.status_code == 422 and "not a target" in r.json()["message"]
    r = api.client.post(url, json={"results": [_result(t[3], "fail", failure_types=[])]}, headers=h)
    assert r.status_code == 422 and "failure type" in r.json()["message"]
    r = api.client.post(url, json={"results": [_result(t[3]), _result(t[3])]}, headers=h)
    assert r.status_code == 422 and "twice" in r.json()["message"]
    r = api.client.post("/v1/plans/plan-nope/results", json={"results": [_result(t[0])]}, headers=h)
    assert r.status_code == 404


def test_the_estimate_does_not_wait_for_top_up_results(api: Any) -> None:
    plan = _plan(api).json()
    pid, targets = plan["plan_id"], plan["targets"]
    used = [t for t in targets if t["arm"] != "topup"]
    assert len(used) < len(targets)  # this plan has a top-up
    h = api.as_("planner")
    r = api.client.post(f"/v1/plans/{pid}/results", json={"results": [_result(t, "pass") for t in used]}, headers=h)
    assert r.status_code == 200, r.text
    est = api.client.get(f"/v1/plans/{pid}/estimate", headers=h).json()
    # the targets and random draws are all the estimate uses: it is complete, HT primary, and says so
    assert est["complete"] and est["method"] == "ht" and est["n_results"] == len(used)
    assert est["n_purchases"] == len(targets) and any("top-up" in n for n in est["notes"])


def test_estimates_move_with_results(api: Any) -> None:
    plan = _plan(api, budget=60000, epsilon=0.5).json()
    pid, targets = plan["plan_id"], plan["targets"]
    h = api.as_("planner")
    est0 = api.client.get(f"/v1/plans/{pid}/estimate", headers=h).json()
    assert est0["n_results"] == 0 and not est0["complete"] and est0["method"] == "hajek"
    assert est0["pass_rate"]["lower"] <= est0["pass_rate"]["upper"]

    # every purchase reported: HT is primary, the interval is a real one
    results = [_result(t, "fail" if i % 3 == 0 else "pass") for i, t in enumerate(targets)]
    r = api.client.post(f"/v1/plans/{pid}/results", json={"results": results}, headers=h)
    assert r.status_code == 200, r.text
    est = api.client.get(f"/v1/plans/{pid}/estimate", headers=h).json()
    assert est["complete"] and est["method"] == "ht" and est["n_results"] == len(targets)
    fail = est["fail_rate"]
    assert fail["lower"] <= fail["estimate"] <= fail["upper"]
    assert abs(est["pass_rate"]["estimate"] - (1 - fail["estimate"])) < 1e-12
    assert fail["population"] == plan["n_candidates"] - plan["design"]["n_unreachable"]
    # targeting picks the risky listings, so the naive mean over purchases is not the estimate
    assert fail["naive"] == sum(x["verdict"] == "fail" for x in results) / len(results)
    cats = {c["domain"] for c in est["by_category"] if c["outcome"] == "fail"}
    assert cats and cats <= {c["domain"] for c in est["by_category"]}
    assert est["three_no_rate"]["estimate"] == 0.0
    r = api.client.get(f"/v1/plans/{pid}/estimate?confidence=0.2", headers=h)
    assert r.status_code == 422 and r.json()["message"].startswith("confidence: ")
