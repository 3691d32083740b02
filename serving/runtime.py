"""What the app holds while it runs: the loaded model (swappable atomically) and the scored market.

A request captures `ModelHolder.current` once and uses that object to the end, so a reload that swaps
the reference mid-request cannot give one response two models' numbers or fail it.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
from pydantic import BaseModel, Field

from features.market import Market, market_chunks, records_frame
from features.records import LabResult, Listing, Merchant, Review

if TYPE_CHECKING:
    from models.contract import RiskScorer
    from serving.settings import Settings

logger = logging.getLogger(__name__)


class ModelInfo(BaseModel):
    """What is serving: registry name, version and alias, when it was trained, and its holdout metrics."""

    name: str = Field(examples=["choujian-listing"])
    version: str = Field(examples=["3"])
    alias: str | None = Field(default=None, examples=["champion"])
    source: str = Field(description="what was loaded", examples=["models:/choujian-listing@champion"])
    trained_at: str | None = Field(default=None, description="training date (ISO 8601)", examples=["2026-11-23"])
    loaded_at: datetime
    metrics: dict[str, float] = Field(default_factory=dict, examples=[{"pr_auc_lab_fail": 0.61}])
    lexicon_version: str | None = Field(
        default=None,
        description="version of the lexicons the model was trained with (one per kind); phrases accepted since "
        "count only in a model trained after them",
        examples=["absolute_claim=2026.11-1;efficacy_claim=2026.11-1;counterfeit_cue=2026.11-2"],
    )


@dataclass(frozen=True)
class LoadedModel:
    """A scorer and what we know about it; immutable so it can be shared across threads."""

    scorer: RiskScorer
    info: ModelInfo


Loader = Callable[[], LoadedModel]


class ModelHolder:
    """Holds the current model; `reload` builds the new one fully before swapping the reference."""

    def __init__(self, loader: Loader, *, settle: bool = True):
        """`settle`: freeze the heap after each load (`settle_heap`)."""
        self._loader = loader
        self._settle = settle
        self._current: LoadedModel | None = None
        self._reload_lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def reload(self) -> LoadedModel:
        """Load a model and swap it in; on failure the old one keeps serving and the error is raised."""
        with self._reload_lock:  # one reload at a time; readers never wait on this lock
            try:
                new = self._loader()
            except Exception as e:
                self.last_error = f"{type(e).__name__}: {e}"
                raise
            self._current = new  # a single reference assignment: atomic for readers
            self.last_error = None
            logger.info("serving model %s version %s", new.info.name, new.info.version)
            if self._settle:
                settle_heap()
            return new


def settle_heap() -> None:
    """Take what is alive now (the model just loaded) out of the garbage collector's full passes.

    A loaded bundle is some 440,000 Python objects (vocabularies, trees, lexicons), and every full collection
    walks them all: about 0.4 s with the interpreter held, a stall of every request in flight, for objects that
    live as long as the model. Frozen (`gc.freeze`), they are skipped; forked workers inherit that and, as
    the `gc` documentation advises before a fork, no collection in them writes to the pages they share with
    the parent. What an earlier call froze (a model replaced since) is unfrozen and collected first, so a
    reload leaks nothing."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _flatten_metrics(raw: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            out.update(_flatten_metrics(v, f"{prefix}{k}." if not isinstance(v, int | float) else f"{prefix}{k}"))
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        out[prefix.rstrip(".")] = float(raw)
    return out


def describe(scorer: RiskScorer, *, source: str, alias: str | None) -> ModelInfo:
    """Model info from the scorer and the metadata its bundle carries (training date, metrics)."""
    meta: dict[str, Any] = dict(getattr(scorer, "metadata", {}) or {})
    summary = meta.get("summary") if isinstance(meta.get("summary"), dict) else {}
    trained = next(
        (
            str(d[k])
            for d in (meta, summary)
            for k in ("trained_at", "training_date", "created_at", "date")
            if isinstance(d, dict) and d.get(k)
        ),
        None,
    )
    metrics = _flatten_metrics(meta.get("metrics", {}))
    if not metrics and isinstance(summary, dict):
        metrics = _flatten_metrics({k: v for k, v in summary.items() if isinstance(v, int | float)})
    return ModelInfo(
        name=str(scorer.name),
        version=str(scorer.version),
        alias=alias,
        source=source,
        trained_at=trained,
        loaded_at=datetime.now(UTC),
        metrics=metrics,
        lexicon_version=_lexicon_version(meta),
    )


