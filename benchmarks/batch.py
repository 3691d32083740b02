"""Batch scoring throughput: the pandas engine vs Spark local, same market, same bundle, same machine.

    .venv/bin/python benchmarks/batch.py                      # 200k listings (the issue's size)
    .venv/bin/python benchmarks/batch.py --listings 20000     # a quick run

Simulates a market (not timed), trains the tiny test bundle on a small market of its own unless
`--model` names one, then scores the big market with the pandas engine and with Spark `local[CORES]`.
It prints listings/s for both and their ratio, each engine's phases, and a Spark run with a scorer
that does no work first (it warms the JVM up and measures the rest on its own: reading, checks,
join, the JVM<->Python Arrow transfer, validation). Spark's session start-up is reported apart. Both outputs
are compared, so a fast but wrong engine cannot win. See docs/spark.md for how to read the numbers.
"""

from __future__ import annotations

import os
import sys

# this folder is sys.path[0] when the script runs, and benchmarks/tokenize.py would shadow the
# standard library's tokenize (imported by logging): take the folder off the path first
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class NullScorer:
    """A RiskScorer that rebuilds nothing and scores nothing: zeros for every listing."""

    name = "null"
    version = "0"

    def score_frame(self, market: Any) -> pd.DataFrame:
        ids = market.listings["listing_id"].astype(str).to_numpy()
        cols = {f"p_{r}": np.zeros(len(ids)) for r in ("lab_fail", "counterfeit", "false_advertising")}
        return pd.DataFrame({"listing_id": ids, **cols, "p_merchant_complaint": np.zeros(len(ids))})

    def score_listings(self, market: Any, *, top_reasons: int = 3) -> list[Any]:
        raise NotImplementedError


def _simulate(n_listings: int, n_merchants: int, seed: int, out: Path) -> float:
    from training.simulator import simulate, write_simulation

    t = time.perf_counter()
    write_simulation(simulate(n_merchants, n_listings, seed=seed), out, fmt="parquet")
    return time.perf_counter() - t


def _scorer(model: str | None, work: Path, seed: int) -> tuple[Any, str]:
    if model:
        from models.registry import load_scorer

        return load_scorer(model), model
    from features.market import load_market
    from training.train import fit_bundle, load_config

    small = work / "train-market"
    _simulate(3000, 200, seed + 1, small)
    bundle = fit_bundle(load_market(small), load_config(ROOT / "configs" / "train-tiny.yaml")).bundle
    return bundle, "tiny bundle (configs/train-tiny.yaml) trained on a 3,000-listing simulated market"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=200_000)
    parser.add_argument("--merchants", type=int, default=None, help="default: listings / 25")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[CORES]")
    parser.add_argument("--partitions", type=int, default=None, help="Spark scoring tasks (default 2 x cores)")
    parser.add_argument("--market", type=Path, default=None, help="score this market instead of simulating")
    parser.add_argument("--model", default=None, help="alias, version or bundle folder (default: tiny bundle)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark import cloudpickle

    from training.batch import read_scores, score_pandas
    from training.batch.spark_engine import score_spark, spark_session

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # NullScorer, for Spark's workers
    with tempfile.TemporaryDirectory(prefix="choujian-bench-") as tmp:
        work = Path(tmp)
        market = args.market
        sim_s = None
        if market is None:
            market = work / "market"
            merchants = args.merchants or max(1, args.listings // 25)
            print(f"simulating {args.listings:,} listings / {merchants:,} merchants ...", flush=True)
            sim_s = _simulate(args.listings, merchants, args.seed, market)
        scorer, scorer_desc = _scorer(args.model, work, args.seed)
        print(f"scorer: {scorer_desc}", flush=True)

        print("pandas engine ...", flush=True)
        pandas_res = score_pandas(market, work / "pandas.parquet", scorer=scorer, progress=False)

        print(f"spark engine, local[{args.cores}] ...", flush=True)
        t = time.perf_counter()
        spark = spark_session(cores=args.cores, shuffle_partitions=args.partitions)
        spark_start = time.perf_counter() - t
        # first a run with a scorer that does nothing: it warms the JVM up (JIT, class loading) and
        # measures everything but the model: reading, checks, join, Arrow transfer, validation
        print("  warm-up run with a scorer that does nothing (overhead only) ...", flush=True)
        null_res = score_spark(
            market, work / "null.parquet", scorer=NullScorer(), spark=spark, partitions=args.partitions, progress=False
        )
        print("  run with the bundle ...", flush=True)
        spark_res = score_spark(
            market, work / "spark.parquet", scorer=scorer, spark=spark, partitions=args.partitions, progress=False
        )
        partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 0)
        spark.stop()

        a, b = read_scores(work / "pandas.parquet"), read_scores(work / "spark.parquet")
        same_ids = a["listing_id"].tolist() == b["listing_id"].tolist()
        max_diff = float((a.drop(columns="listing_id") - b.drop(columns="listing_id")).abs().to_numpy().max())

    n = pandas_res.n_listings
    results = {
        "listings": n,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}",
        "scorer": scorer_desc,
        "simulate_seconds": sim_s,
        "pandas": {
            "seconds": pandas_res.seconds,
            "listings_per_s": pandas_res.listings_per_second,
            "phases": pandas_res.phases,
        },
        "spark": {
            "master": f"local[{args.cores}]",
            "partitions": partitions,
            "session_start_seconds": spark_start,
            "seconds": spark_res.seconds,
            "listings_per_s": spark_res.listings_per_second,
            "phases": spark_res.phases,
        },
        "spark_null_scorer": {
            "seconds": null_res.seconds,
            "listings_per_s": null_res.listings_per_second,
            "phases": null_res.phases,
        },
        "ratio_spark_over_pandas": spark_res.listings_per_second / pandas_res.listings_per_second,
        "same_listing_ids": same_ids,
        "max_abs_score_difference": max_diff,
    }

    def phases(p: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in p.items())

    print()
    print(f"{n:,} listings; {results['machine']}")
    print(
        f"pandas         : {pandas_res.listings_per_second:9,.0f} listings/s  ({pandas_res.seconds:.1f} s: "
        f"{phases(pandas_res.phases)})"
    )
    print(
        f"spark local[{args.cores}] : {spark_res.listings_per_second:9,.0f} listings/s  ({spark_res.seconds:.1f} s: "
        f"{phases(spark_res.phases)}; +{spark_start:.1f} s session start, {partitions} partitions)"
    )
    print(
        f"spark, no model: {null_res.listings_per_second:9,.0f} listings/s  ({null_res.seconds:.1f} s: "
        f"{phases(null_res.phases)})"
    )
    print(f"ratio spark / pandas: {results['ratio_spark_over_pandas']:.2f}x")
    print(f"outputs: same listing ids {same_ids}, max |score difference| {max_diff:.2e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    if not same_ids or max_diff > 1e-9:
        sys.exit("the engines disagree")


if __name__ == "__main__":
    main()
