"""The `choujian` commands for the risk models: `train`, `evaluate`, `promote`, `models list|info`.

Registered on the one CLI in `cli/main.py` (section `# (models)`); heavy imports stay inside the
command functions so `choujian --help` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_REFUSED, fail, first_line, is_registry_error, model_problem

if TYPE_CHECKING:
    from serving.market_store import Export
    from training.config import TrainConfig
    from training.train import TrainResult

models_app = typer.Typer(help="Registered risk-model versions (MLflow registry).", no_args_is_help=True)

DEFAULT_CONFIG = Path("configs/train.yaml")


def _registry_or_file_problem(e: Exception, ref: str) -> None:
    """Fail with one line for a missing file, model, alias or version; re-raise anything else."""
    from features.market import RecordError

    if isinstance(e, FileNotFoundError | RecordError):
        fail(first_line(e))
    if is_registry_error(e):
        fail(model_problem(ref, e))
    raise e


@contextmanager
def _progress(what: str) -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time whose description each step updates (on stderr)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(), TextColumn(f"[bold]{what}[/bold] {{task.description}}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("starting", total=None)

        def step(msg: str) -> None:
            console.log(msg)
            bar.update(task, description=msg)

        yield step


def train_command(
    data: Annotated[
        Path | None, typer.Option("--data", help="Market directory (merchants/listings/reviews/lab_results).")
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Train on everything the service's store holds, lab results recorded through the API and the "
            "pages included (exported to a market directory first, as `choujian export` writes it).",
        ),
    ] = False,
    database_url: Annotated[
        str | None, typer.Option(help="Store URL with --store (default: CHOUJIAN_DATABASE_URL).")
    ] = None,
    export_root: ExportRoot = None,
    config: Annotated[Path, typer.Option("--config", help="Training config YAML.")] = DEFAULT_CONFIG,
    no_register: Annotated[bool, typer.Option("--no-register", help="Log the run but do not register.")] = False,
    listing_text: Annotated[
        bool | None,
        typer.Option(
            "--listing-text/--no-listing-text",
            help="Override the config's listing_text.enabled: the transformer listing text model as a feature.",
        ),
    ] = None,
) -> None:
    """Train the LightGBM risk models, log the run to MLflow, register the bundle as @challenger."""
    from models.registry import tracking_uri

    if (data is None) == (not from_store):
        fail("pass either --data DIR (a market directory) or --store (everything the service's store holds)")
    cfg = load_train_config(config, listing_text=listing_text)
    if from_store:
        data, _ = export_for_training("train", database_url=database_url, root=export_root)
    assert data is not None
    result = run_training(cfg, data, config_path=config, register=not no_register)
    shown = {k: round(v, 4) for k, v in sorted(result.metrics.items()) if k.startswith(("holdout_", "truth_"))}
    typer.echo(json.dumps(shown, indent=2))
    where = f"registered {result.bundle.name} version {result.version} as @challenger"
    typer.echo(f"run {result.run_id}: {where if not no_register else 'not registered'} ({tracking_uri()})")


def load_train_config(config: Path, *, listing_text: bool | None = None) -> TrainConfig:
    """The training config, with the command line's overrides; one line when it is missing."""
    from training.config import load_config

    if not config.is_file():
        fail(f"config {config} not found")
    cfg = load_config(config)
    if listing_text is not None:
        cfg = cfg.model_copy(update={"listing_text": cfg.listing_text.model_copy(update={"enabled": listing_text})})
    return cfg


#: where `--store` puts its export (a new folder per job under it)
ExportRoot = Annotated[
    Path | None,
    typer.Option(help="Folder for the store's export with --store (default: data/processed/store-exports)."),
]


def export_for_training(what: str, *, database_url: str | None, root: Path | None = None) -> tuple[Path, Export]:
    """The store exported to a new, kept market directory (`promote` later re-creates the challenger's holdout
    from it); fails with one line when the store has no lab results to learn from."""
    from cli.store import export_store, store_export_dir

    out = store_export_dir(what, root)
    exported = export_store(out, database_url=database_url)
    if not len(exported.market.lab_results):
        fail(
            "the store holds no lab results: nothing to learn from yet; record results of a plan (API or pages) "
            "or ingest a market with lab_results"
        )
    return out, exported


def run_training(cfg: TrainConfig, data: Path, *, config_path: Path | None, register: bool = True) -> TrainResult:
    """`training.train.train` with a progress display; a bad market is one line."""
    from features.market import RecordError
    from models.review_cache import use_default_score_store
    from training.train import train

    use_default_score_store()
    try:
        with _progress("train") as step:
            return train(cfg, data, config_path=config_path, register=register, progress=step)
    except (RecordError, FileNotFoundError) as e:
        fail(first_line(e))


