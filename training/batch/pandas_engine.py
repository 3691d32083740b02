"""The single-machine engine: `load_market` (which validates every row) and `score_frame` in chunks."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from features.market import Market, load_market
from models.contract import RiskScorer
from training.batch.common import (
    BatchResult,
    check_local_market,
    check_output,
    check_scores,
    empty_scores,
    schema_columns,
    write_parquet_atomic,
)

logger = logging.getLogger(__name__)


def _empty_lab_results() -> pd.DataFrame:
    # lab results are labels, not scoring inputs (see models.contract): every engine scores without them
    return pd.DataFrame({c: pd.Series(dtype="object") for c in schema_columns("lab_results")})


def iter_chunks(market: Market, chunk_size: int) -> Iterator[Market]:
    """Split a market into sub-markets of at most `chunk_size` listings, each with its listings'
    merchants and reviews, in the listings' order."""
    n = len(market.listings)
    chunk_of = pd.Series(np.arange(n) // chunk_size, index=market.listings["listing_id"].to_numpy())
    review_rows = market.reviews.groupby(market.reviews["listing_id"].map(chunk_of).to_numpy()).indices
    merchants = market.merchants.set_index("merchant_id", drop=False)
    empty_reviews = market.reviews.iloc[0:0]
    for k, start in enumerate(range(0, n, chunk_size)):
        listings = market.listings.iloc[start : start + chunk_size].reset_index(drop=True)
        rows = review_rows.get(k)
        reviews = market.reviews.iloc[np.sort(rows)] if rows is not None else empty_reviews
        yield Market(
            merchants=merchants.loc[listings["merchant_id"].unique()].reset_index(drop=True),
            listings=listings,
            reviews=reviews.reset_index(drop=True),
            lab_results=_empty_lab_results(),
        )


def score_pandas(
    input_dir: str | Path,
    output: str | Path,
    *,
    scorer: RiskScorer,
    chunk_size: int = 20_000,
    overwrite: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Score every listing of a local market directory into one Parquet file at `output`."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    out = Path(output)
    t0 = time.perf_counter()
    check_output(out, overwrite=overwrite)
    check_local_market(input_dir)
    phases = {"check": time.perf_counter() - t0}

    t = time.perf_counter()
    market = load_market(input_dir)
    phases["load_validate"] = time.perf_counter() - t
    n = len(market.listings)
    logger.info("loaded %d listings, %d reviews in %.1fs", n, len(market.reviews), phases["load_validate"])

    t = time.perf_counter()
    parts: list[pd.DataFrame] = []
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("scoring (pandas)"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task("score", total=n)
        for chunk in iter_chunks(market, chunk_size):
            scores = scorer.score_frame(chunk)
            parts.append(check_scores(scores, chunk.listings["listing_id"], scorer_name=scorer.name))
            bar.advance(task, len(chunk.listings))
    frame = pd.concat(parts, ignore_index=True) if parts else empty_scores()
    phases["score"] = time.perf_counter() - t

    t = time.perf_counter()
    write_parquet_atomic(frame, out, overwrite=overwrite)
    phases["write"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    logger.info("wrote %d scores to %s in %.1fs", n, out, seconds)
    return BatchResult(engine="pandas", output=str(out), n_listings=n, seconds=seconds, phases=phases)
