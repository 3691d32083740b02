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
# (planner)
# (serving)
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
            result = score_spark(
                input_dir,
                output,
                scorer=scorer,
                spark=spark,
                partitions=partitions,
                batch_size=batch_size,
                overwrite=overwrite,
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
