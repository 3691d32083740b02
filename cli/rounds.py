"""`choujian round`: one cycle of a planner's team, on the service's store.

export the store (recorded lab results included, with their plans' inclusion probabilities) → retrain
(`@challenger`) → compare with the champion on the challenger's holdout (`training.registry.promote`) →
promote or keep the champion, with the reason → draw the next plan with the champion and store it in the
service's database (`serving.service.create_plan`, the code `POST /v1/plans` and the pages use, so planners
see it) → write a round report (Markdown and JSON) under `reports/`.

Each step is the one path its own command takes (`export`, `train`, `promote`, `POST /v1/plans`); this
module only strings them together and writes down what happened. (`training.rounds` simulates such rounds
against a simulator's truth; this is the real one.)
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import fail, first_line, is_registry_error
from cli.models import DEFAULT_CONFIG, ExportRoot, export_for_training, load_train_config, run_training
from core.paths import REPORTS_DIR
from sampling.plan_config import DEFAULT_EXPLORE, EXPLORE_HELP

if TYPE_CHECKING:
    from serving.settings import Settings
    from training.registry import PromotionDecision

logger = logging.getLogger(__name__)

#: who the stored plan says created it (plans made through the API name a key id)
ROUND_CREATOR = "choujian-round"


def _champion_before() -> tuple[str | None, str | None]:
    """The champion's version and training time (ISO 8601), or (None, None) before the first round."""
    from models.registry import CHAMPION, REGISTERED_MODEL, configure, registry_facts, resolve_version

    configure()
    try:
        version = str(resolve_version(CHAMPION).version)
    except Exception as e:
        if is_registry_error(e):
            return None, None
        raise
    trained, _ = registry_facts(REGISTERED_MODEL, version)
    return version, trained


def _labels_since(settings: Settings, since: str | None) -> tuple[int, int]:
    """Lab results recorded through the service in all, and after `since` (the champion's training)."""
    from sqlalchemy import func, select

    from serving.db import LabResultRow, make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            total = int(s.scalar(select(func.count()).select_from(LabResultRow)) or 0)
            if since is None:
                return total, total
            when = datetime.fromisoformat(since)
            new = s.scalar(select(func.count()).select_from(LabResultRow).where(LabResultRow.recorded_at > when))
            return total, int(new or 0)
    finally:
        engine.dispose()


def _draw_plan(
    settings: Settings, *, budget: float, epsilon: float, explore: float, cap: int | None, seed: int, name: str
) -> Any:
    """The next plan, drawn on the store's market with the champion and stored as `POST /v1/plans` stores it."""
    from models.registry import CHAMPION, REGISTERED_MODEL, load_scorer
    from serving.db import make_engine, make_sessionmaker
    from serving.market_store import StoreMarketSource
    from serving.runtime import LoadedModel, MarketCache, describe
    from serving.schemas import PlanCreate
    from serving.service import create_plan

    scorer = load_scorer(CHAMPION)
    model = LoadedModel(
        scorer=scorer, info=describe(scorer, source=f"models:/{REGISTERED_MODEL}@{CHAMPION}", alias=CHAMPION)
    )
    engine, reader = make_engine(settings.database_url), make_engine(settings.database_url, read_only=True)
    try:
        cache = MarketCache(settings.market_dir, source=StoreMarketSource(reader, mode="store"))
        body = PlanCreate(name=name, budget=budget, epsilon=epsilon, explore=explore, per_merchant_cap=cap, seed=seed)
        with make_sessionmaker(engine)() as session:
            row = create_plan(session, model, cache, settings, body, created_by=ROUND_CREATOR)
            s = dict(row.summary or {})
            return {
                "plan_id": row.plan_id,
                "name": row.name,
                "model_version": row.model_version,
                "n_candidates": int(row.n_candidates),
                "n_targets": int(row.n_targets),
                "budget": float(row.budget),
                "cost": round(float(row.spent), 2),
                "expected_failures": round(float(s.get("expected_failures", 0.0)), 2),
                "expected_cost": round(float(s.get("expected_total_cost", row.spent)), 2),
                "epsilon": float(row.epsilon),
                "explore": float(s.get("explore", 0.0)),
                "per_merchant_cap": row.per_merchant_cap,
                "seed": int(row.seed),
            }
    finally:
        engine.dispose()
        reader.dispose()


def _rounded(values: dict[str, float] | None) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in sorted((values or {}).items())}


def _decision_dict(d: PromotionDecision, train_metrics: dict[str, float]) -> dict[str, Any]:
    first = d.promoted and d.champion_before is None
    challenger_metrics = d.challenger_metrics or {k: v for k, v in train_metrics.items() if k.startswith("holdout_")}
    return {
        "promoted": d.promoted,
        "first_champion": first,
        "reason": d.reason,
        "metric": d.metric,
        "challenger_score": d.challenger_score,
        "champion_score": d.champion_score,
        "n_holdout": d.n_holdout,
        "notes": list(d.notes or []),
        "challenger_metrics": _rounded(challenger_metrics),
        "champion_metrics": _rounded(d.champion_metrics),
    }


