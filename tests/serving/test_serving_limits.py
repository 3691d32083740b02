"""Bounded work per plan request: size limits, one plan drawn at a time, idempotent retries, and a plan
list that never loads targets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from serving import store


def _post(api: Any, body: dict[str, Any], **headers: str) -> Any:
    return api.client.post("/v1/plans", json=body, headers={**api.as_("planner"), **headers})


def _total(api: Any) -> int:
    return int(api.client.get("/v1/plans", headers=api.as_("planner")).json()["total"])


def test_plans_over_the_limits_are_refused_naming_the_budget(start_app: Any) -> None:
    with start_app(max_plan_budget=100_000, max_plan_targets=5) as api:
        r = _post(api, {"budget": 1e10})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "budget"]
        assert "CHOUJIAN_MAX_PLAN_BUDGET" in r.json()["message"]
        r = _post(api, {"budget": 50_000, "epsilon": 0.3})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "budget"]
        assert "CHOUJIAN_MAX_PLAN_TARGETS" in r.json()["message"]
        assert _total(api) == 0


def test_one_plan_is_drawn_at_a_time(api: Any) -> None:
    with api.app.state.plan_gate.slot():  # as if another request were drawing a plan now
        r = _post(api, {"budget": 5000})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert _post(api, {"budget": 5000}).status_code == 201


def test_idempotency_key_returns_the_first_plan(api: Any) -> None:
    body = {"name": "重试", "budget": 20_000, "seed": 4}
    first = _post(api, body, **{"Idempotency-Key": "b6f0c1e2-retry-1"})
    assert first.status_code == 201, first.text
    again = _post(api, body, **{"Idempotency-Key": "b6f0c1e2-retry-1"})
    assert again.status_code == 200 and again.json()["plan_id"] == first.json()["plan_id"]
    assert again.json()["targets"] == first.json()["targets"]
    assert _total(api) == 1
    other = _post(api, {**body, "budget": 30_000}, **{"Idempotency-Key": "b6f0c1e2-retry-1"})
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert _post(api, body, **{"Idempotency-Key": "another"}).status_code == 201
    assert _post(api, body).status_code == 201  # no key: a new plan each time, as before
    assert _total(api) == 3
    # a key is scoped to the key that made the plan: another planner's identical request is its own plan
    with api.app.state.sessions() as s:
        other_key = store.create_key(s, role="planner", name="second")[1]
    r = api.client.post(
        "/v1/plans",
        json=body,
        headers={"Authorization": f"Bearer {other_key}", "Idempotency-Key": "b6f0c1e2-retry-1"},
    )
    assert r.status_code == 201 and r.json()["plan_id"] != first.json()["plan_id"]


def test_listing_plans_loads_no_targets(api: Any) -> None:
    for seed in range(3):
        assert _post(api, {"budget": 20_000, "seed": seed}).status_code == 201
    with api.app.state.sessions() as s:
        rows, total = store.list_plans(s, limit=10)
        assert total == 3
        assert all({"targets", "frame"} <= inspect(r).unloaded for r in rows)
        assert store.result_counts(s, [r.plan_id for r in rows]) == {r.plan_id: 0 for r in rows}
    listed = api.client.get("/v1/plans?limit=2", headers=api.as_("planner")).json()
    assert len(listed["plans"]) == 2 and all(p["n_targets"] > 0 and p["n_results"] == 0 for p in listed["plans"])
