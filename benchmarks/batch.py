"""Batch scoring throughput: the pandas engine vs Spark local, same market, same bundle, same machine.

    .venv/bin/python benchmarks/batch.py --json                    # 200k listings (the issue's size)
    .venv/bin/python benchmarks/batch.py --listings 1000000 --json # catalogue scale
    .venv/bin/python benchmarks/batch.py --listings 20000          # a quick run

Simulates a market (not timed; kept under data/cache/ and reused, as the simulator is deterministic per
seed and size), trains the tiny test bundle on a small market of its own unless `--model` names one,
then scores the big market with the pandas engine and with Spark `local[CORES]`, back to back in this
process. Before the timed Spark run, a run with a scorer that does no work warms the JVM up and measures
Spark's overheads on their own (reading, checks, shuffle, the JVM<->Python Arrow transfer, validation).

Per core: the machine may be shared, so besides listings/s (wall clock) each engine's CPU seconds are
measured over this process and all its descendants (the Spark JVM, its Python daemon and workers), and
"listings per CPU-second" is the per-core throughput compared. Where time goes: each engine's phases,
the Spark workers' own timers (model load, waiting on the JVM, rebuilding and validating tables,
`score_frame`), and a split of `score_frame` into listing features and the rest on one sample chunk.
Both outputs are compared, so a fast but wrong engine cannot win. See docs/spark.md for the figures.
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
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


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


def tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and every live descendant (the Spark JVM, its Python
    daemon and workers), including what their finished and reaped children used."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:  # exited between listing and reading
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def measured(fn: Callable[[], T]) -> tuple[T, float]:
    """`fn()` and the CPU seconds it cost this process tree."""
    before = tree_cpu_seconds()
    out = fn()
    return out, tree_cpu_seconds() - before


def simulated_market(
    n_listings: int, n_merchants: int, seed: int, cache: Path | None, work: Path
) -> tuple[Path, float]:
    """A simulated market folder (reused from `cache` when there) and the seconds simulating took."""
    from training.simulator import simulate, write_simulation

    out = (cache or work) / f"bench-market-{n_listings}-{n_merchants}-s{seed}"
    if (out / "manifest.json").exists():
        print(f"reusing the simulated market {out}", flush=True)
        return out, 0.0
    print(f"simulating {n_listings:,} listings / {n_merchants:,} merchants -> {out} ...", flush=True)
    t = time.perf_counter()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_simulation(simulate(n_merchants, n_listings, seed=seed), tmp, fmt="parquet")
    tmp.rename(out)  # complete or absent, so a killed run is not reused
    return out, time.perf_counter() - t


def _scorer(model: str | None, work: Path, seed: int) -> tuple[Any, str]:
    if model:
        from models.registry import load_scorer

        return load_scorer(model), model
    from features.market import load_market
    from training.config import load_config
    from training.fit import fit_bundle
    from training.simulator import simulate, write_simulation

    small = work / "train-market"
    write_simulation(simulate(200, 3000, seed=seed + 1), small, fmt="parquet")
    bundle = fit_bundle(load_market(small), load_config(ROOT / "configs" / "train-tiny.yaml")).bundle
    return bundle, "tiny bundle (configs/train-tiny.yaml) trained on a 3,000-listing simulated market"


def table_sizes(market_dir: Path) -> dict[str, int]:
    """Rows per table, from Parquet footers (CSV tables are counted by reading them)."""
    import pyarrow.parquet as pq

    from training.batch.common import find_local_table

    sizes = {}
    for name in ("merchants", "listings", "reviews", "lab_results"):
        path = find_local_table(market_dir, name)
        if path is not None:
            sizes[name] = (
                pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else len(pd.read_csv(path))
            )
    return sizes


def score_frame_split(scorer: Any, market_dir: Path, listings: int) -> dict[str, float] | None:
    """Seconds of `score_frame` on the first merchants' `listings` listings, and of its listing features
    alone (the merchants' rows are read and validated on their own, not the whole market)."""
    if not hasattr(scorer, "listing_features"):
        return None
    from features.market import Market, validate_frame
    from training.batch.common import find_local_table

    raw = {}
    for name in ("merchants", "listings", "reviews", "lab_results"):
        path = find_local_table(market_dir, name)
        if path is not None:
            raw[name] = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    per_merchant = raw["listings"].groupby("merchant_id", sort=False).size().cumsum()
    merchants = set(per_merchant.index[: int((per_merchant < listings).sum()) + 1])
    keep = raw["listings"][raw["listings"]["merchant_id"].isin(merchants)]
    ids = set(keep["listing_id"])
    parts = {
        "merchants": raw["merchants"][raw["merchants"]["merchant_id"].isin(merchants)],
        "listings": keep,
        **{name: raw[name][raw[name]["listing_id"].isin(ids)] for name in ("reviews", "lab_results") if name in raw},
    }
    chunk = Market(**{n: validate_frame(df.reset_index(drop=True), n, source=n) for n, df in parts.items()})
    scorer.score_frame(chunk)  # warm: first-call costs (lazy imports, caches) are not per listing
    t = time.perf_counter()
    scorer.listing_features(chunk)
    features_s = time.perf_counter() - t
    t = time.perf_counter()
    scorer.score_frame(chunk)
    total_s = time.perf_counter() - t
    return {
        "listings": float(len(chunk.listings)),
        "score_frame_s": total_s,
        "listing_features_s": features_s,
        "features_share": features_s / total_s if total_s > 0 else float("nan"),
    }


def model_load_seconds(scorer: Any) -> float:
    """Seconds to unpickle the bundle: what each Spark Python worker pays once (and a process once)."""
    from pyspark import cloudpickle

    payload = cloudpickle.dumps(scorer)
    t = time.perf_counter()
    cloudpickle.loads(payload)
    return time.perf_counter() - t


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=200_000)
    parser.add_argument("--merchants", type=int, default=None, help="default: listings / 25")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[CORES]")
    parser.add_argument("--partitions", type=int, default=None, help="Spark scoring tasks (default 2 x cores)")
    parser.add_argument("--batch-size", type=int, default=20_000, help="Spark: listings per score_frame call")
    parser.add_argument("--driver-memory", default="2g", help="Spark local: driver (= executor) memory")
    parser.add_argument("--market", type=Path, default=None, help="score this market instead of simulating")
    parser.add_argument(
        "--cache", type=Path, default=ROOT / "data" / "cache", help="where simulated markets are kept (git-ignored)"
    )
    parser.add_argument("--no-cache", action="store_true", help="simulate into a temporary folder")
    parser.add_argument("--no-warmup", action="store_true", help="skip Spark's run with a scorer that does nothing")
    parser.add_argument("--model", default=None, help="alias, version or bundle folder (default: tiny bundle)")
    parser.add_argument("--json", action="store_true", help="print the results as a JSON object, last")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON results to this file")
    return parser.parse_args()


