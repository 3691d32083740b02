"""The request examples users copy work: every `examples/*.json` file and every OpenAPI request example is
posted to the running app on a small simulated market (`training.simulator.simulate`) and answered 2xx."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

from core import reference

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROLE_OF_TAG = {"scoring": "platform", "merchants": "platform", "plans": "planner", "ingest": "admin", "admin": "admin"}


def _endpoints() -> list[dict[str, str]]:
    with (EXAMPLES / "endpoints.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_example_file_has_an_endpoint() -> None:
    listed = {row["file"] for row in _endpoints()}
    assert listed == {p.name for p in EXAMPLES.glob("*.json")}


def test_every_example_file_is_answered_2xx(api: Any) -> None:
    for row in _endpoints():
        body = json.loads((EXAMPLES / row["file"]).read_text(encoding="utf-8"))
        r = api.client.request(row["method"], row["path"], json=body, headers=api.as_(row["role"]))
        assert 200 <= r.status_code < 300, (row["file"], r.status_code, r.text[:500])


def test_the_readme_posts_the_listing_example() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert "-d @examples/listing.json http://127.0.0.1:8000/v1/score/listing" in readme
    # the small-budget advice is in the README itself, not in notes users do not have
    assert "issue notes" not in readme and "require_estimate: true" in readme


def _examples(openapi: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    ref = schema["$ref"].rsplit("/", 1)[-1]
    return list(openapi["components"]["schemas"][ref].get("examples", []))


def test_every_openapi_request_example_succeeds(api: Any) -> None:
    c = api.client
    openapi = c.get("/openapi.json").json()
    posted: list[str] = []
    plan: dict[str, Any] | None = None
    # plans first: the results example needs a plan, and a listing among its targets
    ops = sorted(
        ((path, op) for path, item in openapi["paths"].items() for m, op in item.items() if m == "post"),
        key=lambda po: "{plan_id}" in po[0],
    )
    for path, op in ops:
        body_spec = op.get("requestBody")
        if body_spec is None:
            continue
        examples = _examples(openapi, body_spec["content"]["application/json"]["schema"])
        assert examples, f"POST {path} has no request example"
        headers = api.as_(ROLE_OF_TAG[op["tags"][0]])
        for example in examples:
            body, url = copy.deepcopy(example), path
            if "{plan_id}" in path:
                assert plan is not None
                url = path.replace("{plan_id}", plan["plan_id"])
                for result in body["results"]:  # the example's listing is a stand-in for one of the targets
                    result["listing_id"] = plan["targets"][0]["listing_id"]
            r = c.post(url, json=body, headers=headers)
            assert 200 <= r.status_code < 300, (path, r.status_code, r.text[:500])
            if path == "/v1/plans":
                plan = r.json()
                # the quotas name categories of the demo market: those of the shipped lab-fee table
                assert example["quotas"] and set(example["quotas"]) <= set(reference.lab_fees())
            posted.append(path)
    assert {"/v1/score/listing", "/v1/score/batch", "/v1/merchants/risk", "/v1/plans"} <= set(posted)
    assert "/v1/plans/{plan_id}/results" in posted and "/v1/admin/keys" in posted
