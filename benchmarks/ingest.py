"""Market store at scale: ingest a simulated market, re-ingest it, draw a plan from the store, check applicants.

    .venv/bin/python benchmarks/ingest.py                                     # 20k listings, SQLite
    .venv/bin/python benchmarks/ingest.py --listings 1000000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test      # the issue's run
    .venv/bin/python benchmarks/ingest.py --json                              # a JSON object last

A PostgreSQL URL gets a private schema for the run (dropped at the end unless --keep). Reported: rows/s per
table and in total for the first ingest (everything new) and the second (the same files: everything
unchanged, nothing written), against a baseline timed in the same run: writing the same tables as Parquet
(`Market.write`). Then the store-backed planner's path: reading the market back from the store, and one
plan's design and draw over every listing (the simulator's true failure probabilities stand in for a model's
scores, so no training is needed at this size); and the onboarding check (`POST /v1/merchants/check`'s
function) for applicants re-using a known shop's phone and for strangers. Nothing gates on these numbers.
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py would shadow the standard library's tokenize: take this folder off the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def _store_url(url: str | None, work: Path) -> tuple[str, Any]:
    """The URL to ingest into and a clean-up callable: a private schema on PostgreSQL, a file for SQLite."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url is None:
        return f"sqlite:///{work / 'store.db'}", lambda: None
    if not url.startswith("postgresql"):
        return url, lambda: None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    private = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return private.render_as_string(hide_password=False), drop


def _ingest(sessions: Any, frames: Any) -> tuple[Any, float]:
    from serving import market_store

    t0 = time.perf_counter()
    with sessions() as s:
        report = market_store.ingest(s, frames, source="cli", actor="benchmark")
        s.commit()
    return report, time.perf_counter() - t0


def _rates(report: Any, seconds: float) -> dict[str, Any]:
    tables = {
        name: {
            "rows": c.rows,
            "inserted": c.inserted,
            "unchanged": c.unchanged,
            "seconds": round(c.seconds, 3),
            "rows_per_s": round(c.rows / c.seconds) if c.seconds else None,
        }
        for name, c in report.counts.items()
        if c.rows
    }
    total = sum(t["rows"] for t in tables.values())
    return {"tables": tables, "rows": total, "seconds": round(seconds, 2), "rows_per_s": round(total / seconds)}


def _plan_from_store(sessions: Any, sim: Any, *, budget: float) -> dict[str, Any]:
    """The store-backed planner's path: the market read back from the store, then one plan's design and draw
    over every listing (the simulator's true failure probabilities stand in for a model's scores)."""
    from core import reference
    from sampling.candidates import LabFees, draw_plan, plan_candidates
    from sampling.planner import PlanConfig
    from serving import market_store

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    with sessions() as s:
        stored = market_store.read_market(s, with_recorded=False).market
    out["read_market_s"] = round(time.perf_counter() - t0, 2)
    scores = sim.truth_listings[["listing_id", "p_fail"]]
    t0 = time.perf_counter()
    cands = plan_candidates(
        stored.listings,
        stored.merchants,
        scores,
        lab_fees=LabFees(reference.lab_fees()),
        lab_results=stored.lab_results,
    )
    plan = draw_plan(cands, PlanConfig(budget=budget, epsilon=0.2, seed=1, plan_id="bench"))
    out["plan_draw_s"] = round(time.perf_counter() - t0, 2)
    out["plan_targets"] = n_targets = len(plan.selected())
    print(
        f"store → market {out['read_market_s']} s; plan over {len(cands.frame):,} candidates "
        f"({n_targets} purchases) {out['plan_draw_s']} s",
        file=sys.stderr,
    )
    return out