def _lexicon_version(meta: dict[str, Any]) -> str | None:
    lex = meta.get("lexicon")
    if isinstance(lex, dict) and lex.get("version"):
        return str(lex["version"])
    return None


def registry_loader(settings: Settings) -> Loader:
    """Load from the MLflow registry alias (or `CHOUJIAN_MODEL_URI`) through the registry engineer's loader."""

    def load() -> LoadedModel:
        from models.registry import load_scorer, registry_facts

        ref = settings.model_uri or settings.model_alias
        scorer = load_scorer(ref, registered_model=settings.model_name)
        alias = None if settings.model_uri else settings.model_alias
        source = settings.model_uri or f"models:/{settings.model_name}@{settings.model_alias}"
        info = describe(scorer, source=source, alias=alias)
        if str(scorer.version).isdigit():  # a registered version (a local folder is "unregistered")
            trained, metrics = registry_facts(settings.model_name, str(scorer.version))
            info = info.model_copy(
                update={"trained_at": trained or info.trained_at, "metrics": metrics or info.metrics}
            )
        return LoadedModel(scorer=scorer, info=info)

    return load


# --- records → Market: the same validation and dtypes as `load_market` --------------------------------
def _frame(records: Sequence[BaseModel], name: str) -> pd.DataFrame:
    # the request's records were validated when the body was parsed: type them as the loader does
    return records_frame(records, name, source=f"request {name}")


def market_from_records(
    *,
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review],
    lab_results: Sequence[LabResult] = (),
) -> Market:
    """A Market built from request records by the loader's own validation, so dtypes match files exactly."""
    return Market(
        merchants=_frame(merchants, "merchants"),
        listings=_frame(listings, "listings"),
        reviews=_frame(reviews, "reviews"),
        lab_results=_frame(lab_results, "lab_results"),
    )