def markdown(report: dict[str, Any]) -> str:
    """The round report as a short Markdown page."""
    m, d, p = report["models"], report["decision"], report["plan"]
    lines = [
        f"# Round {report['started_at'][:10]}",
        "",
        f"- store export: `{report['data_dir']}` ({report['data']['listings']:,} listings, "
        f"{report['data']['lab_results']:,} lab results, {report['data']['recorded']:,} of them recorded "
        "through the service)",
        f"- new labels since the champion was trained: **{report['new_labels']:,}** "
        f"(of {report['recorded_total']:,} recorded through the service)",
        f"- models: champion before v{m['champion_before'] or '–'}, challenger v{m['challenger']}, "
        f"champion now v{m['champion_after']}",
        "",
        "## Decision",
        "",
        f"**{'promoted' if d['promoted'] else 'not promoted'}**: {d['reason']}",
    ]
    lines += [f"- note: {n}" for n in d["notes"]]
    keys = sorted(set(d["challenger_metrics"]) | set(d["champion_metrics"]))
    if keys:
        lines += ["", "## Held-out metrics (same listings)", ""]
        lines += ["| metric | challenger | champion |", "|---|---:|---:|"]
        for k in keys:
            a, b = d["challenger_metrics"].get(k), d["champion_metrics"].get(k)
            fmt = "{:,.0f}" if k.endswith("_n") else "{:.4f}"  # counts are whole numbers
            lines.append(f"| {k} | {'–' if a is None else fmt.format(a)} | {'–' if b is None else fmt.format(b)} |")
    lines += ["", "## Next plan", ""]
    if p.get("plan_id"):
        lines += [
            f"- plan `{p['plan_id']}` drawn with v{p['model_version']} and stored for the planners",
            f"- {p['n_targets']:,} purchases, cost {p['cost']:,.0f} of {p['budget']:,.0f} yuan "
            f"(expected {p['expected_cost']:,.0f}), expected failures {p['expected_failures']:.1f}",
        ]
    else:
        lines.append(f"- not drawn: {p.get('error', 'unknown reason')}")
    return "\n".join(lines) + "\n"


def _write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"round-{report['started_at'][:19].replace(':', '').replace('T', '-')}"
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    js.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    md.write_text(markdown(report), encoding="utf-8")
    return md, js


def round_command(
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
    config: Annotated[Path, typer.Option("--config", help="Training config YAML.")] = DEFAULT_CONFIG,
    metric: Annotated[str, typer.Option(help="Promotion metric (as `choujian promote`).")] = "lab_fail_pr_auc",
    min_gain: Annotated[float, typer.Option(help="The challenger must beat the champion by more than this.")] = 0.0,
    budget: Annotated[float, typer.Option(min=1, help="Next plan's budget in yuan.")] = 50_000,
    epsilon: Annotated[float, typer.Option(min=0, max=0.99, help="Next plan's random arm share (ε).")] = 0.2,
    explore: Annotated[float, typer.Option(min=0, max=1, help="Next plan's " + EXPLORE_HELP + ".")] = DEFAULT_EXPLORE,
    per_merchant_cap: Annotated[int | None, typer.Option(min=1, help="Most purchases per seller.")] = 2,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the next plan's random arm.")] = 0,
    out_dir: Annotated[Path, typer.Option(help="Where the round report goes.")] = REPORTS_DIR,
    export_root: ExportRoot = None,
) -> None:
    """One round on the store: export → retrain → compare with the champion → promote or refuse → next plan → report."""
    from serving.settings import Settings
    from training.registry import promote

    started = datetime.now(UTC)
    cfg = load_train_config(config)
    settings = Settings() if database_url is None else Settings(database_url=database_url)
    champion_before, trained_at = _champion_before()
    data, exported = export_for_training("round", database_url=settings.database_url, root=export_root)
    recorded_total, new_labels = _labels_since(settings, trained_at)
    result = run_training(cfg, data, config_path=config)
    try:
        decision = promote(data_dir=data, metric=metric, min_gain=min_gain)
    except ValueError as e:
        fail(first_line(e))
    if decision.promoted and champion_before is None:
        typer.secho(f"first round: {decision.reason}", fg=typer.colors.GREEN)
    elif decision.promoted:
        typer.secho(f"promoted: {decision.reason}", fg=typer.colors.GREEN)
    else:
        typer.secho(f"not promoted: {first_line(decision.reason)}", fg=typer.colors.YELLOW)
    champion_after = result.version if decision.promoted else champion_before
    market = exported.market
    report: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "data_dir": str(data),
        "data": {
            "listings": len(market.listings),
            "lab_results": len(market.lab_results),
            "recorded": exported.recorded,
        },
        "recorded_total": recorded_total,
        "new_labels": new_labels,
        "models": {"champion_before": champion_before, "challenger": result.version, "champion_after": champion_after},
        "decision": _decision_dict(decision, result.metrics),
    }
    name = f"round {started:%Y-%m-%d}"
    try:
        report["plan"] = _draw_plan(
            settings, budget=budget, epsilon=epsilon, explore=explore, cap=per_merchant_cap, seed=seed, name=name
        )
    except Exception as e:  # the round's model work stands; the report says why no plan was drawn
        from serving.service import RequestProblem, Unavailable

        if not isinstance(e, RequestProblem | Unavailable) and not is_registry_error(e):
            raise
        report["plan"] = {"error": first_line(getattr(e, "msg", None) or e)}
    md, js = _write(report, out_dir)
    p = report["plan"]
    if p.get("plan_id"):
        typer.echo(
            f"next plan {p['plan_id']}: {p['n_targets']} purchases, {p['cost']:,.0f} of {p['budget']:,.0f} yuan, "
            f"expected failures {p['expected_failures']:.1f}"
        )
    typer.echo(f"{new_labels} new label(s) since the last champion; wrote {md} and {js}")
    if not p.get("plan_id"):
        fail(f"no plan drawn: {p['error']} (the round's report is written)")


def register(app: typer.Typer) -> None:
    app.command("round")(round_command)
