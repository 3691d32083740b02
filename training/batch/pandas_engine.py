"""The single-machine engine: `load_market` (which validates every row) and `score_frame` in chunks."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from features.market import Market, load_market, market_chunks
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


def default_workers() -> int:
    """Processes to score with: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: what forked scoring processes read (set by the parent just before it forks them; copy-on-write)
_FORKED: tuple[RiskScorer, list[Market]] | None = None


def _score_forked(k: int) -> pd.DataFrame:
    assert _FORKED is not None
    scorer, chunks = _FORKED
    return scorer.score_frame(chunks[k])


def score_market(
    scorer: RiskScorer,
    market: Market,
    *,
    chunk_size: int = 20_000,
    workers: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """`scorer.score_frame` over chunks of whole merchants, in `workers` processes: every listing of
    `market` in its file order, with `listing_id`, `merchant_id` and the `p_<risk>` columns.

    A listing's scores depend only on its own records and its merchant's (`Market.subset`), so neither
    the chunking nor the process that scores a chunk changes a number. Worker processes are forked from
    this one after the model and the market are in memory (shared copy-on-write, nothing pickled but the
    scores); where `fork` is not available the chunks are scored here one after the other.
    """
    global _FORKED
    n = len(market.listings)
    if workers > 1 and n:
        # enough chunks to keep every worker busy to the end, none so small its fixed cost shows
        chunk_size = max(1, min(chunk_size, max(2_000, -(-n // (workers * 4)))))
    chunks = list(market_chunks(market, chunk_size))
    parts: list[pd.DataFrame] = []
    forkable = "fork" in mp.get_all_start_methods()
    if workers > 1 and len(chunks) > 1 and forkable:
        _FORKED = (scorer, chunks)
        try:
            ctx = mp.get_context("fork")
            with ctx.Pool(min(workers, len(chunks))) as pool:
                for k, scores in enumerate(pool.imap(_score_forked, range(len(chunks)))):
                    parts.append(check_scores(scores, chunks[k].listings["listing_id"], scorer_name=scorer.name))
                    if on_chunk:
                        on_chunk(len(chunks[k].listings))
        finally:
            _FORKED = None
    else:
        for chunk in chunks:
            scores = scorer.score_frame(chunk)
            parts.append(check_scores(scores, chunk.listings["listing_id"], scorer_name=scorer.name))
            if on_chunk:
                on_chunk(len(chunk.listings))
    if not parts:
        return empty_scores()
    # back to the listings' file order (chunks group listings by merchant)
    frame = pd.concat(parts).set_index("listing_id").loc[pd.Index(market.listings["listing_id"].astype(str))]
    return frame.reset_index()


def score_pandas(
    input_dir: str | Path,
    output: str | Path,
    *,
    scorer: RiskScorer,
    chunk_size: int = 20_000,
    overwrite: bool = False,
    progress: bool = True,
    workers: int = 1,
) -> BatchResult:
    """Score every listing of a local market directory into one Parquet file at `output`, in the
    listings' file order, calling the scorer on chunks of whole merchants in `workers` processes
    (`score_market`)."""
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(f"scoring (pandas, {workers} process{'es' if workers > 1 else ''})"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task("score", total=n)
        frame = score_market(
            scorer, market, chunk_size=chunk_size, workers=workers, on_chunk=lambda k: bar.advance(task, k)
        )
    phases["score"] = time.perf_counter() - t

    t = time.perf_counter()
    write_parquet_atomic(frame, out, overwrite=overwrite)
    phases["write"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    logger.info("wrote %d scores to %s in %.1fs", n, out, seconds)
    return BatchResult(engine="pandas", output=str(out), n_listings=n, seconds=seconds, phases=phases)