# --- the current market: plan candidates ---------------------------------------------------------------
def fingerprint_dir(directory: Path) -> str:
    """Cheap identity of a market folder: names, sizes and modification times of its table files."""
    h = hashlib.sha256()
    for p in sorted(directory.glob("*")):
        if p.suffix in (".parquet", ".csv"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


@dataclass
class ScoredMarket:
    """The current market, scored by one model version."""

    market: Market
    scores: pd.DataFrame  # RiskScorer.score_frame output
    fingerprint: str
    model_version: str


class MarketSource(Protocol):
    """Another place the market may come from (the store: `serving.market_store.StoreMarketSource`)."""

    def fingerprint(self) -> str | None:
        """A cheap identity of its current market; None when it has none and the folder serves instead."""

    def load(self) -> Market:
        """Its current market."""


@dataclass
class MarketCache:
    """Loads and scores the market folder (or `source`, when it has a market) once per (fingerprint, model
    version); reloads when either changes."""

    directory: Path
    source: MarketSource | None = None
    _cached: ScoredMarket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: set while a request waits for the market: a paced warm-up stops pausing and finishes at full speed
    _hurry: threading.Event = field(default_factory=threading.Event)

    def peek(self, model: LoadedModel) -> ScoredMarket | None:
        """The market already scored by `model`, without loading or scoring anything (None: not yet)."""
        c = self._cached
        return c if c is not None and c.model_version == model.info.version else None

    def get(self, model: LoadedModel, *, pace: float = 0.0, forked: bool = False) -> ScoredMarket:
        """The scored market for `model`; raises FileNotFoundError / RecordError when there is none.

        `pace` > 0 (the start-up warm-up): score in chunks of whole merchants and rest `pace` times as long
        as each chunk took, so the requests served meanwhile keep the interpreter most of the time. A
        request that needs the market meanwhile ends the rests. Chunked or not, the scores are the same
        (a listing's risks depend only on its own records and its merchant's: `Market.subset`).

        `forked` with `pace` > 0: the market is loaded and scored at full speed in a child forked from this
        process (`serving.isolation`; it shares the model copy-on-write and sends back the market and its
        scores), so the requests served meanwhile keep this process's interpreter, and the memory scoring
        churns through goes with the child. If the child fails, the paced scoring here takes over.
        """
        source_fp = self.source.fingerprint() if self.source is not None else None
        if source_fp is None and not self.directory.is_dir():
            raise FileNotFoundError(f"no market at {self.directory} (set CHOUJIAN_MARKET_DIR or run choujian simulate)")
        fp = source_fp or fingerprint_dir(self.directory)
        if pace <= 0:
            c = self._cached
            if c is not None and c.fingerprint == fp and c.model_version == model.info.version:
                return c
            self._hurry.set()
        with self._lock:  # concurrent plan requests share one scoring pass
            c = self._cached
            if c is not None and c.fingerprint == fp and c.model_version == model.info.version:
                return c
            self._hurry.clear()
            stored = self.source.load() if source_fp is not None and self.source else None
            market, scores = self._score(model.scorer, stored, pace=pace, forked=forked)
            self._cached = ScoredMarket(market=market, scores=scores, fingerprint=fp, model_version=model.info.version)
            logger.info("scored market %s (%d listings) with model %s", fp, len(scores), model.info.version)
            return self._cached

    def _score(
        self, scorer: RiskScorer, market: Market | None, *, pace: float, forked: bool
    ) -> tuple[Market, pd.DataFrame]:
        """The market (`market`, or the folder's when None) and its scores. With `forked` and `pace` > 0 (the
        warm-up while serving), the folder's market is also loaded and validated in the child, which sends
        it back with the scores; a market read from the store is read here (a child must not use this
        process's database connections) and only scored there."""
        from features.market import load_market
        from serving import isolation

        if forked and pace > 0 and isolation.CAN_FORK:
            try:
                if market is None:
                    folder = self.directory
                    return isolation.run_forked(lambda: _load_and_score(scorer, folder), timeout_s=WARM_CHILD_TIMEOUT_S)
                given = market
                return market, isolation.run_forked(lambda: scorer.score_frame(given), timeout_s=WARM_CHILD_TIMEOUT_S)
            except isolation.ChildFailed as e:  # also a file the child could not load: it is raised again here
                logger.warning("start-up scoring in a child failed (%s): here instead, paced", e)
        if market is None:
            market = load_market(self.directory)
        return market, score_in_chunks(scorer, market, pace=pace, hurry=self._hurry)


def _load_and_score(scorer: RiskScorer, folder: Path) -> tuple[Market, pd.DataFrame]:
    from features.market import load_market

    market = load_market(folder)
    return market, scorer.score_frame(market)


#: how long the start-up scoring may take in its child before it is killed and the paced scoring takes over
WARM_CHILD_TIMEOUT_S = 3600.0


def score_in_chunks(
    scorer: RiskScorer,
    market: Market,
    *,
    pace: float = 0.0,
    hurry: threading.Event | None = None,
    chunk: int = 2_000,
) -> pd.DataFrame:
    """`scorer.score_frame(market)`; with `pace` > 0, chunk by chunk of whole merchants (about `chunk`
    listings each), resting `pace` times each chunk's duration after it unless `hurry` is set."""
    if pace <= 0 or len(market.listings) <= chunk:
        return scorer.score_frame(market)
    parts: list[pd.DataFrame] = []
    for part in market_chunks(market, chunk):
        started = time.perf_counter()
        parts.append(scorer.score_frame(part))
        if hurry is None or not hurry.is_set():
            time.sleep(pace * (time.perf_counter() - started))
    scores = pd.concat(parts, ignore_index=True)
    # the whole market's order: the order score_frame itself answers in
    order = pd.Index(scores["listing_id"].astype(str)).get_indexer(pd.Index(market.listings["listing_id"].astype(str)))
    return scores.iloc[order].reset_index(drop=True)
