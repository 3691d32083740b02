"""In-process batch scoring: `score-batch`'s scoring of a loaded market, by worker count, review store warm and cold.

    .venv/bin/python benchmarks/score_batch.py --json                        # demo market, champion
    .venv/bin/python benchmarks/score_batch.py --model BUNDLE --market DIR --runs 3

What `choujian score-batch` does after it has read and validated the files (`training.batch.score_market`:
chunks of whole merchants in forked worker processes; features, the four listing models, the merchant model
and the review model included), timed on its own, with loading and validation timed apart. Every run is a
fresh process (so no run inherits another's in-memory review scores), in turn:

- ``warm``: the review score store on (the batch commands' default), as after `make demo` filled it;
- ``cold``: no store and an empty memo: every distinct review text goes through the review model.

The baseline of every ratio is one worker, warm, in the same invocation. Nothing asserts on time.
"""

from __future__ import annotations

import os
import sys

# this folder is sys.path[0] when the script runs, and benchmarks/tokenize.py would shadow the standard
# library's tokenize (imported by logging): take the folder off the path first
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _one(market_dir: Path, model: str, workers: int, cache: str) -> dict[str, float]:
    """One timed run in this process: load + validate, then the scoring alone."""
    from cli.common import load_scorer_or_fail
    from features.market import load_market
    from models.review_cache import use_default_score_store, use_score_store
    from training.batch.pandas_engine import score_market

    t = time.perf_counter()
    market = load_market(market_dir)
    load_s = time.perf_counter() - t
    scorer = load_scorer_or_fail(model)  # a bundle folder, an alias, a version or a models:/ URI
    if cache == "warm":
        use_default_score_store()
    else:
        use_score_store(None)
    t = time.perf_counter()
    scores = score_market(scorer, market, workers=workers)
    score_s = time.perf_counter() - t
    n = len(market.listings)
    assert len(scores) == n
    return {"listings": n, "load_validate_s": load_s, "score_s": score_s, "listings_per_s": n / score_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--market", type=Path, default=ROOT / "data" / "market")
    p.add_argument("--model", default="champion", help="alias, version, models:/ URI or bundle folder")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    p.add_argument("--runs", type=int, default=2, help="runs of each configuration (median reported)")
    p.add_argument("--cold", action=argparse.BooleanOptionalAction, default=True, help="also time a cold store")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object, last")
    p.add_argument("--one", nargs=2, metavar=("WORKERS", "CACHE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(_one(args.market, args.model, int(args.one[0]), args.one[1])))
        return
    configs = [(w, "warm") for w in args.workers] + ([(w, "cold") for w in args.workers] if args.cold else [])
    runs: dict[str, list[dict[str, float]]] = {f"w{w}_{c}": [] for w, c in configs}
    for _ in range(args.runs):  # configurations interleaved, so a drifting machine affects them alike
        for w, c in configs:
            cmd = [sys.executable, __file__, "--market", str(args.market), "--model", args.model, "--one", str(w), c]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            runs[f"w{w}_{c}"].append(json.loads(out.strip().splitlines()[-1]))
    med = {k: statistics.median(r["listings_per_s"] for r in v) for k, v in runs.items()}
    base = med[f"w{args.workers[0]}_warm"]
    load = statistics.median(r["load_validate_s"] for v in runs.values() for r in v)
    n = next(iter(runs.values()))[0]["listings"]
    print(f"{n:,} listings; load + validate {load:.1f} s (median, not in the rates below)")
    for k, v in med.items():
        print(f"  {k:10s} {v:8,.0f} listings/s   {v / base:5.2f}x the {args.workers[0]}-worker warm rate")
    if args.json:
        result = {"listings": n, "load_validate_s": round(load, 2), "runs": args.runs, "cpus": os.cpu_count()}
        result.update({f"{k}_listings_per_s": round(v, 1) for k, v in med.items()})
        print(json.dumps(result))


if __name__ == "__main__":
    main()
