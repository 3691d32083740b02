"""Serving benchmark: HTTP over loopback vs the same scoring in-process.

Starts `uvicorn serving.app:create_app` in a subprocess on 127.0.0.1 (a free port), drives it from this
process with httpx for a bounded number of requests, and prints p50/p99 latency and requests/s for
single-listing scoring and for 1,000-listing batches, next to the same scoring done in-process (the
service function the route calls, on already-parsed records). The ratio is the HTTP overhead: JSON
parsing and validation, the key check, serialisation and the loopback round trip.

    .venv/bin/python benchmarks/serve.py                       # registry champion, data/market
    .venv/bin/python benchmarks/serve.py --model PATH --market DIR --singles 300 --batches 5
    .venv/bin/python benchmarks/serve.py --train-tiny          # no registry: fit the tiny bundle first

Nothing here asserts on time; it prints what it measured.
"""

from __future__ import annotations

import sys

# `python benchmarks/serve.py` puts this folder first on sys.path, where benchmarks/tokenize.py would
# shadow the standard library's tokenize (imported by logging); run as if from the project root
sys.path[:] = [p for p in sys.path if p.rstrip("/").split("/")[-1] != "benchmarks"]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from features.market import to_json_records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("benchmarks.serve")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(market: Any, ids: list[str]) -> dict[str, Any]:
    lst = market.listings[market.listings["listing_id"].isin(ids)]
    return {
        "listings": to_json_records(lst),
        "merchants": to_json_records(market.merchants[market.merchants["merchant_id"].isin(set(lst["merchant_id"]))]),
        "reviews": to_json_records(market.reviews[market.reviews["listing_id"].isin(set(ids))]),
    }


def _stats(seconds: list[float], n_listings: int) -> dict[str, float]:
    qs = statistics.quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else seconds * 99
    total = sum(seconds)
    return {
        "n": len(seconds),
        "p50_ms": 1000 * statistics.median(seconds),
        "p99_ms": 1000 * qs[98],
        "req_per_s": len(seconds) / total,
        "listings_per_s": n_listings * len(seconds) / total,
    }


