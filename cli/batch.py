"""`choujian score-batch`: score a whole catalogue with pandas or Spark into Parquet."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from models.bundle import ScorerBundle
    from training.batch import BatchResult


class BatchEngine(StrEnum):
    pandas = "pandas"
    spark = "spark"


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
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="pandas: scoring processes (default: one per CPU); scores do not change."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Spark: listings per score_frame call (and rows per Arrow batch).")
    ] = 20_000,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output (atomically).")] = False,
) -> None:
    """Score every listing of a market into OUT.parquet: `listing_id` and one `p_<risk>` column per risk."""
    from rich.console import Console

    from cli.common import fail, first_line
    from features.market import RecordError

    console = Console(stderr=True)
    try:
        if engine is BatchEngine.pandas:
            scorer, result = _score_pandas(input_dir, output, model, chunk_size, workers, overwrite=overwrite)
        else:
            scorer, result = _score_spark(input_dir, output, model, partitions, batch_size, overwrite=overwrite)
    except (RecordError, FileExistsError, FileNotFoundError) as e:
        fail(first_line(e))
    console.print(
        f"scored {result.n_listings:,} listings with {scorer.name} {scorer.version} ({engine.value}) in "
        f"{result.seconds:.1f} s ({result.listings_per_second:,.0f} listings/s) → {result.output}"
    )


def _score_pandas(
    input_dir: str, output: str, model: str, chunk_size: int, workers: int | None, *, overwrite: bool
) -> tuple[ScorerBundle, BatchResult]:
    """The pandas engine: columns checked before the model is loaded, then one process per worker."""
    from cli.common import load_scorer_or_fail
    from models.review_cache import use_default_score_store
    from training.batch import check_local_market, score_pandas
    from training.batch.pandas_engine import default_workers

    check_local_market(input_dir)  # column errors before the model is loaded
    use_default_score_store()
    scorer = load_scorer_or_fail(model)
    result = score_pandas(
        input_dir,
        output,
        scorer=scorer,
        chunk_size=chunk_size,
        overwrite=overwrite,
        workers=workers or default_workers(),
    )
    return scorer, result


def _score_spark(
    input_dir: str, output: str, model: str, partitions: int | None, batch_size: int, *, overwrite: bool
) -> tuple[ScorerBundle, BatchResult]:
    """The Spark engine: a session (local[*], or spark-submit's), columns checked before the model is loaded."""
    from cli.common import fail, first_line, load_scorer_or_fail
    from models.review_cache import default_store_dir
    from training.batch.spark_engine import SparkUnavailableError, inspect_market, score_spark, spark_session

    try:
        spark = spark_session(shuffle_partitions=partitions)
    except SparkUnavailableError as e:
        fail(first_line(e))
    inspect_market(spark, input_dir)  # column errors before the model is loaded
    scorer = load_scorer_or_fail(model)
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
    return scorer, result


def register(app: typer.Typer) -> None:
    app.command("score-batch")(score_batch_command)
