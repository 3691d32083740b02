"""Serving benchmark: scoring over HTTP against the same server's `/healthz`, and in-process.

Starts `choujian serve --workers W` on 127.0.0.1 (a free port) with the model and market given, then:

1. single-listing scoring with 1 client and with 16 concurrent clients, and `/healthz` with 16 clients
   (the HTTP stack's own ceiling on this machine: the baseline the scoring rate is a ratio against),
   driven by `wrk` from another process when it is installed (`apt-get install wrk`), else by a small
   asyncio client in a subprocess (which costs more CPU itself, so the ratio reads lower);
   every request is a listing not sent before in that run (the service memoises review scores);
2. 1,000-listing batches over HTTP against the same scoring in-process (the service function the route
   calls, on records already parsed): HTTP's cost on a batch;
3. resident memory of the server's processes (each worker, and the parent that loaded the model);
4. `/healthz` with 16 clients while a freshly started server scores the market (skip with `--no-warm`): with
   one worker that happens while it serves; with several, the parent scores it before it forks them, and
   this measures the server once it answers (`warm_ready_s` says after how long);
5. with `--plan-budget`, single-listing scoring while a plan of that budget is drawn.

    .venv/bin/python benchmarks/serve.py                          # registry champion, data/market, 2 workers
    .venv/bin/python benchmarks/serve.py --workers 1 --duration 10 --json
    .venv/bin/python benchmarks/serve.py --train-tiny             # no registry: fit the tiny bundle first
    .venv/bin/python benchmarks/serve.py --plan-budget 1900000    # scoring while the largest plan is drawn
    .venv/bin/python benchmarks/serve.py --model BUNDLE --inprocess-only --json   # in-process only: no server

`--json` prints, last, one JSON object: healthz_rps_c16, score_rps_c16, score_p50_ms_c16,
score_p99_ms_c16, score_p50_ms_c1, score_p99_ms_c1, inprocess_p50_ms, inprocess_cpu_ms (CPU time a single
listing, which neighbours on a shared machine inflate less than wall time), rss_mb (largest process),
batch_http_listings_per_s, batch_inprocess_listings_per_s, warm_healthz_rps_c16 and the settings; with
`--inprocess-only`, the in-process keys alone.
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
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
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


def _single_bodies(market: Any, n: int) -> list[dict[str, Any]]:
    """`n` single-listing bodies, each a different listing with its merchant and reviews."""
    listings = market.listings.sample(n=min(n, len(market.listings)), random_state=0)
    merchants = {r["merchant_id"]: r for r in to_json_records(market.merchants)}
    wanted = set(listings["listing_id"].astype(str))
    reviews: dict[str, list[dict[str, Any]]] = {}
    rv = market.reviews[market.reviews["listing_id"].astype(str).isin(wanted)]
    for r in to_json_records(rv):
        reviews.setdefault(str(r["listing_id"]), []).append(r)
    return [
        {"listing": row, "merchant": merchants[row["merchant_id"]], "reviews": reviews.get(str(row["listing_id"]), [])}
        for row in to_json_records(listings)
    ]


def _batch_body(market: Any, size: int) -> dict[str, Any]:
    ids: list[str] = []
    for _, group in market.listings.groupby("merchant_id", sort=False)["listing_id"]:
        if len(ids) + len(group) > size:
            break
        ids.extend(group.astype(str))
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


# --- load generators ---------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _wrk(url: str, path: str, *, bodies: list[str] | None, key: str, clients: int, duration: float) -> dict[str, float]:
    """Drive `path` with wrk (one thread, `clients` connections); POST `bodies` in turn when given."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as fh:
        if bodies is not None:
            fh.write("local bodies = {\n")
            fh.write(",\n".join("[==[" + b + "]==]" for b in bodies))
            fh.write("\n}\nlocal i = 0\n")
            fh.write(
                "request = function()\n  i = i + 1\n"
                f'  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json", '
                f'["Authorization"] = "Bearer {key}"}}, bodies[(i % #bodies) + 1])\nend\n'
            )
        script = fh.name
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--latency", "-s", script, url + path]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(script)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, flags=re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad or errors or "50" not in lat or "99" not in lat:
        raise SystemExit(f"wrk saw failed requests on {path}, or printed no latencies:\n{out}")
    return {"rps": rps, "p50_ms": _wrk_ms(lat["50"]), "p99_ms": _wrk_ms(lat["99"])}