@dataclass
class _Runs:
    """What the two engines measured on one market, before any ratio."""

    sizes: dict[str, int]
    sim_s: float | None
    scorer_desc: str
    split: dict[str, float] | None
    load_s: float
    pandas_res: Any
    pandas_cpu: float
    pandas_rss_mb: float
    spark_start: float
    null_res: Any
    null_cpu: float | None
    spark_res: Any
    spark_cpu: float
    partitions: int
    spark_conf: dict[str, Any]
    same_ids: bool
    max_diff: float


def _spark_runs(args: argparse.Namespace, market: Path, scorer: Any, work: Path) -> tuple[Any, ...]:
    """Spark local[cores]: session start, the warm-up run with a scorer that does nothing (unless --no-warmup),
    the run with the bundle, and the session's settings."""
    from training.batch.spark_engine import score_spark, spark_session

    print(f"spark engine, local[{args.cores}] ...", flush=True)
    t = time.perf_counter()
    spark = spark_session(cores=args.cores, shuffle_partitions=args.partitions, driver_memory=args.driver_memory)
    spark_start = time.perf_counter() - t
    null_res, null_cpu = None, None
    if not args.no_warmup:
        # a scorer that does nothing warms the JVM up (JIT, class loading) and measures everything
        # but the model: reading, checks, shuffle, Arrow transfer, validation
        print("  warm-up run with a scorer that does nothing (overhead only) ...", flush=True)
        null_res, null_cpu = measured(
            lambda: score_spark(
                market,
                work / "null.parquet",
                scorer=NullScorer(),
                spark=spark,
                partitions=args.partitions,
                batch_size=args.batch_size,
                progress=False,
            )
        )
    print("  run with the bundle ...", flush=True)
    spark_res, spark_cpu = measured(
        lambda: score_spark(
            market,
            work / "spark.parquet",
            scorer=scorer,
            spark=spark,
            partitions=args.partitions,
            batch_size=args.batch_size,
            progress=False,
        )
    )
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 0)
    spark_conf = {
        k: spark.sparkContext.getConf().get(k)
        for k in ("spark.master", "spark.driver.memory", "spark.python.worker.reuse")
    }
    spark.stop()
    return spark_start, null_res, null_cpu, spark_res, spark_cpu, partitions, spark_conf


