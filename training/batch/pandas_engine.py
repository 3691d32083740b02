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
    write_parquet_atomic,
)

logger = logging.getLogger(__name__)


def merchant_chunks(listings: pd.DataFrame, chunk_size: int) -> list[np.ndarray]:
    """Positions of `listings` (in file order) grouped into chunks of about `chunk_size` listings that
    never split a merchant: its complaint score depends on all its listings (`features.merchant_frame`)."""
    codes, _ = pd.factorize(listings["merchant_id"].astype(str))  # merchants in order of first listing
    counts = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    chunk_of_merchant = np.empty(len(counts), dtype=np.int64)
    chunk, filled = 0, 0
    for m, n in enumerate(counts.tolist()):
        if filled and filled + n > chunk_size:
            chunk, filled = chunk + 1, 0
        chunk_of_merchant[m] = chunk
        filled += n
    of_listing = chunk_of_merchant[codes]
    order = np.argsort(of_listing, kind="stable")  # stable: file order inside each chunk
    bounds = np.searchsorted(of_listing[order], np.arange(chunk + 2)) if len(codes) else np.zeros(1, dtype=np.int64)
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def iter_chunks(market: Market, chunk_size: int) -> Iterator[Market]:
    """Split a market into sub-markets of whole merchants (about `chunk_size` listings each), each with
    those merchants' listings and the listings' reviews and lab results, all in file order."""
    listings = market.listings
    chunks = merchant_chunks(listings, chunk_size)
    chunk_of = pd.Series(np.zeros(len(listings), dtype=np.int64), index=listings["listing_id"].astype(str).to_numpy())
    for k, rows in enumerate(chunks):
        chunk_of.iloc[rows] = k
    children = {
        name: (df, df.groupby(df["listing_id"].astype(str).map(chunk_of).to_numpy()).indices if len(df) else {})
        for name, df in (("reviews", market.reviews), ("lab_results", market.lab_results))
    }
    merchants = market.merchants.set_index(market.merchants["merchant_id"].astype(str), drop=False)
    for k, rows in enumerate(chunks):
        part = listings.iloc[rows].reset_index(drop=True)
        tables = {"listings": part, "merchants": merchants.loc[part["merchant_id"].astype(str).unique()]}
        for name, (df, index) in children.items():
            tables[name] = df.iloc[np.sort(index[k])] if k in index else df.iloc[0:0]
        yield Market(**{name: df.reset_index(drop=True) for name, df in tables.items()})


def score_pandas(
    input_dir: str | Path,
    output: str | Path,
    *,
    scorer: RiskScorer,
    chunk_size: int = 20_000,
    overwrite: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Score every listing of a local market directory into one Parquet file at `output`, in the
    listings' file order, calling the scorer on chunks of whole merchants."""
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
    frame = empty_scores()
    if parts:
        # back to the listings' file order (chunks group listings by merchant)
        frame = pd.concat(parts).set_index("listing_id").loc[pd.Index(market.listings["listing_id"].astype(str))]
        frame = frame.reset_index()
    phases["score"] = time.perf_counter() - t

    t = time.perf_counter()
    write_parquet_atomic(frame, out, overwrite=overwrite)
    phases["write"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    logger.info("wrote %d scores to %s in %.1fs", n, out, seconds)
    return BatchResult(engine="pandas", output=str(out), n_listings=n, seconds=seconds, phases=phases)