def _time(fn: Callable[[], Any], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _prepare_model(args: argparse.Namespace, work: Path) -> str:
    if args.model:
        return str(args.model)
    if args.train_tiny:
        from features.market import load_market
        from training.train import fit_bundle, load_config

        logger.info("fitting the tiny bundle on %s", args.market)
        bundle = fit_bundle(load_market(args.market), load_config(ROOT / "configs" / "train-tiny.yaml")).bundle
        return str(bundle.save(work / "bundle"))
    return "champion"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--market", type=Path, default=ROOT / "data" / "market", help="market directory to draw records from"
    )
    p.add_argument("--model", help="alias, version, models:/ URI or local bundle folder (default: champion)")
    p.add_argument("--train-tiny", action="store_true", help="fit configs/train-tiny.yaml on --market and serve that")
    p.add_argument("--singles", type=int, default=200, help="single-listing requests to time")
    p.add_argument("--batches", type=int, default=5, help="1,000-listing batch requests to time")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--json", dest="as_json", action="store_true", help="also print the results as one JSON line")
    args = p.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )

    from features.market import load_market
    from features.records import Listing, Merchant, Review
    from serving import store
    from serving.db import make_engine, make_sessionmaker
    from serving.runtime import registry_loader
    from serving.service import score_records
    from serving.settings import Settings

    market = load_market(args.market)
    work = Path(tempfile.mkdtemp(prefix="choujian-bench-"))
    model_ref = _prepare_model(args, work)
    db_url = f"sqlite:///{work / 'bench.db'}"
    env = {
        **os.environ,
        "CHOUJIAN_DATABASE_URL": db_url,
        "CHOUJIAN_MARKET_DIR": str(args.market),
        "CHOUJIAN_WARM_MARKET_ON_START": "false",
        "CHOUJIAN_ENVIRONMENT": "development",
    }
    settings_kw: dict[str, Any] = {"database_url": db_url, "market_dir": args.market}
    if model_ref != "champion":
        env["CHOUJIAN_MODEL_URI"] = model_ref
        settings_kw["model_uri"] = model_ref
    settings = Settings(**settings_kw)

    engine = make_engine(db_url)
    store.upgrade(engine)
    with make_sessionmaker(engine)() as s:
        key = store.create_key(s, role="platform", name="benchmark")[1]
    engine.dispose()

    # records: single listings with their merchant and reviews, a different listing for every request (the
    # service memoises review scores, so repeating listings would time the memo); batches of whole merchants
    n_single = min(len(market.listings), args.singles + 2)  # + the two warm-up requests
    rng_ids = market.listings["listing_id"].sample(n=n_single, random_state=0).astype(str)
    singles = []
    for lid in rng_ids:
        b = _body(market, [lid])
        singles.append({"listing": b["listings"][0], "merchant": b["merchants"][0], "reviews": b["reviews"]})
    batch_ids: list[str] = []
    for _, ids in market.listings.groupby("merchant_id", sort=False)["listing_id"]:
        if len(batch_ids) + len(ids) > args.batch_size:
            break
        batch_ids.extend(ids.astype(str))
    batch = _body(market, batch_ids)

    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}"}) as client:
            t0 = time.perf_counter()
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.perf_counter() - t0 > 300:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.5)
            logger.info("server ready on %s in %.1f s", base, time.perf_counter() - t0)
            info = client.get("/v1/model").json()

            i = iter(range(10**9))

            def http_single() -> None:
                r = client.post("/v1/score/listing", json=singles[next(i) % len(singles)])
                r.raise_for_status()

            def http_batch() -> None:
                r = client.post("/v1/score/batch", json=batch)
                r.raise_for_status()

            h_single = _stats(_time(http_single, args.singles), 1)
            h_batch = _stats(_time(http_batch, args.batches, warmup=1), len(batch["listings"]))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    # in-process: the same service function the route calls, on records already parsed
    model = registry_loader(settings)()
    parsed_singles = [
        ([Merchant(**b["merchant"])], [Listing(**b["listing"])], [Review(**r) for r in b["reviews"]]) for b in singles
    ]
    parsed_batch = (
        [Merchant(**m) for m in batch["merchants"]],
        [Listing(**x) for x in batch["listings"]],
        [Review(**r) for r in batch["reviews"]],
    )
    j = iter(range(10**9))

    def local_single() -> None:
        m, li, rv = parsed_singles[next(j) % len(parsed_singles)]
        score_records(model, settings, merchants=m, listings=li, reviews=rv)

    def local_batch() -> None:
        m, li, rv = parsed_batch
        score_records(model, settings, merchants=m, listings=li, reviews=rv)

    l_single = _stats(_time(local_single, args.singles), 1)
    l_batch = _stats(_time(local_batch, args.batches, warmup=1), len(batch["listings"]))

    print(f"\nmodel {info['name']} version {info['version']} ({info['source']}); market {args.market}")
    n_reviews = [len(b["reviews"]) for b in singles]
    print(
        f"{os.cpu_count()} CPU(s); {args.singles} single requests (each a listing not sent before, "
        f"{statistics.mean(n_reviews):.1f} reviews on average, at most {max(n_reviews)}), "
        f"{args.batches} batches of {len(batch['listings'])}"
    )
    head = f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'listings/s':>12}"
    print(head)
    for name, st in (
        ("single  HTTP", h_single),
        ("single  in-process", l_single),
        ("batch   HTTP", h_batch),
        ("batch   in-process", l_batch),
    ):
        print(
            f"{name:28}{st['p50_ms']:>10.1f}{st['p99_ms']:>10.1f}{st['req_per_s']:>10.1f}{st['listings_per_s']:>12.0f}"
        )
    print(
        f"HTTP / in-process, p50: single {h_single['p50_ms'] / l_single['p50_ms']:.2f}x, "
        f"batch {h_batch['p50_ms'] / l_batch['p50_ms']:.2f}x; batch throughput ratio "
        f"{l_batch['listings_per_s'] / h_batch['listings_per_s']:.2f}x (in-process / HTTP)"
    )
    if args.as_json:
        print(
            json.dumps(
                {"single_http": h_single, "single_local": l_single, "batch_http": h_batch, "batch_local": l_batch}
            )
        )


if __name__ == "__main__":
    main()