def _python_load(
    url: str, path: str, *, bodies: list[str] | None, key: str, clients: int, duration: float
) -> dict[str, float]:
    """The same with an asyncio httpx client in this process (no wrk): it costs CPU of its own."""
    import asyncio

    async def run() -> list[float]:
        seconds: list[float] = []
        counter = iter(range(10**9))
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=60) as client:
            end = time.perf_counter() + duration

            async def worker() -> None:
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    if bodies is None:
                        r = await client.get(path)
                    else:
                        r = await client.post(path, content=bodies[next(counter) % len(bodies)])
                    r.raise_for_status()
                    seconds.append(time.perf_counter() - t)

            await asyncio.gather(*(worker() for _ in range(clients)))
        return seconds

    t0 = time.perf_counter()
    seconds = asyncio.run(run())
    st = _stats(seconds, 1)
    return {"rps": len(seconds) / (time.perf_counter() - t0), "p50_ms": st["p50_ms"], "p99_ms": st["p99_ms"]}


def _rss_mb(pid: int) -> dict[str, float]:
    """Resident memory (MB) of `pid` and each of its children, from /proc (Linux)."""

    def rss(p: int) -> float:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def pss(p: int) -> float:
        """Proportional share: pages shared copy-on-write with the parent count once across processes."""
        f = Path(f"/proc/{p}/smaps_rollup")
        for line in f.read_text().splitlines() if f.exists() else []:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
        return 0.0

    out = {"parent": rss(pid), "parent_pss": pss(pid)}
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for i, c in enumerate(children.read_text().split() if children.exists() else []):
        out[f"worker{i + 1}"] = rss(int(c))
        out[f"worker{i + 1}_pss"] = pss(int(c))
    return out


# --- the run -------------------------------------------------------------------------------------------
def _prepare_model(args: argparse.Namespace, work: Path) -> str:
    if args.model:
        return str(args.model)
    if args.train_tiny:
        from features.market import load_market
        from training.config import load_config
        from training.fit import fit_bundle

        logger.info("fitting the tiny bundle on %s", args.market)
        bundle = fit_bundle(load_market(args.market), load_config(ROOT / "configs" / "train-tiny.yaml")).bundle
        return str(bundle.save(work / "bundle"))
    return "champion"