def _run_engines(args: argparse.Namespace) -> _Runs:
    """Simulate (or read) the market, score it with the pandas engine, then with Spark (a warm-up run with a
    scorer that does nothing, then the bundle), and compare the two outputs."""
    from training.batch.spark_engine import SparkUnavailableError, require_pyspark

    try:
        require_pyspark()
    except SparkUnavailableError as e:
        sys.exit(str(e))
    from pyspark import cloudpickle

    from training.batch import read_scores, score_pandas

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # NullScorer, for Spark's workers
    with tempfile.TemporaryDirectory(prefix="choujian-bench-") as tmp:
        work = Path(tmp)
        market, sim_s = args.market, None
        if market is None:
            merchants = args.merchants or max(1, args.listings // 25)
            cache = None if args.no_cache else args.cache
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
            market, sim_s = simulated_market(args.listings, merchants, args.seed, cache, work)
        scorer, scorer_desc = _scorer(args.model, work, args.seed)
        print(f"scorer: {scorer_desc}", flush=True)
        sizes = table_sizes(market)
        split = score_frame_split(scorer, market, args.batch_size)
        load_s = model_load_seconds(scorer)

        print("pandas engine ...", flush=True)
        pandas_res, pandas_cpu = measured(
            lambda: score_pandas(market, work / "pandas.parquet", scorer=scorer, progress=False)
        )
        pandas_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        spark_start, null_res, null_cpu, spark_res, spark_cpu, partitions, spark_conf = _spark_runs(
            args, market, scorer, work
        )

        a, b = read_scores(work / "pandas.parquet"), read_scores(work / "spark.parquet")
        same_ids = a["listing_id"].tolist() == b["listing_id"].tolist()
        max_diff = float((a.drop(columns="listing_id") - b.drop(columns="listing_id")).abs().to_numpy().max())
    return _Runs(
        sizes=sizes,
        sim_s=sim_s,
        scorer_desc=scorer_desc,
        split=split,
        load_s=load_s,
        pandas_res=pandas_res,
        pandas_cpu=pandas_cpu,
        pandas_rss_mb=pandas_rss_mb,
        spark_start=spark_start,
        null_res=null_res,
        null_cpu=null_cpu,
        spark_res=spark_res,
        spark_cpu=spark_cpu,
        partitions=partitions,
        spark_conf=spark_conf,
        same_ids=same_ids,
        max_diff=max_diff,
    )


def _results(args: argparse.Namespace, r: _Runs) -> dict[str, Any]:
    n = r.pandas_res.n_listings
    pandas_lps, spark_lps = r.pandas_res.listings_per_second, r.spark_res.listings_per_second
    pandas_per_cpu, spark_per_cpu = n / r.pandas_cpu, n / r.spark_cpu
    return {
        "listings": n,
        "sizes": r.sizes,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}",
        "scorer": r.scorer_desc,
        "simulate_seconds": r.sim_s,
        "pandas_listings_per_s": pandas_lps,
        "spark_listings_per_s": spark_lps,
        "ratio_spark_over_pandas": spark_lps / pandas_lps,
        # per core: listings per CPU-second each engine actually used (robust to a shared machine)
        "pandas_listings_per_cpu_s": pandas_per_cpu,
        "spark_listings_per_cpu_s": spark_per_cpu,
        "ratio_per_core_spark_over_pandas": spark_per_cpu / pandas_per_cpu,
        # per core, nominal: listings/s over the cores each was given (pandas: 1 process; spark: local[N])
        "pandas_listings_per_s_per_core": pandas_lps,
        "spark_listings_per_s_per_core": spark_lps / args.cores,
        "ratio_nominal_per_core_spark_over_pandas": spark_lps / args.cores / pandas_lps,
        "pandas": {
            "seconds": r.pandas_res.seconds,
            "cpu_seconds": r.pandas_cpu,
            "cores_used": r.pandas_cpu / r.pandas_res.seconds,
            "peak_rss_mb": r.pandas_rss_mb,
            "phases": r.pandas_res.phases,
        },
        "spark": {
            "master": f"local[{args.cores}]",
            "partitions": r.partitions,
            "batch_size": args.batch_size,
            "conf": r.spark_conf,
            "session_start_seconds": r.spark_start,
            "seconds": r.spark_res.seconds,
            "cpu_seconds": r.spark_cpu,
            "cores_used": r.spark_cpu / r.spark_res.seconds,
            "phases": r.spark_res.phases,
            "worker_seconds": r.spark_res.worker_seconds,
        },
        "spark_null_scorer": None
        if r.null_res is None or r.null_cpu is None
        else {
            "seconds": r.null_res.seconds,
            "cpu_seconds": r.null_cpu,
            "listings_per_s": r.null_res.listings_per_second,
            "phases": r.null_res.phases,
            "worker_seconds": r.null_res.worker_seconds,
        },
        "model_load_seconds": r.load_s,
        "score_frame_split": r.split,
        "same_listing_ids": r.same_ids,
        "max_abs_score_difference": r.max_diff,
    }


