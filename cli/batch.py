"""`choujian score-batch`: score a whole catalogue with pandas or Spark into Parquet."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


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

    from cli.common import fail, first_line, load_scorer_or_fail
    from features.market import RecordError

    console = Console(stderr=True)
    try:
        if engine is BatchEngine.pandas:
            from training.batch import check_local_market, score_pandas

            check_local_market(input_dir)  # column errors before the model is loaded
            from models.review_cache import use_default_score_store

            use_default_score_store()
            scorer = load_scorer_or_fail(model)
            from training.batch.pandas_engine import default_workers

            result = score_pandas(
                input_dir,
                output,
                scorer=scorer,
                chunk_size=chunk_size,
                overwrite=overwrite,
                workers=workers or default_workers(),
            )
        else:
            from training.batch.spark_engine import SparkUnavailableError, inspect_market, score_spark, spark_session

            try:
                spark = spark_session(shuffle_partitions=partitions)
            except SparkUnavailableError as e:
                fail(first_line(e))
            inspect_market(spark, input_dir)  # column errors before the model is loaded
            scorer = load_scorer_or_fail(model)
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
        fail(first_line(e))
    console.print(
        f"scored {result.n_listings:,} listings with {scorer.name} {scorer.version} ({engine.value}) in "
        f"{result.seconds:.1f} s ({result.listings_per_second:,.0f} listings/s) → {result.output}"
    )


def register(app: typer.Typer) -> None:
    app.command("score-batch")(score_batch_command)