def _start(args: argparse.Namespace, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [str(Path(sys.executable).with_name("choujian")), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(args.workers), "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def _wait_ready(client: httpx.Client, server: subprocess.Popen[bytes], path: str = "/readyz") -> float:
    t0 = time.perf_counter()
    while True:
        try:
            if client.get(path).status_code == 200:
                return time.perf_counter() - t0
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.perf_counter() - t0 > 600:
            raise SystemExit("the server did not become ready")
        time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def _inprocess(
    args: argparse.Namespace, settings: Any, singles: list[dict[str, Any]], batch: dict[str, Any]
) -> tuple[dict[str, float], dict[str, float]]:
    """Single listings and the batch scored in-process: the service function the routes call, on records
    already parsed. Also the CPU time per single listing (`cpu_ms`), which a busy shared machine inflates
    less than wall time."""
    from features.records import Listing, Merchant, Review
    from serving.runtime import registry_loader
    from serving.service import score_records

    model = registry_loader(settings)()
    parsed = [
        (Merchant(**b["merchant"]), Listing(**b["listing"]), [Review(**r) for r in b["reviews"]]) for b in singles
    ]
    j = iter(range(10**9))

    def local_single() -> None:
        m, li, rv = parsed[next(j) % len(parsed)]
        score_records(model, settings, merchants=[m], listings=[li], reviews=rv)

    parsed_batch = (
        [Merchant(**m) for m in batch["merchants"]],
        [Listing(**x) for x in batch["listings"]],
        [Review(**r) for r in batch["reviews"]],
    )

    def local_batch() -> None:
        m, li, rv = parsed_batch
        score_records(model, settings, merchants=m, listings=li, reviews=rv)

    cpu0 = time.process_time()
    l_single = _stats(_time(local_single, args.inprocess, warmup=5), 1)
    l_single["cpu_ms"] = 1000 * (time.process_time() - cpu0) / (args.inprocess + 5)
    l_batch = _stats(_time(local_batch, args.batches, warmup=1), len(batch["listings"]))
    l_batch["n_listings"] = len(batch["listings"])
    return l_single, l_batch


def _report_inprocess(args: argparse.Namespace, single: dict[str, float], batch: dict[str, float]) -> None:
    print(
        f"in-process single listing: p50 {single['p50_ms']:.2f} ms, p99 {single['p99_ms']:.2f} ms, "
        f"CPU {single['cpu_ms']:.2f} ms a listing; batch of {batch['n_listings']:.0f}: "
        f"{batch['listings_per_s']:.0f} listings/s"
    )
    if args.as_json:
        print(
            json.dumps(
                {
                    "inprocess_p50_ms": single["p50_ms"],
                    "inprocess_p99_ms": single["p99_ms"],
                    "inprocess_cpu_ms": single["cpu_ms"],
                    "batch_inprocess_listings_per_s": batch["listings_per_s"],
                    "model": args.model or "champion",
                    "cpus": os.cpu_count(),
                }
            )
        )


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--market", type=Path, default=ROOT / "data" / "market", help="market directory")
    p.add_argument("--model", help="alias, version, models:/ URI or local bundle folder (default: champion)")
    p.add_argument("--train-tiny", action="store_true", help="fit configs/train-tiny.yaml on --market and serve that")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per measurement")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients of the loaded measurements")
    p.add_argument("--inprocess", type=int, default=300, help="single listings scored in-process")
    p.add_argument("--batches", type=int, default=5, help="1,000-listing batch requests to time")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--no-warm", dest="warm", action="store_false", help="skip the start-up warm-up measurement")
    p.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    p.add_argument(
        "--plan-budget",
        type=float,
        default=0.0,
        help="also time single-listing scoring (1 client) while a plan of this budget (yuan) is drawn; "
        "1900000 is about the largest the default limits allow (2,000 purchases)",
    )
    p.add_argument(
        "--inprocess-only",
        action="store_true",
        help="only the in-process measurements (single listings and the batch): no server, no load generator",
    )
    p.add_argument("--json", dest="as_json", action="store_true", help="print the results as one JSON line, last")
    return p.parse_args()


@dataclass
class _Setup:
    """What every measurement shares: the server's environment, the keys, the request bodies."""

    env: dict[str, str]
    settings: Any
    key: str
    planner_key: str
    singles: list[dict[str, Any]]
    single_json: list[str]
    batch: dict[str, Any]
    load: Callable[..., dict[str, float]]
    use_wrk: bool
    n_listings: int


def _setup(args: argparse.Namespace) -> _Setup:
    from features.market import load_market
    from serving import store
    from serving.db import make_engine, make_sessionmaker
    from serving.settings import Settings

    use_wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk") is not None)
    market = load_market(args.market)
    work = Path(tempfile.mkdtemp(prefix="choujian-bench-"))
    model_ref = _prepare_model(args, work)
    db_url = f"sqlite:///{work / 'bench.db'}"
    env = {
        **os.environ,
        "CHOUJIAN_DATABASE_URL": db_url,
        "CHOUJIAN_MARKET_DIR": str(args.market),
        "CHOUJIAN_MARKET_SOURCE": "files",
        "CHOUJIAN_WARM_MARKET_ON_START": "false",
        "CHOUJIAN_ENVIRONMENT": "development",
    }
    settings_kw: dict[str, Any] = {"database_url": db_url, "market_dir": args.market}
    if model_ref != "champion":
        env["CHOUJIAN_MODEL_URI"] = model_ref
        settings_kw["model_uri"] = model_ref
    engine = make_engine(db_url)
    store.upgrade(engine)
    with make_sessionmaker(engine)() as s:
        key = store.create_key(s, role="platform", name="benchmark")[1]
        planner_key = store.create_key(s, role="planner", name="benchmark")[1]
    engine.dispose()
    # a different listing for every request (the service memoises review scores per text)
    singles = _single_bodies(market, 6000)
    batch = _batch_body(market, args.batch_size)
    logger.info("%d single bodies, one batch of %d listings", len(singles), len(batch["listings"]))
    return _Setup(
        env=env,
        settings=Settings(**settings_kw),
        key=key,
        planner_key=planner_key,
        singles=singles,
        single_json=[json.dumps(b, ensure_ascii=False) for b in singles],
        batch=batch,
        load=_wrk if use_wrk else _python_load,
        use_wrk=use_wrk,
        n_listings=len(market.listings),
    )


def _during_plan(
    args: argparse.Namespace, st: _Setup, client: httpx.Client, base: str, bodies: list[str]
) -> dict[str, Any]:
    """Single-listing scoring, 1 client, while a plan of `--plan-budget` is drawn (the market scored first,
    as a served market is after start-up: this times the plan itself)."""
    import threading

    planner = {"Authorization": f"Bearer {st.planner_key}"}
    plan_done: dict[str, Any] = {}

    def draw() -> None:
        t = time.perf_counter()
        r = client.post("/v1/plans", json={"budget": args.plan_budget, "epsilon": 0.2}, headers=planner)
        plan_done.update(status=r.status_code, seconds=time.perf_counter() - t)
        if r.status_code == 201:
            plan_done["targets"] = len(r.json().get("targets", []))
        else:
            plan_done["error"] = r.text[:300]

    t0 = time.perf_counter()
    client.post("/v1/plans", json={"budget": 1, "epsilon": 0.2}, headers=planner).raise_for_status()
    plan_done["market_scored_s"] = time.perf_counter() - t0
    th = threading.Thread(target=draw)
    th.start()
    during = st.load(base, "/v1/score/listing", bodies=bodies, key=st.key, clients=1, duration=args.duration)
    th.join()
    return {**during, **plan_done}


def _http_figures(args: argparse.Namespace, st: _Setup) -> dict[str, Any]:
    """One server: its readiness, /healthz and scoring at 1 and 16 clients, HTTP batches, memory, and
    scoring while a plan is drawn."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    res: dict[str, Any] = {}
    server = _start(args, st.env, port)
    try:
        with httpx.Client(base_url=base, timeout=300, headers={"Authorization": f"Bearer {st.key}"}) as client:
            res["ready_s"] = _wait_ready(client, server)
            res["info"] = client.get("/v1/model").json()
            res["rss_mb_idle"] = _rss_mb(server.pid)
            for b in st.single_json[:20]:  # warm every worker's lazy parts up (explainers, sessions)
                client.post("/v1/score/listing", content=b, headers={"Content-Type": "application/json"})
            used = iter(range(20, len(st.single_json)))

            def fresh(k: int) -> list[str]:
                return [st.single_json[next(used)] for _ in range(k)]

            load, key, d = st.load, st.key, args.duration
            res["hz"] = load(base, "/healthz", bodies=None, key=key, clients=args.clients, duration=d)
            res["c1"] = load(base, "/v1/score/listing", bodies=fresh(1000), key=key, clients=1, duration=d)
            res["c16"] = load(base, "/v1/score/listing", bodies=fresh(4000), key=key, clients=args.clients, duration=d)
            res["rss_mb_loaded"] = _rss_mb(server.pid)

            def http_batch() -> None:
                client.post("/v1/score/batch", json=st.batch).raise_for_status()

            res["h_batch"] = _stats(_time(http_batch, args.batches, warmup=1), len(st.batch["listings"]))
            if args.plan_budget:  # scoring while the largest plan a planner may ask for is drawn
                res["during_plan"] = _during_plan(args, st, client, base, fresh(800))
    finally:
        _stop(server)
    return res


def _warm_figures(args: argparse.Namespace, st: _Setup, res: dict[str, Any]) -> dict[str, float]:
    """/healthz while a freshly started server scores the market at start."""
    port = _free_port()
    server = _start(args, {**st.env, "CHOUJIAN_WARM_MARKET_ON_START": "true"}, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            # several workers: the parent scores the market before it forks them, so this waits for that
            res["warm_ready_s"] = _wait_ready(client, server, "/healthz")
        return st.load(f"http://127.0.0.1:{port}", "/healthz", bodies=None, key=st.key, clients=args.clients,
                       duration=min(args.duration, 5))  # fmt: skip
    finally:
        _stop(server)


def _summary(
    args: argparse.Namespace,
    st: _Setup,
    res: dict[str, Any],
    warm_hz: dict[str, float] | None,
    l_single: dict[str, float],
    l_batch: dict[str, float],
) -> dict[str, Any]:
    hz, c1, c16, info = res["hz"], res["c1"], res["c16"], res["info"]
    return {
        "healthz_rps_c16": hz["rps"],
        "score_rps_c16": c16["rps"],
        "score_p50_ms_c16": c16["p50_ms"],
        "score_p99_ms_c16": c16["p99_ms"],
        "score_rps_c1": c1["rps"],
        "score_p50_ms_c1": c1["p50_ms"],
        "score_p99_ms_c1": c1["p99_ms"],
        "ratio_score_to_healthz_c16": c16["rps"] / hz["rps"],
        "inprocess_p50_ms": l_single["p50_ms"],
        "inprocess_p99_ms": l_single["p99_ms"],
        "inprocess_cpu_ms": l_single["cpu_ms"],
        "rss_mb": max(v for k, v in res["rss_mb_loaded"].items() if not k.endswith("_pss")),
        "rss_mb_by_process": res["rss_mb_loaded"],
        "batch_http_listings_per_s": res["h_batch"]["listings_per_s"],
        "batch_inprocess_listings_per_s": l_batch["listings_per_s"],
        "warm_healthz_rps_c16": warm_hz["rps"] if warm_hz else None,
        "warm_healthz_p99_ms_c16": warm_hz["p99_ms"] if warm_hz else None,
        "warm_ready_s": res.get("warm_ready_s"),
        "during_plan": res.get("during_plan"),
        "workers": args.workers,
        "clients": args.clients,
        "load_generator": "wrk" if st.use_wrk else "python",
        "cpus": os.cpu_count(),
        "model": f"{info['name']} {info['version']}",
        "listings_in_market": st.n_listings,
        "ready_s": res["ready_s"],
    }


def _print_report(
    args: argparse.Namespace,
    res: dict[str, Any],
    out: dict[str, Any],
    warm_hz: dict[str, float] | None,
    l_single: dict[str, float],
    l_batch: dict[str, float],
    batch_size: int,
) -> None:
    info, h_batch = res["info"], res["h_batch"]
    print(f"\nmodel {info['name']} version {info['version']} ({info['source']}); market {args.market}")
    print(
        f"{os.cpu_count()} CPU(s), {args.workers} worker(s), load from {out['load_generator']}, "
        f"{args.duration:.0f} s each"
    )
    print(f"{'':34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    rows = [("/healthz, 16 clients", res["hz"]), ("score one listing, 1 client", res["c1"])]
    rows += [("score one listing, 16 clients", res["c16"])]
    if warm_hz:
        rows.append(("/healthz, 16 clients, warming up", warm_hz))
    for name, st in rows:
        print(f"{name:34}{st['rps']:>10.1f}{st['p50_ms']:>10.1f}{st['p99_ms']:>10.1f}")
    print(f"scoring / healthz throughput at 16 clients: {out['ratio_score_to_healthz_c16']:.2f}")
    if res.get("during_plan"):
        d = res["during_plan"]
        print(
            f"score one listing, 1 client, while a {args.plan_budget:,.0f}-yuan plan is drawn (HTTP {d.get('status')}, "
            f"{d.get('targets', 0)} targets, {d.get('seconds', 0):.1f} s{', ' + d['error'] if 'error' in d else ''}): "
            f"{d['rps']:.1f} req/s, "
            f"p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms"
        )
    print(
        f"in-process single listing: p50 {l_single['p50_ms']:.2f} ms, p99 {l_single['p99_ms']:.2f} ms, "
        f"CPU {l_single['cpu_ms']:.2f} ms a listing"
    )
    print(
        f"batch of {batch_size}: HTTP {h_batch['listings_per_s']:.0f} listings/s, in-process "
        f"{l_batch['listings_per_s']:.0f} listings/s "
        f"(in-process / HTTP {l_batch['listings_per_s'] / h_batch['listings_per_s']:.2f}x)"
    )
    print("resident MB: " + ", ".join(f"{k} {v:.0f}" for k, v in res["rss_mb_loaded"].items()))


def main() -> None:
    args = _parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    st = _setup(args)
    if args.inprocess_only:
        _report_inprocess(args, *_inprocess(args, st.settings, st.singles, st.batch))
        return
    res = _http_figures(args, st)
    warm_hz = _warm_figures(args, st, res) if args.warm else None
    l_single, l_batch = _inprocess(args, st.settings, st.singles, st.batch)
    out = _summary(args, st, res, warm_hz, l_single, l_batch)
    _print_report(args, res, out, warm_hz, l_single, l_batch, len(st.batch["listings"]))
    if args.as_json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
