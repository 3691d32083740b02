"""`choujian plan`, `choujian estimate`, `choujian simulate-rounds`: budgeted sampling plans and their estimates."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import fail, first_line, load_scorer_or_fail
from core.paths import MARKET_DIR
from sampling.plan_config import DEFAULT_EXPLORE

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from features.market import Market
    from models.contract import RiskScorer
    from sampling.planner import Plan, PlanConfig
    from training.rounds import RoundsResult


class CapScope(StrEnum):
    plan = "plan"
    targeted = "targeted"


class RoundsModel(StrEnum):
    team = "team"
    own = "own"


class RoundsWorld(StrEnum):
    a = "a"
    b = "b"


#: the exploration share's help, the same on every command that takes --explore
_EXPLORE_HELP = (
    "Share of the targeted budget spent on the listings whose failure probability is most uncertain "
    "(arm 'explore', π = 1); 0 to 1."
)


def _explore_shares(values: list[float] | None) -> list[float]:
    """The --explore values, each checked to be a share (typer checks no range on a repeated option)."""
    shares = values or [DEFAULT_EXPLORE]
    for v in shares:
        if not 0 <= v <= 1:
            raise typer.BadParameter(f"{v:g} is not a share between 0 and 1", param_hint="--explore")
    return shares


def _read_scores(path: Path) -> pd.DataFrame:
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"listing_id": str})


def _score_market(market: Market, model: str, console: Console) -> tuple[RiskScorer, pd.DataFrame]:
    """The scorer and its scores of the whole market: `score-batch`'s scoring (chunks of whole merchants, one
    process per CPU), the same numbers as the service's `score_frame` of its market."""
    from models.review_cache import use_default_score_store
    from training.batch.pandas_engine import default_workers, score_market

    use_default_score_store()
    scorer = load_scorer_or_fail(model)
    with console.status(f"scoring {len(market.listings):,} listings with {scorer.name} {scorer.version}"):
        scores = score_market(scorer, market, workers=default_workers())
    return scorer, scores