def _time_checks(sessions: Any, market: Any, *, n: int) -> dict[str, Any]:
    """`n` onboarding checks, alternately an applicant re-using a known shop's phone and a stranger (nothing is
    committed): median and slowest milliseconds of each kind, and the decisions."""
    import numpy as np

    from serving import identities
    from serving.schemas import MerchantCheckRequest

    rng = np.random.default_rng(0)
    known = market.merchants.dropna(subset=["phone"]).reset_index(drop=True)
    times: dict[str, list[float]] = {"known_phone": [], "stranger": []}
    decisions: dict[str, int] = {}
    with sessions() as s:
        for i in range(n):
            if i % 2 == 0 and len(known):
                m = known.iloc[int(rng.integers(len(known)))]
                body = MerchantCheckRequest(platform="拼多多", shop_name=f"新店{i:05d}号铺", phone=m["phone"])
                kind = "known_phone"
            else:
                body = MerchantCheckRequest(platform="拼多多", shop_name=f"陌生店铺{i:05d}", phone=f"139{i:08d}")
                kind = "stranger"
            t0 = time.perf_counter()
            res = identities.check_application(s, body, refuse_at_lab_failures=3)
            times[kind].append(time.perf_counter() - t0)
            decisions[res.decision.value] = decisions.get(res.decision.value, 0) + 1
        s.rollback()
    out: dict[str, Any] = {
        "merchant_check_ms": {
            k: {"median": round(1000 * statistics.median(v), 2), "max": round(1000 * max(v), 2)}
            for k, v in times.items()
            if v
        },
        "merchant_check_decisions": decisions,
    }
    print(f"merchant check (ms): {out['merchant_check_ms']}; decisions {decisions}", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listings", type=int, default=20_000)
    ap.add_argument("--merchants", type=int, default=None, help="default: one per 25 listings")
    ap.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget", type=float, default=200_000, help="the plan's budget (yuan)")
    ap.add_argument("--checks", type=int, default=200, help="onboarding checks to time")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object last")
    args = ap.parse_args()

    from features.market import load_removals
    from serving import market_store, store
    from serving.db import make_engine, make_sessionmaker
    from training.simulator import simulate

    n_merchants = args.merchants or max(args.listings // 25, 10)
    out: dict[str, Any] = {"listings": args.listings, "merchants": n_merchants}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        sim = simulate(n_merchants, args.listings, seed=args.seed)
        out["simulate_s"] = round(time.perf_counter() - t0, 1)
        market = sim.market
        t0 = time.perf_counter()
        market.write(work / "market")
        out["baseline_parquet_write_s"] = round(time.perf_counter() - t0, 2)
        frames = market_store.MarketFrames.of(market, load_removals(work / "market"))
        rows = sum(len(df) for df in market.tables().values())
        print(
            f"simulated {n_merchants:,} merchants, {args.listings:,} listings, {rows:,} rows in "
            f"{out['simulate_s']} s; baseline: Parquet write {out['baseline_parquet_write_s']} s",
            file=sys.stderr,
        )

        url, drop = _store_url(args.database_url, work)
        engine = make_engine(url)
        try:
            store.upgrade(engine)
            sessions = make_sessionmaker(engine)
            for label in ("first", "second"):
                report, seconds = _ingest(sessions, frames)
                out[f"ingest_{label}"] = r = _rates(report, seconds)
                ratio = seconds / max(out["baseline_parquet_write_s"], 1e-9)
                print(
                    f"ingest ({label}): {r['rows']:,} rows in {seconds:.1f} s = {r['rows_per_s']:,} rows/s "
                    f"({ratio:.1f}x the Parquet write); revision {report.revision}",
                    file=sys.stderr,
                )
                for name, t in r["tables"].items():
                    print(f"  {name:12s} {t['rows']:>10,} rows {t['rows_per_s'] or 0:>10,} rows/s", file=sys.stderr)

            out.update(_plan_from_store(sessions, sim, budget=args.budget))
            out.update(_time_checks(sessions, market, n=args.checks))
        finally:
            engine.dispose()
            if not args.keep:
                drop()
    if args.json:
        print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
