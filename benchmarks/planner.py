"""Planner cost: design, draw and estimate vs a plain ranked list, on synthetic markets of growing size.

    .venv/bin/python benchmarks/planner.py                       # 5k, 50k, 200k candidates
    .venv/bin/python benchmarks/planner.py --sizes 2000 20000    # a quick run

The baseline, timed in the same run, is what a planner without honest estimation would do: sort by
expected failures per yuan and take the prefix that fits the budget. Reported per size: seconds for the
baseline, for `design_plan` (the bisection over exact worst cases and the greedy targets), for one
`draw`, for one `estimate`; the ratio of design to baseline; and the budget left unspent on average
(`budget - expected_total_cost`): what the random arm's worst case reserves and neither its draw nor the
top-up spends, the price of a budget that holds on every draw. Wall-clock numbers depend on the machine;
nothing gates on them.
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py would shadow the standard library's tokenize: take this folder off the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """Candidates with heavy-tailed costs and merchant-clustered risk, like the simulated markets."""
    rng = np.random.default_rng(seed)
    merchants = max(n // 8, 1)
    m = rng.integers(0, merchants, n)
    risk = rng.normal(0, 1, merchants)
    cats = np.array(["服装", "手机", "水果", "洗发水", "纸尿裤", "电热水壶", "家具", "牛奶"])
    return pd.DataFrame(
        {
            "listing_id": [f"L{i:07d}" for i in range(n)],
            "merchant_id": [f"M{x:06d}" for x in m],
            "category": cats[rng.integers(0, len(cats), merchants)][m],
            "cost": np.round(rng.lognormal(5.5, 1.0, n) + 450, 2),
            "p_fail": 1 / (1 + np.exp(-(-0.7 + risk[m] + rng.normal(0, 0.8, n)))),
        }
    )


def baseline(c: pd.DataFrame, budget: float) -> int:
    order = np.argsort(-(c["p_fail"] / c["cost"]).to_numpy(), kind="stable")
    spent = np.cumsum(c["cost"].to_numpy()[order])
    return int(np.searchsorted(spent, budget, side="right"))


def main() -> None:
    from sampling.estimation import estimate
    from sampling.planner import PlanConfig, design_plan

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000, 200_000])
    ap.add_argument("--epsilon", type=float, default=0.3)
    args = ap.parse_args()
    print(
        f"{'candidates':>10} {'baseline s':>10} {'design s':>9} {'draw s':>7} {'estimate s':>10} "
        f"{'design/base':>11} {'purchases':>9} {'unspent (mean)':>14}"
    )
    for n in args.sizes:
        c = synthetic(n)
        budget = float(c["cost"].mean() * n * 0.03)  # about 3% of the market
        t0 = time.perf_counter()
        baseline(c, budget)
        t_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        design = design_plan(c, PlanConfig(budget=budget, epsilon=args.epsilon, per_merchant_cap=2))
        t_design = time.perf_counter() - t0
        t0 = time.perf_counter()
        plan = design.draw(1)
        t_draw = time.perf_counter() - t0
        p = c.set_index("listing_id")["p_fail"]
        ids = plan.frame.loc[plan.frame["selected"], "listing_id"]
        rng = np.random.default_rng(0)
        out = pd.DataFrame({"listing_id": ids, "failed": rng.random(len(ids)) < p[ids].to_numpy()})
        t0 = time.perf_counter()
        estimate(plan, out)
        t_est = time.perf_counter() - t0
        s = plan.summary
        unspent = budget - s.expected_total_cost
        print(
            f"{n:>10,} {t_base:>10.4f} {t_design:>9.3f} {t_draw:>7.3f} {t_est:>10.3f} "
            f"{t_design / max(t_base, 1e-9):>10.0f}x {len(ids):>9,} {unspent / budget:>13.1%}"
        )


if __name__ == "__main__":
    main()