def plan_command(
    budget: Annotated[float, typer.Option(min=1, help="Budget in yuan: purchase prices plus lab fees.")] = 50_000,
    epsilon: Annotated[
        float, typer.Option(min=0, max=0.99, help="Share of the budget for the stratified random arm (ε).")
    ] = 0.2,
    explore: Annotated[float, typer.Option(min=0, max=1, help=_EXPLORE_HELP)] = DEFAULT_EXPLORE,
    per_merchant_cap: Annotated[
        int | None,
        typer.Option(min=1, help="Most purchases per seller (shops under one credit code count as one; none: no cap)."),
    ] = 2,
    cap_scope: Annotated[
        CapScope, typer.Option(help="'plan': the cap binds both arms; 'targeted': only targeted picks.")
    ] = CapScope.plan,
    quota: Annotated[
        list[str] | None,
        typer.Option(
            help="Category quota, repeatable: 'CATEGORY:min_purchases=3,max_purchases=10,min_yuan=0,max_yuan=20000'."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random arm: the same seed gives the same plan.")] = 0,
    out: Annotated[Path, typer.Option(help="Purchases CSV; the design frame and summary go beside it.")] = Path(
        "plan.csv"
    ),
    market: Annotated[Path, typer.Option(help="Market directory (as `choujian simulate` writes).")] = MARKET_DIR,
    model: Annotated[str, typer.Option(help="Scorer: alias, version, models:/ URI or local bundle folder.")] = (
        "champion"
    ),
    scores: Annotated[
        Path | None,
        typer.Option(help="Use this scores CSV/Parquet (listing_id, p_lab_fail, optional reasons) instead of a model."),
    ] = None,
    lab_fee: Annotated[
        float | None,
        typer.Option(min=0, help="Lab fee (yuan) for categories the reference table lacks (default: the setting)."),
    ] = None,
    show: Annotated[int, typer.Option(min=0, help="Rows of the plan to print.")] = 30,
) -> None:
    """Score the market and draw a budgeted plan: risk-ranked targets plus a random arm with known probabilities.

    The same path as `POST /v1/plans`: the same candidates, plan and reasons for the same market, model,
    seed and constraints.
    """
    from rich.console import Console

    from features.market import RecordError, load_market
    from models.explain import plan_reasons

    console = Console(stderr=True)
    config = _plan_config(
        budget=budget,
        epsilon=epsilon,
        explore=explore,
        per_merchant_cap=per_merchant_cap,
        cap_scope=cap_scope,
        quota=quota or [],
        seed=seed,
        plan_id=out.stem,
    )
    try:
        mk = load_market(market)
    except (RecordError, FileNotFoundError) as e:
        fail(f"--market: {first_line(e)}")
    scorer = None
    if scores is not None:
        sc, source = _read_scores(scores), f"scores {scores}"
    else:
        scorer, sc = _score_market(mk, model, console)
        source = f"{scorer.name} {scorer.version}"
    plan = _draw(mk, sc, config, lab_fee=lab_fee)
    sel = plan.selected()
    if scorer is not None:
        reasons = plan_reasons(scorer, mk, sel["listing_id"].tolist(), top=3)
        sel["reasons"] = [reasons.get(str(i), []) for i in sel["listing_id"]]
    paths = _write_plan(plan, sel, out)
    _print_plan(plan, sel, source=source, show=show)
    Console().print(
        f"wrote {', '.join(str(p) for p in paths)} (the frame holds every candidate's inclusion probability)"
    )


def _plan_config(
    *,
    budget: float,
    epsilon: float,
    explore: float,
    per_merchant_cap: int | None,
    cap_scope: CapScope,
    quota: list[str],
    seed: int,
    plan_id: str,
) -> PlanConfig:
    """The options as the planner's config; a bad quota is a usage error naming --quota, a refused
    combination one line."""
    from sampling.planner import CategoryQuota, PlanConfig

    quotas: dict[str, CategoryQuota] = {}
    for spec in quota:
        try:
            cat, q = CategoryQuota.parse(spec)
        except ValueError as e:
            raise typer.BadParameter(str(e).splitlines()[0], param_hint="--quota") from e
        quotas[cat] = q
    try:
        return PlanConfig(
            budget=budget,
            epsilon=epsilon,
            explore=explore,
            per_merchant_cap=per_merchant_cap,
            cap_scope=cap_scope.value,
            quotas=quotas,
            seed=seed,
            plan_id=plan_id,
        )
    except ValueError as e:
        fail(f"cannot plan: {_first_error(e)}")


def _draw(market: Market, scores: pd.DataFrame, config: PlanConfig, *, lab_fee: float | None) -> Plan:
    """The one candidates-and-plan path the API takes too, with the reference lab fees (`lab_fee`, else the
    setting, for categories the table lacks); an unknown quota category names --quota, an infeasible plan is one
    line."""
    from core import reference
    from core.settings import shared_settings
    from sampling.candidates import LabFees, UnknownCategoryError, draw_plan, plan_candidates
    from sampling.planner import PlanInfeasibleError

    settings = shared_settings()
    fees = LabFees(reference.lab_fees(settings), default=settings.lab_fee_default if lab_fee is None else lab_fee)
    try:
        cands = plan_candidates(
            market.listings, market.merchants, scores, lab_fees=fees, lab_results=market.lab_results
        )
        return draw_plan(cands, config)
    except UnknownCategoryError as e:
        raise typer.BadParameter(str(e), param_hint="--quota") from e
    except (PlanInfeasibleError, ValueError) as e:
        fail(f"cannot plan: {e}")


def _first_error(e: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"]).removeprefix("Value error, ")
    return str(e)


def _write_plan(plan: Plan, sel: pd.DataFrame, out: Path) -> list[Path]:
    """The purchases CSV, the design frame (every candidate) and the summary JSON."""
    import json

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
    return [out, frame_path, summary_path]


def _print_plan(plan: Plan, sel: pd.DataFrame, *, source: str, show: int) -> None:
    from rich.console import Console
    from rich.table import Table

    s = plan.summary
    table = Table(
        title=f"plan {plan.plan_id}: {len(sel)} purchases, {s.total_cost:,.0f} of {s.budget:,.0f} yuan "
        f"(scores: {source})"
    )
    columns = ("rank", "listing", "merchant", "category", "cost ¥", "p(fail)", "arm", "π", "top reasons")
    for name in columns:
        just = "left" if name in ("listing", "merchant", "category", "arm", "top reasons") else "right"
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
    out = Console() if Console().is_terminal else Console(width=160)
    out.print(table)
    if len(sel) > show:
        out.print(f"… {len(sel) - show} more rows in the CSV")
    out.print(
        f"targeted {s.n_targeted} ({s.targeted_cost:,.0f} ¥), explored {s.n_explored} ({s.explored_cost:,.0f} ¥, "
        f"share {s.explore:g}), random draws {s.n_random_draws} "
        f"(λ={s.random_lambda:.4f}, worst case {s.random_worst_cost:,.0f} ¥ of {s.random_budget:,.0f}), "
        f"top-up {s.n_topup} ({s.topup_cost:,.0f} ¥ this draw's random arm left); spend {s.total_cost:,.0f} ¥ "
        f"of {s.budget:,.0f}, expected failures {s.expected_failures:.1f}, "
        f"expected spend {s.expected_total_cost:,.0f} ¥"
    )
    if s.n_unreachable:
        out.print(
            f"[yellow]{s.n_unreachable} listing(s) cost more than the random arm can spend and have no chance; "
            "raise --epsilon or --budget to cover them[/yellow]"
        )
    for warning in s.warnings:
        out.print(f"[yellow]{warning}[/yellow]")
    if s.default_fee_categories:
        out.print(
            f"[yellow]no lab fee in the reference table for {', '.join(s.default_fee_categories)}: costed at the "
            "default fee (--lab-fee, CHOUJIAN_LAB_FEES, or your own lab_fees.csv in CHOUJIAN_REFERENCE_DIR)[/yellow]"
        )


def _plans_table(result: RoundsResult) -> Table:
    """One row per simulated plan: the truth, the HT interval (✗ where it misses) and the hit rates."""
    from rich.table import Table

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
    return t


def _rounds_table(result: RoundsResult) -> Table:
    """One row per round: labels so far, the model's AUC and captured lift, hit rates, coverage and bias."""
    from rich.table import Table

    cfg = result.config
    rt = Table(title=f"rounds (world {cfg.world}, explore {cfg.explore:g}, model: {result.model})")
    cols = {
        "labels": "lab results",
        "auc_vs_realised": "AUC",
        "captured_lift_5": "E captured lift 5%",
        "hit_rate_plan": "hit all purchases",
        "hit_rate_targeted": "hit targeted",
        "hit_rate_explore": "hit explored",
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
        rt.add_row(str(row["round"]), *("–" if row[k] is None else f"{row[k]:.4g}" for k in cols))
    return rt


def _explore_table(results: dict[float, RoundsResult]) -> Table:
    """One row per exploration share: the rounds after the first (planned with models refitted on what the
    earlier plans bought), and the last round's model."""
    from rich.table import Table

    t = Table(title="exploration shares, rounds after the first (same markets, outcomes and plan starts)")
    for c in ("explore", "hit all", "hit targeted", "hit explored", "lift", "last AUC", "last E lift 5%", "coverage"):
        t.add_column(c, justify="right")
    for share, r in results.items():
        later, last = r.summary["later_rounds"] or r.summary, r.summary["rounds_detail"][-1]
        x = later["hit_rate_explore"]
        t.add_row(
            f"{share:g}",
            f"{later['hit_rate_plan']:.4f}",
            f"{later['hit_rate_targeted']:.4f}",
            "–" if x is None else f"{x:.4f}",
            f"{later['lift']:.3f}",
            f"{last['auc_vs_realised']:.4f}",
            f"{last['captured_lift_5']:.4f}",
            f"{later['coverage']:.3f}",
        )
    return t


def simulate_rounds_command(
    plans: Annotated[int, typer.Option(min=1, help="Plans to draw in all (spread over markets x rounds).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the markets, lab outcomes and plan draws.")] = 0,
    markets: Annotated[int, typer.Option(min=1, help="Simulated markets.")] = 2,
    rounds: Annotated[int, typer.Option(min=1, help="plan → lab results → retrain cycles per market.")] = 3,
    listings: Annotated[int, typer.Option(min=100, help="Listings per market.")] = 8000,
    merchants: Annotated[int, typer.Option(min=10, help="Shops per market.")] = 1000,
    budget: Annotated[float, typer.Option(min=1, help="Budget per plan, yuan.")] = 400_000,
    epsilon: Annotated[float, typer.Option(min=0, max=0.99, help="Random arm's share of the budget (ε).")] = 0.5,
    explore: Annotated[
        list[float] | None,
        typer.Option(help=_EXPLORE_HELP + " Repeat it to compare shares on the same markets and draws."),
    ] = None,
    per_merchant_cap: Annotated[int | None, typer.Option(min=1, help="Most purchases per seller (none: no cap).")] = 2,
    model: Annotated[
        RoundsModel,
        typer.Option(help="team (the registered bundle's pipeline) or own (a quick LightGBM, ~20x faster)."),
    ] = RoundsModel.team,
    world: Annotated[
        RoundsWorld, typer.Option(help="a: the product's simulator; b: market B, written for evaluation only.")
    ] = RoundsWorld.a,
    per_plan: Annotated[bool, typer.Option(help="Print one row per plan (with a single --explore).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on the last line.")] = False,
) -> None:
    """Prove the planner honest by simulation: coverage and bias of its estimates, hit rates vs random and oracle."""
    import json

    from rich.console import Console

    from training.rounds import RoundsConfig, compare_explore

    console = Console(stderr=True)
    shares = _explore_shares(explore)
    config = RoundsConfig(
        plans=plans,
        seed=seed,
        markets=markets,
        rounds=rounds,
        n_listings=listings,
        n_merchants=merchants,
        budget=budget,
        epsilon=epsilon,
        per_merchant_cap=per_merchant_cap,
        model=model.value,
        world=world.value,
    )
    with console.status("simulating") as status:
        results = compare_explore(config, shares, progress=lambda msg: status.update(msg))
    out = Console() if Console().is_terminal else Console(width=150)
    if per_plan and len(results) == 1:
        out.print(_plans_table(next(iter(results.values()))))
    for result in results.values():
        _print_rounds(out, result)
    if len(results) > 1:
        out.print(_explore_table(results))
    if as_json:
        js = {f"{x:g}": r.summary for x, r in results.items()}
        doc = next(iter(js.values())) if len(js) == 1 else {"by_explore": js}
        print(json.dumps(doc, ensure_ascii=False, default=float))


def _print_rounds(out: Console, result: RoundsResult) -> None:
    """The rounds table and the study's headline numbers."""
    out.print(_rounds_table(result))
    s = result.summary
    out.print(
        f"{s['plans']} plans: coverage {s['coverage']:.3f} (±{s['coverage_mc_se']:.3f} MC), bias {s['bias']:+.4f} "
        f"(±{s['bias_mc_se']:.4f}), naive bias (targeted picks) {s['naive_bias']:+.3f}; hit rate targeted "
        f"{s['hit_rate_targeted']:.3f} vs random arm {s['hit_rate_random']:.3f} "
        f"(×{s['targeted_vs_random']}) vs oracle {s['hit_rate_oracle']:.3f}; market failure rate "
        f"{s['market_fail_rate']:.3f}; {s['seconds']} s"
    )


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
    from sampling.estimation import estimate

    for what, path in (("--plan", plan), ("--results", results)):
        if not path.is_file():
            fail(f"{what}: {path} does not exist")
    try:
        frame = pd.read_parquet(plan)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        fail(
            f"--plan: cannot read {plan} as a plan's design frame (plan.frame.parquet, from `choujian plan`): "
            f"{first_line(e)}"
        )
    try:
        lab = read_table(results, "lab_results")
    except RecordError as e:
        fail(f"--results: {first_line(e)}")
    try:
        rep = estimate(frame, lab, confidence=confidence)
    except (ValueError, KeyError) as e:
        fail(f"cannot estimate: {first_line(e)}")
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
            "–" if r.ht is None else f"{r.ht:.3f} [{r.ht_low:.3f}, {r.ht_high:.3f}]",
            hj,
            "–" if r.naive is None else f"{r.naive:.3f}",
        )
    (Console() if Console().is_terminal else Console(width=150)).print(table)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
    app.command("estimate")(estimate_command)
    app.command("simulate-rounds")(simulate_rounds_command)