def evaluate_command(
    data: Annotated[Path, typer.Option("--data", help="Simulated market directory (with ground truth).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON; plots go next to it.")] = Path(
        "reports/evaluation.json"
    ),
    model: Annotated[str, typer.Option(help="Alias, version number, models:/ URI or bundle folder.")] = "challenger",
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log an evaluate run.")] = False,
    cross_world: Annotated[
        bool,
        typer.Option(
            "--cross-world/--no-cross-world",
            help="Also refit the model's recipe on simulated worlds a and b: per-world ablations and the "
            "train-on-one / test-on-the-other matrix (key cross_world).",
        ),
    ] = False,
    world_seeds: Annotated[str, typer.Option(help="--cross-world: seeds, comma-separated.")] = "7",
    world_merchants: Annotated[int, typer.Option(min=10, help="--cross-world: shops per world.")] = 1000,
    world_listings: Annotated[int, typer.Option(min=100, help="--cross-world: listings per world.")] = 15_000,
    world_ablations: Annotated[
        str, typer.Option(help="--cross-world: ablations, comma-separated, or all (see training.crossworld).")
    ] = "all",
    world_transformer: Annotated[
        bool,
        typer.Option(
            "--world-transformer/--no-world-transformer",
            help="--cross-world: with the model's transformer models (adds the no_transformer ablation).",
        ),
    ] = False,
) -> None:
    """Compare random, rules, TF-IDF+LR, LightGBM, LightGBM+transformer and the oracle on held-out listings."""
    from cli.worlds import parse_ablations, parse_seeds
    from models.review_cache import use_default_score_store
    from training.crossworld import CrossWorldRun
    from training.evaluate import evaluate

    if not data.is_dir():
        fail(f"--data: {data} is not a directory")
    run = None
    if cross_world:
        ablations = parse_ablations(world_ablations, transformer=world_transformer, option="--world-ablations")
        run = CrossWorldRun(
            seeds=tuple(parse_seeds(world_seeds, option="--world-seeds")),
            merchants=world_merchants,
            listings=world_listings,
            ablations=tuple(ablations),
            transformer=world_transformer,
        )
    use_default_score_store()
    try:
        with _progress("evaluate") as step:
            report = evaluate(data, model=model, out=out, log_to_mlflow=not no_mlflow, cross_world=run, progress=step)
    except Exception as e:
        _registry_or_file_problem(e, model)
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"hit rate on {report['data']['n_holdout']:,} held-out listings (model v{report['model']['version']})"
    )
    table.add_column("budget")
    for name in ("random", "rules", "tfidf_lr", "lightgbm", "lightgbm_transformer", "oracle", "captured_lift"):
        table.add_column(name, justify="right")
    for share, row in report["ranking"].items():
        cells = [
            f"{row[n]:.3f}" if isinstance(row.get(n), float) else "-"
            for n in ("random", "rules", "tfidf_lr", "lightgbm", "lightgbm_transformer", "oracle", "captured_lift")
        ]
        table.add_row(f"{float(share):.0%}", *cells)
    Console().print(table)
    rv = report["review"]
    if rv.get("accuracy") is not None:
        typer.echo(
            f"review model: accuracy {rv['accuracy']:.4f} vs baseline {rv['baseline_accuracy']:.4f} "
            f"on {rv['n_test']} test reviews"
        )
    if "cross_world" in report:
        from cli.worlds import world_table

        Console().print(world_table(report["cross_world"]))
    typer.echo(f"target captured_lift@5% >= 0.8: {'met' if report['target']['met'] else 'NOT met'}; wrote {out}")


def promote_command(
    data: Annotated[
        Path | None, typer.Option("--data", help="Market directory (default: the challenger's training data).")
    ] = None,
    metric: Annotated[str, typer.Option(help="lab_fail_pr_auc (observed, 1/π-weighted) or truth_* metrics.")] = (
        "lab_fail_pr_auc"
    ),
    min_gain: Annotated[float, typer.Option(help="The challenger must beat the champion by more than this.")] = 0.0,
) -> None:
    """Move @champion to @challenger only if it wins on the challenger's holdout; say why not otherwise."""
    from training.registry import promote

    try:
        with _progress("promote") as step:
            step("comparing challenger and champion on the same holdout")
            decision = promote(data_dir=data, metric=metric, min_gain=min_gain)
    except ValueError as e:
        fail(first_line(e))
    except Exception as e:
        _registry_or_file_problem(e, "challenger")
    for note in decision.notes or []:
        typer.echo(f"note: {note}")
    if not decision.promoted:
        # a refusal is an answer, not an error, but scripts must not mistake it for a promotion
        typer.secho(f"not promoted: {first_line(decision.reason)}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(EXIT_REFUSED)
    typer.secho(f"promoted: {decision.reason}", fg=typer.colors.GREEN)


@models_app.command("list")
def models_list() -> None:
    """Registered versions with their aliases and headline tags."""
    from rich.console import Console
    from rich.table import Table

    from models.registry import REGISTERED_MODEL, configure, list_versions

    configure()
    rows = list_versions()
    if not rows:
        typer.echo(f"no versions of {REGISTERED_MODEL} yet: run `choujian train`")
        return
    table = Table(title=REGISTERED_MODEL)
    for c in ("version", "aliases", "run", "lab-tested", "holdout PR-AUC", "captured lift 5%"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            r.version,
            ", ".join(r.aliases),
            (r.run_id or "")[:8],
            r.tags.get("n_lab_labelled", ""),
            r.tags.get("holdout_lab_fail_pr_auc", ""),
            r.tags.get("captured_lift_0.05", ""),
        )
    Console().print(table)


@models_app.command("info")
def models_info(
    ref: Annotated[str, typer.Argument(help="Alias (champion, challenger) or version number.")] = "champion",
) -> None:
    """Registry entry, parameters and metrics of one version, as JSON."""
    from models.registry import configure, version_info

    configure()
    try:
        info = version_info(ref)
    except Exception as e:  # MLflow raises its own exception types for unknown aliases/versions
        if not is_registry_error(e):
            raise
        fail(f"no version {ref!r} of the registered model ({first_line(e)}): `choujian models list` shows them")
    typer.echo(json.dumps(info, ensure_ascii=False, indent=2, default=str))


def register(app: typer.Typer) -> None:
    """Attach the model commands to the `choujian` app."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("promote")(promote_command)
    app.add_typer(models_app, name="models")
