"""Replay the hostile and edge-case requests of the hardening work against a running `choujian serve`.

    .venv/bin/python scripts/replay.py --url http://127.0.0.1:8000 --admin-key "$(choujian keys create --role admin)"

Each case is one request (or a short sequence) that once ended in a 500, was accepted although wrong, or
let someone in; the line printed for it says what the server answered now. The exit code is the number of
cases that failed (0: all held). It creates keys, plans and lab results and posts the example files
(`examples/`), so point it at a test deployment (a fresh `make demo` + `choujian serve`), never at one that
holds real plans. `tests/e2e/test_replay.py` runs it against `choujian serve` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
JSON = {"content-type": "application/json"}
INGEST = "/v1/ingest"


class Failed(AssertionError):
    """A case whose answer was not the one expected."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


@dataclass
class Replay:
    """A client on the server, a key per role, and every status code seen (no case may see a 5xx)."""

    client: httpx.Client
    keys: dict[str, str]
    statuses: list[tuple[str, str, int]] = field(default_factory=list)

    def call(self, method: str, path: str, *, role: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {self.keys[role]}"
        r = self.client.request(method, path, headers=headers, **kw)
        self.statuses.append((method, path, r.status_code))
        expect(r.status_code < 500, f"{method} {path} answered {r.status_code}: {r.text[:300]}")
        return r

    def raw(self, path: str, body: str, role: str) -> httpx.Response:
        return self.call("POST", path, role=role, content=body.encode("utf-8", "surrogatepass"), headers=JSON)

    def plan(self, **body: Any) -> dict[str, Any]:
        r = self.call("POST", "/v1/plans", role="planner", json={"seed": 1, **body})
        expect(r.status_code == 201, f"plan {body} answered {r.status_code}: {r.text[:300]}")
        return dict(r.json())


def _loc(r: httpx.Response) -> list[Any]:
    expect(400 <= r.status_code < 500, f"expected a 4xx, got {r.status_code}: {r.text[:300]}")
    return list(r.json()["detail"][0]["loc"])


def _example(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


def _record(rp: Replay, plan: dict[str, Any], *, fail_every: int = 4) -> None:
    results = [
        {
            "listing_id": t["listing_id"],
            "sampled_date": date.today().isoformat(),
            "verdict": "fail" if i % fail_every == 0 else "pass",
            "failure_types": ["quality"] if i % fail_every == 0 else [],
        }
        for i, t in enumerate(plan["targets"])
    ]
    r = rp.call("POST", f"/v1/plans/{plan['plan_id']}/results", role="planner", json={"results": results})
    expect(r.status_code == 200, f"recording results answered {r.status_code}: {r.text[:300]}")


# --- the cases -------------------------------------------------------------------------------------------


def no_purchase_estimate(rp: Replay) -> str:
    plan = rp.plan(budget=1, epsilon=0.2)
    expect(plan["targets"] == [], "a 1-yuan plan bought something")
    e = rp.call("GET", f"/v1/plans/{plan['plan_id']}/estimate", role="planner")
    expect(e.status_code == 200, f"estimate answered {e.status_code}")
    p = e.json()["pass_rate"]
    expect(p["estimate"] is None and p["no_data"], f"pass rate {p}")
    return "200, pass rate: no data"


def few_draws_flagged(rp: Replay) -> str:
    plan = rp.plan(budget=50000, epsilon=0.2)
    _record(rp, plan)
    e = rp.call("GET", f"/v1/plans/{plan['plan_id']}/estimate", role="planner").json()
    p, minimum = e["pass_rate"], e["min_random_draws"]
    expect(p["too_few_draws"] == (p["n_random"] < minimum), f"flag {p['too_few_draws']} with n_random {p['n_random']}")
    if p["n_random"] < minimum:
        expect(any("needs at least" in w for w in plan["warnings"]), f"no warning when drawn: {plan['warnings']}")
    for c in e["by_category"]:
        if c["n_random"] == 0 and c["population"] > 0:
            expect(c["no_data"] and c["estimate"] is None, f"a domain nobody drew shows {c['estimate']}")
    return f"{len(plan['targets'])} purchases, {p['n_random']} random draws, too_few_draws={p['too_few_draws']}"


def forged_cookie(rp: Replay) -> str:
    from serving.web import session as websession

    key_id = rp.keys["planner"].split("_")[1]
    forged = websession.encode(websession.new_session(key_id=key_id, role="planner"), "changethis")
    before = rp.call("GET", "/v1/plans", role="planner").json()["total"]
    rp.client.cookies.set(websession.COOKIE_NAME, forged)
    try:
        page = rp.call("GET", "/web/plans", follow_redirects=False)
        expect(page.status_code != 200, "a cookie signed with the old default secret opened the planner pages")
        form = rp.call("POST", "/web/plans", data={"budget": "1000", "csrf_token": "x"}, follow_redirects=False)
    finally:
        rp.client.cookies.clear()
    expect(rp.call("GET", "/v1/plans", role="planner").json()["total"] == before, "the forged session made a plan")
    return f"page {page.status_code}, plan form {form.status_code}"


def _series(rp: Replay) -> set[str]:
    text = rp.call("GET", "/metrics").text
    return {ln.split(" ")[0] for ln in text.splitlines() if ln.startswith("choujian_request_seconds_count")}


def bogus_methods(rp: Replay) -> str:
    _series(rp)  # /metrics' own series exists from here on
    before = _series(rp)
    for i in range(300):
        r = rp.client.request(f"BOGUS{i}", "/v1/plans")
        expect(r.status_code < 500, f"method BOGUS{i} answered {r.status_code}")
    added = _series(rp) - before
    expect(len(added) <= 1, f"300 made-up methods added {len(added)} series: {sorted(added)[:3]}")
    return f"{len(added)} new series"


def large_seed(rp: Replay) -> str:
    plan = rp.plan(budget=3000, seed=2**31)
    got = rp.call("GET", f"/v1/plans/{plan['plan_id']}", role="planner").json()
    expect(got["seed"] == 2**31, f"seed stored as {got['seed']}")
    r = rp.call("POST", "/v1/plans", role="planner", json={"budget": 3000, "seed": 2**63})
    expect(_loc(r) == ["body", "seed"], f"seed 2^63: {r.text[:200]}")
    return "2^31 stored, 2^63 refused naming seed"


def nul_in_plan_name(rp: Replay) -> str:
    r = rp.raw("/v1/plans", '{"budget": 3000, "name": "a\\u0000b"}', "planner")
    expect(_loc(r) == ["body", "name"], r.text[:200])
    return f"{r.status_code} naming body.name"


def lone_surrogate_listing_id(rp: Replay) -> str:
    body = _example("listing.json")
    body["listing"]["listing_id"] = "L\ud800"
    r = rp.raw("/v1/score/listing", json.dumps(body), "platform")
    expect(_loc(r) == ["body", "listing", "listing_id"], r.text[:200])
    return f"{r.status_code} naming body.listing.listing_id"


def huge_counts(rp: Replay) -> str:
    out = []
    for where, name, value in (("listing", "sales", 10**30), ("merchant", "removals_elsewhere", 10**25)):
        body = _example("listing.json")
        body[where][name] = value
        r = rp.call("POST", "/v1/score/listing", role="platform", json=body)
        expect(_loc(r) == ["body", where, name], r.text[:200])
        out.append(f"{name} {r.status_code}")
    return ", ".join(out)


def non_finite_price(rp: Replay) -> str:
    body = _example("listing.json")
    text = re.sub(r'"price": [0-9.]+', '"price": NaN', json.dumps(body, ensure_ascii=False), count=1)
    r = rp.raw("/v1/score/listing", text, "platform")
    expect(_loc(r) == ["body", "listing", "price"] and "finite" in r.json()["message"], r.text[:200])
    return f"{r.status_code}: {r.json()['message'][:60]}"


def future_sampled_date(rp: Replay) -> str:
    plan = rp.plan(budget=20000, seed=3)
    expect(bool(plan["targets"]), "a 20,000-yuan plan bought nothing")
    future = (date.today() + timedelta(days=30)).isoformat()
    body = {"results": [{"listing_id": plan["targets"][0]["listing_id"], "sampled_date": future, "verdict": "pass"}]}
    r = rp.call("POST", f"/v1/plans/{plan['plan_id']}/results", role="planner", json=body)
    expect(_loc(r) == ["body", "results", 0, "sampled_date"], r.text[:200])
    stored = rp.call("GET", f"/v1/plans/{plan['plan_id']}/results", role="planner").json()["results"]
    expect(stored == [], "the refused result was stored")
    return f"{r.status_code}, nothing stored"


def huge_budget(rp: Replay) -> str:
    t = time.perf_counter()
    r = rp.call("POST", "/v1/plans", role="planner", json={"budget": 1e10})
    took = time.perf_counter() - t
    expect(_loc(r) == ["body", "budget"], r.text[:200])
    expect(took < 10, f"refusing took {took:.1f} s")
    return f"{r.status_code} in {took:.2f} s"


def plan_list_is_fast(rp: Replay) -> str:
    t = time.perf_counter()
    r = rp.call("GET", "/v1/plans?limit=50", role="planner")
    took = time.perf_counter() - t
    expect(r.status_code == 200 and took < 2, f"{r.status_code} in {took:.1f} s")
    expect(all("targets" not in p for p in r.json()["plans"]), "the list carries targets")
    return f"{len(r.json()['plans'])} plans in {took * 1000:.0f} ms"


def idempotent_retry(rp: Replay) -> str:
    before = rp.call("GET", "/v1/plans", role="planner").json()["total"]
    key = {"Idempotency-Key": f"replay-{time.time_ns()}"}
    first = rp.call("POST", "/v1/plans", role="planner", json={"budget": 3000, "seed": 5}, headers=key)
    again = rp.call("POST", "/v1/plans", role="planner", json={"budget": 3000, "seed": 5}, headers=key)
    expect(first.status_code == 201 and again.status_code in (200, 201), f"{first.status_code}, {again.status_code}")
    expect(first.json()["plan_id"] == again.json()["plan_id"], "the retry made a second plan")
    after = rp.call("GET", "/v1/plans", role="planner").json()["total"]
    expect(after == before + 1, f"{after - before} plans stored for one idempotent request")
    return f"one plan, retry answered {again.status_code}"


def offline_docs(rp: Replay) -> str:
    html = rp.call("GET", "/docs").text
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    expect(not external, f"/docs loads {external}")
    local = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    expect(bool(local), "/docs references no asset")
    for path in local:
        expect(rp.call("GET", path).status_code == 200, f"{path} is not served")
    return f"{len(local)} local assets, none external"


def example_files(rp: Replay) -> str:
    import csv

    with (EXAMPLES / "endpoints.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["path"] == INGEST:
            continue  # last of all, in ingest_examples
        r = rp.call(row["method"], row["path"], role=row["role"], json=_example(row["file"]))
        expect(200 <= r.status_code < 300, f"{row['file']}: {r.status_code} {r.text[:200]}")
    return f"{sum(r['path'] != INGEST for r in rows)} example files answered 2xx"


def openapi_examples(rp: Replay) -> str:
    openapi = rp.call("GET", "/openapi.json").json()
    roles = {"scoring": "platform", "merchants": "platform", "plans": "planner", "ingest": "admin", "admin": "admin"}
    ops = sorted(
        ((p, op) for p, item in openapi["paths"].items() for m, op in item.items() if m == "post"),
        key=lambda po: "{plan_id}" in po[0],
    )
    plan: dict[str, Any] | None = None
    posted = 0
    for path, op in ops:
        spec = op.get("requestBody")
        if spec is None or path == INGEST:
            continue
        ref = spec["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        for example in openapi["components"]["schemas"][ref].get("examples", []):
            body, url = copy.deepcopy(example), path
            if "{plan_id}" in path:
                expect(plan is not None and bool(plan["targets"]), "no plan to record results on")
                assert plan is not None
                url = path.replace("{plan_id}", plan["plan_id"])
                for result in body["results"]:
                    result["listing_id"] = plan["targets"][0]["listing_id"]
            r = rp.call("POST", url, role=roles[op["tags"][0]], json=body)
            expect(200 <= r.status_code < 300, f"POST {path} example: {r.status_code} {r.text[:200]}")
            plan = r.json() if path == "/v1/plans" else plan
            posted += 1
    return f"{posted} OpenAPI examples answered 2xx"


def ingest_examples(rp: Replay) -> str:
    """Last: with CHOUJIAN_MARKET_SOURCE=auto (the default) a store that holds listings becomes the market plans
    draw from, so after this push a demo server plans from the pushed example alone."""
    openapi = rp.call("GET", "/openapi.json").json()
    ref = openapi["paths"][INGEST]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    bodies = [_example("ingest.json"), *openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]].get("examples", [])]
    for body in bodies:
        r = rp.call("POST", INGEST, role="ingest", json=body)
        expect(200 <= r.status_code < 300, f"ingest example: {r.status_code} {r.text[:200]}")
    return f"{len(bodies)} ingest examples answered 2xx"


CASES: list[tuple[str, Callable[[Replay], str]]] = [
    ("estimate of a plan with no purchase", no_purchase_estimate),
    ("a plan with few random draws is flagged", few_draws_flagged),
    ("a cookie forged for a public key id", forged_cookie),
    ("300 made-up HTTP methods", bogus_methods),
    ("plan seed 2^31 and 2^63", large_seed),
    ("NUL in a plan name", nul_in_plan_name),
    ("lone surrogate in listing_id", lone_surrogate_listing_id),
    ("sales 10^30, removals_elsewhere 10^25", huge_counts),
    ("NaN price", non_finite_price),
    ("future sampled_date through the API", future_sampled_date),
    ('{"budget": 1e10}', huge_budget),
    ("GET /v1/plans?limit=50", plan_list_is_fast),
    ("plan POST retried with an Idempotency-Key", idempotent_retry),
    ("/docs with no network", offline_docs),
    ("examples/*.json as the README posts them", example_files),
    ("OpenAPI request examples", openapi_examples),
    ("ingest examples (file and OpenAPI), last", ingest_examples),
]


def make_keys(client: httpx.Client, admin_key: str) -> dict[str, str]:
    keys = {"admin": admin_key}
    for role in ("planner", "platform", "ingest"):
        r = client.post(
            "/v1/admin/keys",
            json={"role": role, "name": "replay"},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        if r.status_code != 201:
            raise SystemExit(f"replay: could not create a {role} key: {r.status_code} {r.text[:200]}")
        keys[role] = r.json()["key"]
    return keys


def run(url: str, admin_key: str, *, out: Callable[[str], None] = print) -> list[tuple[str, bool, str]]:
    """Every case against the server at `url`; (case, held, what was answered) for each."""
    results: list[tuple[str, bool, str]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        rp = Replay(client, make_keys(client, admin_key))
        for name, case in CASES:
            try:
                held, said = True, case(rp)
            except (Failed, httpx.HTTPError, KeyError, ValueError) as e:
                held, said = False, f"{type(e).__name__}: {e}"
            results.append((name, held, said))
            out(f"{'ok  ' if held else 'FAIL'} {name}: {said}")
        server_errors = [s for s in rp.statuses if s[2] >= 500]
        out(f"{len(rp.statuses)} requests, {len(server_errors)} answered 5xx")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--admin-key", required=True, help="an admin key (choujian keys create --role admin)")
    args = ap.parse_args(argv)
    return sum(1 for _, held, _ in run(args.url, args.admin_key) if not held)


if __name__ == "__main__":
    sys.exit(main())
