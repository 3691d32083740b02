"""Drift of the market the service holds from the serving model's training market, computed once per
(model version, market fingerprint) and kept: `/v1/model` and the overview page read it.

The computation is `models.drift` (pure); this module only decides when it runs. `/v1/model` never scores the
market for it: before the market is scored by this model (the first plan, the overview page, or the warm-up
at start), the answer says so.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from models import drift

if TYPE_CHECKING:
    from serving.runtime import LoadedModel, ScoredMarket
    from serving.settings import Settings

logger = logging.getLogger(__name__)

DriftStatus = Literal["ok", "warning", "no_profile", "not_scored", "computing"]


class DriftOut(BaseModel):
    """How the market the service holds differs from the model's training market."""

    status: DriftStatus = Field(
        description="ok; warning (a PSI reached the threshold); no_profile (a model trained before training "
        "profiles); not_scored (the market is not scored by this model yet: plans and the overview score it); "
        "computing (being computed in the background: ask again in a few seconds)"
    )
    message: str
    model_version: str
    market_fingerprint: str | None = None
    report: drift.DriftReport | None = None


_Key = tuple[str, str, float, int]


@dataclass
class DriftCache:
    """The last drift computed, by (model version, market fingerprint, settings); one computation at a time."""

    _key: _Key | None = None
    _value: DriftOut | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: _Key | None = None

    def get(
        self, model: LoadedModel, scored: ScoredMarket | None, settings: Settings, *, wait: bool = True
    ) -> DriftOut:
        """The drift of `scored` (the market scored by `model`), or why there is none.

        With `wait=False` (the API) a drift not yet computed is computed in a background thread and the answer
        is `computing`: the key-feature pass over a large market takes seconds (about 5 s for 40,000 listings).
        """
        version = str(model.info.version)
        profile = drift.profile_of(getattr(model.scorer, "metadata", None))
        if profile is None:
            return DriftOut(
                status="no_profile",
                message=f"model version {version} has no training profile (trained before drift profiles): "
                "retrain to see drift",
                model_version=version,
            )
        if scored is None:
            return DriftOut(
                status="not_scored",
                message="the market is not scored by this model yet: drift shows once a plan or the overview "
                "page has scored it",
                model_version=version,
            )
        key = (version, scored.fingerprint, settings.drift_psi_warn, settings.drift_min_listings)
        if not wait:
            if self._key == key and self._value is not None:
                return self._value
            if self._pending != key:
                self._pending = key
                args = (model, scored, settings)
                threading.Thread(target=self._background, args=args, name="drift", daemon=True).start()
            return DriftOut(
                status="computing",
                message="drift of this market is being computed: ask again in a few seconds",
                model_version=version,
                market_fingerprint=scored.fingerprint,
            )
        with self._lock:
            if self._key == key and self._value is not None:
                return self._value
            report = drift.compare(
                profile,
                drift.drift_frame(scored.market, scored.scores),
                threshold=settings.drift_psi_warn,
                min_category=settings.drift_min_listings,
            )
            value = DriftOut(
                status="warning" if report.warning else "ok",
                message=report.message,
                model_version=version,
                market_fingerprint=scored.fingerprint,
                report=report,
            )
            if report.warning:
                logger.warning("drift: model %s, market %s: %s", version, scored.fingerprint, report.message)
            self._key, self._value = key, value
            return value

    def _background(self, model: LoadedModel, scored: ScoredMarket, settings: Settings) -> None:
        try:
            self.get(model, scored, settings)
        except Exception:  # descriptive only: the API keeps answering `computing` and the log says why
            logger.exception("drift of market %s could not be computed", scored.fingerprint)