def _print_report(args: argparse.Namespace, r: _Runs, results: dict[str, Any]) -> None:
    n = r.pandas_res.n_listings
    pandas_lps, spark_lps = results["pandas_listings_per_s"], results["spark_listings_per_s"]
    pandas_per_cpu, spark_per_cpu = results["pandas_listings_per_cpu_s"], results["spark_listings_per_cpu_s"]

    def fmt(p: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in p.items())

    print()
    print(f"{n:,} listings, {r.sizes.get('reviews', 0):,} reviews; {results['machine']}")
    print(
        f"pandas          : {pandas_lps:9,.0f} listings/s  {pandas_per_cpu:7,.0f} per CPU-s  "
        f"({r.pandas_res.seconds:.1f} s, {r.pandas_cpu:.1f} CPU-s: {fmt(r.pandas_res.phases)})"
    )
    print(
        f"spark local[{args.cores}]  : {spark_lps:9,.0f} listings/s  {spark_per_cpu:7,.0f} per CPU-s  "
        f"({r.spark_res.seconds:.1f} s, {r.spark_cpu:.1f} CPU-s: {fmt(r.spark_res.phases)}; "
        f"+{r.spark_start:.1f} s session start, {r.partitions} partitions)"
    )
    print(f"  spark workers (summed): {fmt(r.spark_res.worker_seconds)}")
    if r.null_res is not None and r.null_cpu is not None:
        print(
            f"spark, no model : {r.null_res.listings_per_second:9,.0f} listings/s  {n / r.null_cpu:7,.0f} per CPU-s  "
            f"({r.null_res.seconds:.1f} s, {r.null_cpu:.1f} CPU-s: {fmt(r.null_res.phases)})"
        )
    if r.split:
        print(
            f"score_frame on {r.split['listings']:,.0f} listings: {r.split['score_frame_s']:.1f} s, of which listing "
            f"features {r.split['listing_features_s']:.1f} s ({r.split['features_share']:.0%}); "
            f"bundle unpickle {r.load_s:.2f} s"
        )
    print(
        f"ratio spark / pandas: {results['ratio_spark_over_pandas']:.2f}x wall, "
        f"{results['ratio_per_core_spark_over_pandas']:.2f}x per CPU-second, "
        f"{results['ratio_nominal_per_core_spark_over_pandas']:.2f}x per nominal core"
    )
    print(f"outputs: same listing ids {r.same_ids}, max |score difference| {r.max_diff:.2e}")


def main() -> None:
    args = _parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    runs = _run_engines(args)
    results = _results(args, runs)
    _print_report(args, runs, results)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results))
    if not runs.same_ids or runs.max_diff > 1e-9:
        sys.exit("the engines disagree")


if __name__ == "__main__":
    main()
