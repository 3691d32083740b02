"""`choujian`: the one command-line tool. Each command imports its heavy dependencies lazily so that
`choujian --help` stays fast."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="choujian",
    help="抽检 Choujian: risk scores and budgeted mystery-buyer sampling plans for Chinese e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


# --- commands: each section below is owned by one part of the product -------------------------------
# (simulate)
class TableFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@app.command("simulate")
def simulate_command(
    out: Annotated[Path, typer.Option(help="Directory to write the market and its ground truth to.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed and sizes give the same market.")] = 7,
    merchants: Annotated[int, typer.Option(min=1, help="Number of shops.")] = 2000,
    listings: Annotated[int, typer.Option(min=1, help="Number of listings.")] = 50_000,
    fmt: Annotated[TableFormat, typer.Option("--format", help="File format of the four tables.")] = (
        TableFormat.parquet
    ),
) -> None:
    """Simulate a market with known ground truth (tables, ground truth, manifest.json)."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from training.simulator import simulate, write_simulation

    console = Console(stderr=True)
    steps = ["merchants", "listings", "risk", "reviews", "lab results", "summary", "write"]
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]simulate[/bold] {task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task(steps[0], total=len(steps))

        def advance(done: str) -> None:
            i = steps.index(done) + 1
            bar.update(task, advance=1, description=steps[i] if i < len(steps) else "done")

        sim = simulate(merchants, listings, seed=seed, progress=advance)
        write_simulation(sim, out, fmt=fmt.value)
        advance("write")
    rates = sim.manifest["rates"]
    table = Table(title=f"simulated market → {out}  ({time.perf_counter() - t0:.1f} s)")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, n in sim.manifest["sizes"].items():
        table.add_row(name, f"{n:,}")
    for key in (
        "fail_p_mean",
        "fail_realised",
        "counterfeit_realised",
        "false_advertising_realised",
        "quality_realised",
        "three_no_realised",
        "labelled_share",
        "labelled_fail_rate",
    ):
        table.add_row(key, f"{rates[key]:.3f}")
    console.print(table)


# (features)
# (models)
# risk models: `choujian train`, `evaluate`, `promote`, `models list|info` (training/model_commands.py)
from training.model_commands import register as _register_model_commands  # noqa: E402

_register_model_commands(app)
# text models (models/text): `choujian pretrain` and `choujian reviews ...`; commands import lazily
from training.pretrain import pretrain_command  # noqa: E402
from training.text_train import reviews_app  # noqa: E402

app.command("pretrain")(pretrain_command)
app.add_typer(reviews_app, name="reviews")
# evaluation worlds: `choujian simulate-world`, `cross-world`, `cues` (training/world_commands.py)
from training.world_commands import register as _register_world_commands  # noqa: E402

_register_world_commands(app)


# (planner)
@app.command("plan")
def plan_command(
    budget: Annotated[float, typer.Option(min=1, help="Budget in yuan: purchase prices plus lab fees.")] = 50_000,
    explore: Annotated[
        float, typer.Option(min=0, max=0.99, help="Share of the budget for the stratified random arm (ε).")
    ] = 0.2,
    per_merchant: Annotated[
        int | None, typer.Option(min=1, help="Most purchases per merchant over the whole plan (none: no cap).")
    ] = 2,
    cap_scope: Annotated[
        str, typer.Option(help="'plan': the cap binds both arms; 'targeted': only targeted picks.")
    ] = "plan",
    quota: Annotated[
        list[str] | None,
        typer.Option(help="Category quota, repeatable: 'CATEGORY:min=2,max=10,min_yuan=0,max_yuan=20000'."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random arm: the same seed gives the same plan.")] = 0,
    out: Annotated[Path, typer.Option(help="Purchases CSV; the design frame and summary go beside it.")] = Path(
        "plan.csv"
    ),
    market: Annotated[Path, typer.Option(help="Market directory (as `choujian simulate` writes).")] = Path(
        "data/market"
    ),
    model: Annotated[str, typer.Option(help="Scorer: alias, version, models:/ URI or local bundle folder.")] = (
        "champion"
    ),
    scores: Annotated[
        Path | None,
        typer.Option(help="Use this scores CSV/Parquet (listing_id, p_lab_fail, optional reasons) instead of a model."),
    ] = None,
    lab_fee: Annotated[float, typer.Option(min=0, help="Lab fee (yuan) for categories without a known fee.")] = 800,
    show: Annotated[int, typer.Option(min=0, help="Rows of the plan to print.")] = 30,
) -> None:
    """Score the market and draw a budgeted plan: risk-ranked targets plus a random arm with known probabilities."""
    import json

    import pandas as pd
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from features.market import Market, RecordError, load_market
    from serving import planner
    from training.sim_vocab import CATEGORIES

    console = Console(stderr=True)
    try:
        mk = load_market(market)
    except RecordError as e:
        raise typer.BadParameter(str(e), param_hint="--market") from e
    if scores is not None:
        sc = pd.read_parquet(scores) if scores.suffix == ".parquet" else pd.read_csv(scores, dtype={"listing_id": str})
        source = f"scores {scores}"
    else:
        from models.review_cache import use_default_score_store
        from training.registry import load_scorer

        use_default_score_store()
        try:
            scorer = load_scorer(model)
        except Exception as e:  # MLflow raises its own types for a missing model or alias
            console.print(
                f"[red]no scorer {model!r}:[/red] {e}\ntrain and promote one (`choujian train`, `choujian promote`), "
                "pass a bundle folder to --model, or pass --scores"
            )
            raise typer.Exit(2) from e
        source = f"{scorer.name} {scorer.version}"
        ids = mk.listings["listing_id"].astype(str).to_numpy()
        chunk = 500  # scores depend on a listing's own records only, so chunks score exactly like one batch
        rows: list[dict[str, object]] = []
        with Progress(
            TextColumn("[bold]scoring[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("score", total=len(ids))
            for lo in range(0, len(ids), chunk):
                part = set(ids[lo : lo + chunk])
                lst = mk.listings[mk.listings["listing_id"].isin(part)]
                sub = Market(
                    merchants=mk.merchants,  # all shops: linking identities may need a listing's sister shops
                    listings=lst,
                    reviews=mk.reviews[mk.reviews["listing_id"].isin(part)],
                    lab_results=mk.lab_results[mk.lab_results["listing_id"].isin(part)],
                )
                for ls in scorer.score_listings(sub, top_reasons=3):
                    risk = ls.risks["lab_fail"]
                    rows.append(
                        {
                            "listing_id": ls.listing_id,
                            "p_lab_fail": risk.probability,
                            "reasons": [f"{r.zh} ({r.code})" for r in risk.reasons],
                        }
                    )
                bar.update(task, advance=len(lst))
        sc = pd.DataFrame(rows)
    quotas: dict[str, planner.CategoryQuota] = {}
    for q in quota or []:
        cat, _, spec = q.partition(":")
        try:
            kv = {k.strip(): float(v) for k, v in (p.split("=") for p in spec.split(",") if p.strip())}
            quotas[cat.strip()] = planner.CategoryQuota.model_validate(kv)
        except ValueError as e:
            raise typer.BadParameter(f"{q!r}: {e}", param_hint="--quota") from e
    try:
        config = planner.PlanConfig(
            budget=budget,
            explore=explore,
            per_merchant=per_merchant,
            cap_scope=cap_scope,  # type: ignore[arg-type]
            quotas=quotas,
            seed=seed,
            plan_id=out.stem,
        )
        cands = planner.candidates_from_scores(
            mk.listings, sc, lab_fees={c.name: c.lab_fee for c in CATEGORIES}, default_lab_fee=lab_fee
        )
        plan = planner.make_plan(cands, config)
    except ValueError as e:  # pydantic's ValidationError and PlanInfeasibleError are ValueErrors
        console.print(f"[red]cannot plan:[/red] {e}")
        raise typer.Exit(2) from e
    sel = plan.selected()
    out.parent.mkdir(parents=True, exist_ok=True)
    written = sel.assign(reasons=sel["reasons"].map(" | ".join), plan_id=plan.plan_id)
    written = written[
        ["plan_id", "rank", "listing_id", "merchant_id", "category", "cost", "p_fail", "arm", "pi", "reasons"]
    ].rename(columns={"pi": "inclusion_prob"})
    written.to_csv(out, index=False)
    frame_path = out.with_suffix(".frame.parquet")
    plan.frame.to_parquet(frame_path, index=False)
    summary_path = out.with_suffix(".json")
    summary_path.write_text(json.dumps(plan.summary.model_dump(), ensure_ascii=False, indent=2))

    s = plan.summary
    table = Table(
        title=f"plan {plan.plan_id}: {len(sel)} purchases, {s.total_cost:,.0f} of {budget:,.0f} yuan (scores: {source})"
    )
    for name, just in (
        ("rank", "right"),
        ("listing", "left"),
        ("merchant", "left"),
        ("category", "left"),
        ("cost ¥", "right"),
        ("p(fail)", "right"),
        ("arm", "left"),
        ("π", "right"),
        ("top reasons", "left"),
    ):
        table.add_column(name, justify=just, no_wrap=name != "top reasons")  # type: ignore[arg-type]
    for r in sel.head(show).to_dict("records"):
        table.add_row(
            str(r["rank"]),
            r["listing_id"],
            r["merchant_id"],
            r["category"],
            f"{r['cost']:,.0f}",
            f"{r['p_fail']:.2f}",
            r["arm"],
            f"{r['pi']:.3g}",
            "; ".join(r["reasons"][:3]),
        )
    out_console = Console() if Console().is_terminal else Console(width=160)
    out_console.print(table)
    if len(sel) > show:
        out_console.print(f"… {len(sel) - show} more rows in {out}")
    out_console.print(
        f"targeted {s.n_targeted} ({s.targeted_cost:,.0f} ¥), random draws {s.n_random_draws} "
        f"(λ={s.random_lambda:.4f}, worst case {s.random_worst_cost:,.0f} ¥ of {s.random_budget:,.0f}), "
        f"top-up {s.n_topup} ({s.topup_cost:,.0f} ¥ this draw's random arm left); spend {s.total_cost:,.0f} ¥ "
        f"of {s.budget:,.0f}, expected failures {s.expected_failures:.1f}, "
        f"expected spend {s.expected_total_cost:,.0f} ¥"
    )
    if s.n_unreachable:
        out_console.print(
            f"[yellow]{s.n_unreachable} listing(s) cost more than the random arm can spend and have no chance; "
            "raise --explore or --budget to cover them[/yellow]"
        )
    out_console.print(f"wrote {out}, {frame_path} (every candidate's inclusion probability) and {summary_path}")


@app.command("simulate-rounds")
def simulate_rounds_command(
    plans: Annotated[int, typer.Option(min=1, help="Plans to draw in all (spread over markets x rounds).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the markets, lab outcomes and plan draws.")] = 0,
    markets: Annotated[int, typer.Option(min=1, help="Simulated markets.")] = 2,
    rounds: Annotated[int, typer.Option(min=1, help="plan → lab results → retrain cycles per market.")] = 3,
    listings: Annotated[int, typer.Option(min=100, help="Listings per market.")] = 8000,
    merchants: Annotated[int, typer.Option(min=10, help="Shops per market.")] = 1000,
    budget: Annotated[float, typer.Option(min=1, help="Budget per plan, yuan.")] = 400_000,
    explore: Annotated[float, typer.Option(min=0, max=0.99, help="Random arm's share of the budget (ε).")] = 0.5,
    per_merchant: Annotated[int | None, typer.Option(min=1, help="Per-merchant cap.")] = 2,
    model: Annotated[str, typer.Option(help="auto (team bundle when it can be fitted), team or own.")] = "auto",
    per_plan: Annotated[bool, typer.Option(help="Print one row per plan.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on the last line.")] = False,
) -> None:
    """Prove the planner honest by simulation: coverage and bias of its estimates, hit rates vs random and oracle."""
    import json

    from rich.console import Console
    from rich.table import Table

    from training.rounds import RoundsConfig, run_rounds

    console = Console(stderr=True)
    config = RoundsConfig(
        plans=plans,
        seed=seed,
        markets=markets,
        rounds=rounds,
        n_listings=listings,
        n_merchants=merchants,
        budget=budget,
        explore=explore,
        per_merchant=per_merchant,
        model=model,  # type: ignore[arg-type]
    )
    with console.status("simulating") as status:
        result = run_rounds(config, progress=lambda msg: status.update(msg))
    out = Console() if Console().is_terminal else Console(width=150)
    if per_plan:
        t = Table(title="plans: hit rate = failures found per purchase")
        for c in (
            "mkt",
            "round",
            "plan",
            "true rate",
            "HT [95% CI]",
            "naive (all bought)",
            "targeted",
            "random arm",
            "all-random",
            "oracle",
            "lift",
        ):
            t.add_column(c, justify="right")
        for r in result.records:
            t.add_row(
                str(r.market),
                str(r.round),
                str(r.rep),
                f"{r.truth:.3f}",
                f"{r.ht:.3f} [{r.ht_low:.3f}, {r.ht_high:.3f}]" + ("" if r.ht_low <= r.truth <= r.ht_high else " ✗"),
                f"{r.naive_all:.3f}",
                f"{r.fails_targeted / max(r.n_targeted, 1):.3f}",
                f"{r.fails_random / max(r.n_random_draws, 1):.3f}",
                f"{r.fails_all_random / max(r.n_all_random, 1):.3f}",
                f"{r.fails_oracle / max(r.n_oracle, 1):.3f}",
                f"{r.fails_plan / max(r.fails_all_random, 1):.2f}",
            )
        out.print(t)
    rt = Table(title=f"rounds (model: {result.model})")
    cols = {
        "labels": "lab results",
        "auc_vs_realised": "AUC",
        "hit_rate_targeted": "hit targeted",
        "hit_rate_random": "hit random arm",
        "hit_rate_oracle": "hit oracle",
        "lift": "lift",
        "coverage": "coverage",
        "bias": "bias",
    }
    rt.add_column("round", justify="right")
    for label in cols.values():
        rt.add_column(label, justify="right")
    for row in result.summary["rounds_detail"]:
        rt.add_row(str(row["round"]), *(f"{row[k]:.4g}" for k in cols))
    out.print(rt)
    s = result.summary
    out.print(
        f"{s['plans']} plans: coverage {s['coverage']:.3f} (±{s['coverage_mc_se']:.3f} MC), bias {s['bias']:+.4f} "
        f"(±{s['bias_mc_se']:.4f}), naive bias (targeted picks) {s['naive_bias']:+.3f}; hit rate targeted "
        f"{s['hit_rate_targeted']:.3f} vs random arm {s['hit_rate_random']:.3f} "
        f"(×{s['targeted_vs_random']}) vs oracle {s['hit_rate_oracle']:.3f}; market failure rate "
        f"{s['market_fail_rate']:.3f}; {s['seconds']} s"
    )
    if as_json:
        print(json.dumps(s, ensure_ascii=False, default=float))


@app.command("estimate")
def estimate_command(
    plan: Annotated[Path, typer.Option(help="The plan's design frame (plan.frame.parquet, written by `plan`).")],
    results: Annotated[
        Path, typer.Option(help="Lab results CSV/Parquet: listing_id, verdict (pass/fail), failure_types.")
    ],
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Confidence level of the intervals.")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimates as JSON.")] = False,
) -> None:
    """Market and per-category failure and three-no rates (Horvitz–Thompson, Hájek, naive) from a plan's results."""
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from features.market import RecordError, read_table
    from serving.estimation import estimate

    frame = pd.read_parquet(plan)
    try:
        lab = read_table(results, "lab_results")
    except RecordError as e:
        raise typer.BadParameter(str(e), param_hint="--results") from e
    try:
        rep = estimate(frame, lab, confidence=confidence)
    except ValueError as e:
        Console(stderr=True).print(f"[red]cannot estimate:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        print(rep.model_dump_json())
        return
    table = Table(title=f"{plan.name}: rates with {confidence:.0%} intervals ({rep.excluded} listings outside)")
    for c in ("outcome", "domain", "N", "bought", "random", "HT [CI]", "Hájek [CI]", "naive"):
        table.add_column(c, justify="left" if c in ("outcome", "domain") else "right")
    for r in rep.rates:
        hj = "–" if r.hajek is None else f"{r.hajek:.3f} [{r.hajek_low:.3f}, {r.hajek_high:.3f}]"
        table.add_row(
            r.outcome,
            r.domain,
            str(r.population),
            str(r.n_sampled),
            str(r.n_random),
            f"{r.ht:.3f} [{r.ht_low:.3f}, {r.ht_high:.3f}]",
            hj,
            "–" if r.naive is None else f"{r.naive:.3f}",
        )
    (Console() if Console().is_terminal else Console(width=150)).print(table)


# (serving)
# `choujian serve`, `choujian keys create|list|revoke`, `choujian db upgrade` (serving/); imports are lazy
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

keys_app = typer.Typer(help="API keys for the service (stored hashed; the secret is shown once).", no_args_is_help=True)
db_app = typer.Typer(help="The service's store (SQLite file by default, PostgreSQL by URL).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


class KeyRole(StrEnum):
    platform = "platform"
    planner = "planner"
    admin = "admin"


def _store_sessions(database_url: str | None) -> sessionmaker[Session]:
    from serving import store
    from serving.db import make_engine, make_sessionmaker
    from serving.settings import Settings

    url = database_url or Settings().database_url
    engine = make_engine(url)
    store.upgrade(engine)
    return make_sessionmaker(engine)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads the model once).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP API (settings from CHOUJIAN_* variables; docs at /docs)."""
    import uvicorn

    uvicorn.run("serving.app:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level)


@keys_app.command("create")
def keys_create_command(
    role: Annotated[KeyRole, typer.Option(help="platform (scores), planner (plans) or admin (keys, reload).")],
    name: Annotated[str, typer.Option(help="Who the key is for (shown in listings).")] = "",
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Create a key and print it ALONE on stdout (it is not stored and cannot be shown again)."""
    from serving import store

    with _store_sessions(database_url)() as s:
        row, key = store.create_key(s, role=role.value, name=name)
    typer.echo(f"created {role.value} key {row.key_id}", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list_command(
    revoked: Annotated[bool, typer.Option(help="Include revoked keys.")] = False,
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """List keys (ids, roles, names; never secrets)."""
    from rich.console import Console
    from rich.table import Table

    from serving import store

    with _store_sessions(database_url)() as s:
        rows = store.list_keys(s, include_revoked=revoked)
    table = Table(title="API keys")
    for c in ("key id", "role", "name", "created", "revoked"):
        table.add_column(c)
    for r in rows:
        table.add_row(r.key_id, r.role, r.name, f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.revoked_at or ''}")
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after cj_).")],
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Revoke a key at once."""
    from serving import store

    with _store_sessions(database_url)() as s:
        row = store.revoke_key(s, key_id)
    if row is None:
        typer.echo(f"no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}", err=True)


@db_app.command("upgrade")
def db_upgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Apply the store's migrations (the service also does this when it starts)."""
    from serving import store
    from serving.db import make_engine
    from serving.settings import Settings

    engine = make_engine(database_url or Settings().database_url)
    store.upgrade(engine, revision)
    typer.echo(f"store at {engine.url.render_as_string(hide_password=True)}: revision {store.current_revision(engine)}")


# (batch)
class BatchEngine(StrEnum):
    pandas = "pandas"
    spark = "spark"


@app.command("score-batch")
def score_batch_command(
    input_dir: Annotated[
        str, typer.Option("--input", help="Market directory (Parquet or CSV tables, as `choujian simulate` writes).")
    ],
    output: Annotated[
        str,
        typer.Option(help="Output Parquet: one file (pandas) or a directory of part files (spark)."),
    ],
    engine: Annotated[BatchEngine, typer.Option(help="pandas: one process; spark: local[*] or spark-submit.")] = (
        BatchEngine.pandas
    ),
    model: Annotated[
        str, typer.Option(help="Alias, version, models:/ URI or local bundle folder of the scorer.")
    ] = "champion",
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Spark: scoring tasks / output files (default 2 x cores).")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="pandas: listings scored per call.")] = 20_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Spark: listings per Arrow batch.")] = 5_000,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output (atomically).")] = False,
) -> None:
    """Score every listing of a market into OUT.parquet: `listing_id` and one `p_<risk>` column per risk."""
    from rich.console import Console

    from features.market import RecordError
    from training.registry import load_scorer

    console = Console(stderr=True)
    try:
        if engine is BatchEngine.pandas:
            from training.batch import check_local_market, score_pandas

            check_local_market(input_dir)  # column errors before the model is loaded
            from models.review_cache import use_default_score_store

            use_default_score_store()
            scorer = load_scorer(model)
            result = score_pandas(input_dir, output, scorer=scorer, chunk_size=chunk_size, overwrite=overwrite)
        else:
            from training.batch.spark_engine import SparkUnavailableError, inspect_market, score_spark, spark_session

            try:
                spark = spark_session(shuffle_partitions=partitions)
            except SparkUnavailableError as e:
                console.print(f"[red]error:[/red] {e}")
                raise typer.Exit(2) from e
            inspect_market(spark, input_dir)  # column errors before the model is loaded
            scorer = load_scorer(model)
            from models.review_cache import default_store_dir

            # local workers share this machine's score store; a cluster's executors have no such folder
            local = str(spark.sparkContext.master or "").startswith("local")
            result = score_spark(
                input_dir,
                output,
                scorer=scorer,
                spark=spark,
                partitions=partitions,
                batch_size=batch_size,
                overwrite=overwrite,
                score_store=default_store_dir() if local else None,
            )
    except (RecordError, FileExistsError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    console.print(
        f"scored {result.n_listings:,} listings with {scorer.name} {scorer.version} ({engine.value}) in "
        f"{result.seconds:.1f} s ({result.listings_per_second:,.0f} listings/s) → {result.output}"
    )


def main() -> None:
    app()
