"""Concurrent single-listing requests scored together: one pipeline pass for all that are waiting.

Scoring one listing is mostly fixed cost (a few pandas frames, one call into each fitted transformer and
each LightGBM model), so scoring 16 listings in one call takes little longer than scoring one. The
batcher keeps at most one scoring call in flight per process: a request that arrives while one runs
waits for it to finish and then goes, with every other request that arrived meanwhile, into the next
call. An idle server therefore adds no delay to a lone request, and a busy one amortises the fixed cost
over everything queued (the "natural" or adaptive batching of model servers).

A listing's scores depend only on its own records (`models.contract`), so a listing scored in company
gets exactly the scores it gets alone (tested). Requests are kept apart when they could interfere:
two that name the same listing or merchant id, whose listings (their own, or the stored ones of their
merchant that scoring with memory adds, `serving.context`) overlap, or that were captured with different
model versions, go into different calls. A request the merged call cannot take (a cross-record problem the
request schemas could not see) is scored on its own, so the error it gets names its own fields.

What the store holds of each request's merchant (scoring with memory, `serving.context`) is read here too, in
the scoring thread, for all the requests of a call at once: one query per table instead of one set per request,
and no thread hop of its own in each request. Each request still gets exactly its own context.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from features.records import LabResult, Listing, Merchant, Review
from serving.context import ContextQuery, StoredRecords
from serving.runtime import LoadedModel
from serving.schemas import ScoredListing

logger = logging.getLogger(__name__)

#: score_records's signature: (model, settings, *, merchants, listings, reviews, lab_results) -> results
ScoreFn = Callable[..., list[ScoredListing]]
#: `serving.context.read_contexts` bound to the app's sessions: each query's stored records
ContextFn = Callable[[Sequence[ContextQuery]], list[StoredRecords]]


@dataclass
class _Job:
    model: LoadedModel
    merchant: Merchant
    listing: Listing
    reviews: Sequence[Review]
    lab_results: Sequence[LabResult]
    future: asyncio.Future[ScoredListing] = field(repr=False)
    context: StoredRecords | None = None

    def listing_ids(self) -> set[str]:
        """The listings this job brings to a call: its own, and its merchant's stored ones."""
        return {self.listing.listing_id} | (self.context.listing_ids if self.context is not None else set())


class ScoreBatcher:
    """Coalesces concurrent `score_one` calls into `score_fn` calls of at most `max_batch` listings."""

    def __init__(self, score_fn: ScoreFn, settings: Any, *, max_batch: int = 64, contexts: ContextFn | None = None):
        """`contexts`: reads what the store holds of the requests' merchants (None: the request bodies alone)."""
        self._score = score_fn
        self._settings = settings
        self._contexts = contexts
        self.max_batch = max_batch
        self._pending: list[_Job] = []
        self._running = False
        #: calls made and listings scored (for the metrics and the tests)
        self.calls = 0
        self.listings = 0

    async def score_one(
        self,
        model: LoadedModel,
        *,
        merchant: Merchant,
        listing: Listing,
        reviews: Sequence[Review] = (),
        lab_results: Sequence[LabResult] = (),
    ) -> ScoredListing:
        """The listing's result, scored alone or together with other requests waiting at the same time (with
        the store's records of its merchant, when the batcher reads them)."""
        loop = asyncio.get_running_loop()
        job = _Job(model, merchant, listing, reviews, lab_results, loop.create_future())
        self._pending.append(job)
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await job.future

    def _take(self) -> list[_Job]:
        """The next call's jobs: pending ones, in arrival order, that share a model and repeat no id."""
        batch, self._pending = _apart(self._pending, self.max_batch)
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._take()
                try:
                    results = await loop.run_in_executor(None, self._run, batch)
                except Exception as e:  # noqa: BLE001 - handed to the waiting requests, which re-raise it
                    results = [e] * len(batch)
                for job, res in zip(batch, results, strict=True):
                    if job.future.done():  # the client went away
                        continue
                    if isinstance(res, BaseException):
                        job.future.set_exception(res)
                    else:
                        job.future.set_result(res)
        finally:
            self._running = False

    def _call(self, jobs: Sequence[_Job]) -> list[ScoredListing]:
        return self._score(
            jobs[0].model,
            self._settings,
            merchants=[j.merchant for j in jobs],
            listings=[j.listing for j in jobs],
            reviews=[r for j in jobs for r in j.reviews],
            lab_results=[r for j in jobs for r in j.lab_results],
            context=StoredRecords.merge(j.context for j in jobs),
        )

    def _run(self, batch: Sequence[_Job]) -> list[ScoredListing | BaseException]:
        """Score `batch` (in a worker thread): the jobs' stored contexts read together, then one call, or more
        where stored listings would overlap; results in the batch's order."""
        if self._contexts is None:
            return self._scored(batch)
        try:
            queries = [ContextQuery([j.merchant], [j.listing], j.reviews, j.lab_results) for j in batch]
            contexts = self._contexts(queries)
        except Exception as e:  # noqa: BLE001 - the store failed: every request of the call gets the error
            return [e] * len(batch)
        for job, context in zip(batch, contexts, strict=True):
            job.context = context
        results: dict[int, ScoredListing | BaseException] = {}
        rest = list(batch)
        while rest:  # a job whose stored listings another one names waits for a later call
            group, rest = _apart(rest, len(rest))
            results.update(zip(map(id, group), self._scored(group), strict=True))
        return [results[id(job)] for job in batch]

    def _scored(self, batch: Sequence[_Job]) -> list[ScoredListing | BaseException]:
        """Score `batch` in one call; one by one when that call fails. Results in the batch's order."""
        self.calls += 1
        self.listings += len(batch)
        if len(batch) > 1:
            try:
                return list(self._call(batch))  # score_records answers in the listings' order
            except Exception:  # noqa: BLE001 - some request in it is at fault: find which, one by one
                logger.debug("a merged scoring call failed; scoring its %d requests one by one", len(batch))
        out: list[ScoredListing | BaseException] = []
        for job in batch:
            try:
                [result] = self._call([job])
                out.append(result)
            except Exception as e:  # noqa: BLE001 - this request's own error, raised in its own handler
                out.append(e)
        return out


def _apart(jobs: Sequence[_Job], most: int) -> tuple[list[_Job], list[_Job]]:
    """Jobs, in order, for one call (at most `most`, one model, no listing or merchant id twice), and the rest."""
    batch: list[_Job] = []
    rest: list[_Job] = []
    listing_ids: set[str] = set()
    merchant_ids: set[str] = set()
    for job in jobs:
        ids = job.listing_ids()
        fits = (
            len(batch) < most
            and (not batch or job.model is batch[0].model)
            and not ids & listing_ids
            and job.merchant.merchant_id not in merchant_ids
        )
        if fits:
            batch.append(job)
            listing_ids |= ids
            merchant_ids.add(job.merchant.merchant_id)
        else:
            rest.append(job)
    return batch, rest


__all__ = ["ScoreBatcher"]
