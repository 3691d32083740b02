"""The scorer bundle: fitted feature pipelines, the four risk models, calibrators, thresholds and
metadata in one object implementing `models.contract.RiskScorer`.

This object is what MLflow registers and what serving, batch scoring and the planner load, so a raw
record reaches the models through exactly one code path: `features.listing_frame` /
`features.merchant_frame` and the pipelines fitted at training time.
"""

from __future__ import annotations

import importlib
import json
import logging
import pickle
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.frames import str_ids
from features.market import Market
from models.contract import LISTING_RISKS, MERCHANT_RISK, ListingScore, RiskScore
from models.explain import Explainer, Meaning
from models.risk import RiskModel
from models.union import union_transform

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = 1


def to_meanings(raw: Any) -> dict[str, Meaning]:
    """Normalise `features.feature_meanings()` output (mapping or frame) to `{feature: Meaning}`."""
    out: dict[str, Meaning] = {}
    if isinstance(raw, pd.DataFrame):
        name_col = next(c for c in ("feature", "name", "column") if c in raw.columns)
        for r in raw.to_dict("records"):
            out[str(r[name_col])] = Meaning(code=str(r["code"]), zh=str(r["zh"]), en=str(r["en"]))
        return out
    for name, m in dict(raw).items():
        if isinstance(m, Meaning):
            out[str(name)] = m
        elif isinstance(m, Mapping):
            out[str(name)] = Meaning(code=str(m["code"]), zh=str(m["zh"]), en=str(m["en"]))
        elif isinstance(m, tuple | list):
            out[str(name)] = Meaning(code=str(m[0]), zh=str(m[1]), en=str(m[2]))
        else:
            out[str(name)] = Meaning(code=str(m.code), zh=str(m.zh), en=str(m.en))
    return out


def as_matrix(x: Any) -> NDArray[np.float64]:
    """Dense float matrix from a pipeline's output (DataFrame, sparse or array)."""
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.asarray(x, dtype=np.float64)


@dataclass
class ScorerBundle:
    """Everything needed to score a market; implements `RiskScorer`."""

    listing_pipeline: Any
    merchant_pipeline: Any
    listing_models: dict[str, RiskModel]
    merchant_model: RiskModel
    meanings: dict[str, Meaning]
    thresholds: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = "choujian-listing"
    version: str = "unregistered"
    #: the transformer review model inside the listing pipeline (None when trained without it)
    review_model: Any = None
    #: merchant complaint risk of every merchant known at training, scored on the full training market
    merchant_table: dict[str, RiskScore] = field(default_factory=dict)

    # -- explainers -----------------------------------------------------------------------------------
    def explainer(self, model: RiskModel) -> Explainer:
        """The reason explainer of `model` (one of this bundle's), built on first use and then reused.

        Building one resolves every model column against the meanings (tens of ms on a wide model),
        which a single-listing request cannot afford on each call. The cache is keyed by the model
        object and the meanings mapping, and is left out of the pickle (`__getstate__`).
        """
        cache: dict[int, tuple[RiskModel, Any, Explainer]] = self.__dict__.setdefault("_explainers", {})
        hit = cache.get(id(model))
        if hit is not None and hit[0] is model and hit[1] is self.meanings:
            return hit[2]
        explainer = Explainer(model.feature_names, self.meanings)
        cache[id(model)] = (model, self.meanings, explainer)
        return explainer

    def __getstate__(self) -> dict[str, Any]:
        # caches are rebuilt on first use after loading; they do not belong in the pickle
        return {k: v for k, v in self.__dict__.items() if k != "_explainers"}

    @property
    def lexicon(self) -> Any:
        """The lexicon the bundle was trained with (pickled inside its pipeline), or None for a bundle without one."""
        import features

        return features.pipeline_lexicon(self.listing_pipeline)

    # -- features ------------------------------------------------------------------------------------
    def listing_features(
        self, market: Market, *, only: Collection[str] | None = None
    ) -> tuple[pd.DataFrame, NDArray[np.float64]]:
        """The listing frame (ids) and the model matrix from the fitted pipeline; with `only`, just those
        listings' rows (the frame is built on the whole market first, so they read their merchant's rows)."""
        import features

        frame = features.listing_frame(market)
        if only is not None:
            frame = frame[frame["listing_id"].isin(set(only)).to_numpy()].reset_index(drop=True)
        return frame, as_matrix(union_transform(self.listing_pipeline, frame))

    def merchant_features(self, market: Market) -> tuple[pd.DataFrame, NDArray[np.float64]]:
        """The merchant frame (ids) and the merchant model matrix."""
        import features

        frame = features.merchant_frame(market)
        return frame, as_matrix(union_transform(self.merchant_pipeline, frame))

    # -- merchants -----------------------------------------------------------------------------------
    def merchant_risk(self, market: Market, *, top_reasons: int = 3) -> dict[str, RiskScore]:
        """Merchant complaint risk for every merchant of `market`, with reasons.

        Merchants seen at training were scored then, on their whole catalogue and review history, and keep
        that score (a listing's merchant risk must not depend on which other listings share its batch);
        merchants new to the model are scored from what `market` shows of them.
        """
        ids = str_ids(market.merchants["merchant_id"])
        known = self.merchant_table
        out = {mid: known[mid] for mid in ids if mid in known}
        new = [mid for mid in ids if mid not in known]
        if new:
            sub = Market(
                merchants=market.merchants[np.array([mid not in known for mid in ids], dtype=bool)].reset_index(
                    drop=True
                ),
                listings=market.listings,
                reviews=market.reviews,
                lab_results=market.lab_results,
            )
            out.update(self.score_merchants(sub, top_reasons=top_reasons))
        return out

    def score_merchants(self, market: Market, *, top_reasons: int = 3) -> dict[str, RiskScore]:
        """Run the merchant model on `features.merchant_frame(market)` (no lookup of stored scores)."""
        frame, X = self.merchant_features(market)
        p = self.merchant_model.predict_proba(X)
        reasons = self.explainer(self.merchant_model).top_reasons(self.merchant_model.contributions(X), top=top_reasons)
        return {
            str(mid): RiskScore(probability=float(p[i]), reasons=reasons[i])
            for i, mid in enumerate(frame["merchant_id"].astype(str))
        }

    # -- RiskScorer ----------------------------------------------------------------------------------
    def score_frame(self, market: Market) -> pd.DataFrame:
        """One row per listing: `listing_id`, `merchant_id` and `p_<risk>` for every risk."""
        frame, X = self.listing_features(market)
        out = pd.DataFrame(
            {"listing_id": frame["listing_id"].to_numpy(), "merchant_id": frame["merchant_id"].to_numpy()}
        )
        for risk in LISTING_RISKS:
            out[f"p_{risk}"] = self.listing_models[risk].predict_proba(X)
        merchant = {k: v.probability for k, v in self.merchant_risk(market, top_reasons=0).items()}
        out[f"p_{MERCHANT_RISK}"] = (
            out["merchant_id"].astype(str).map(merchant).fillna(self.merchant_model.base_rate).astype(float)
        )
        return out.reset_index(drop=True)

    def score_listings(
        self, market: Market, *, top_reasons: int = 3, only: Collection[str] | None = None
    ) -> list[ListingScore]:
        """Probabilities with top reasons (zh + en) and lexicon evidence spans, in the listings' order; with
        `only`, of those listings alone (the rest of `market` is their context: the merchant's other rows)."""
        import features

        frame, X = self.listing_features(market, only=only)
        listing_ids = str_ids(frame["listing_id"]).tolist()
        merchant_ids = str_ids(frame["merchant_id"]).tolist()
        per_risk: dict[str, tuple[NDArray[np.float64], list[list[Any]]]] = {}
        for risk in LISTING_RISKS:
            model = self.listing_models[risk]
            explainer = self.explainer(model)
            per_risk[risk] = (model.predict_proba(X), explainer.top_reasons(model.contributions(X), top=top_reasons))
        merchant = self.merchant_risk(market, top_reasons=top_reasons)
        shown = market
        if only is not None:
            keep = market.listings["listing_id"].astype(str).isin(set(only)).to_numpy()
            shown = Market(merchants=market.merchants, listings=market.listings[keep])
        # spans from the bundle's own lexicon: the phrases its features counted, not today's files
        evidence = {str(k): list(v) for k, v in features.evidence(shown, lexicon=self.lexicon).items()}
        out: list[ListingScore] = []
        for i, lid in enumerate(listing_ids):
            risks: dict[str, RiskScore] = {
                risk: RiskScore(probability=float(p[i]), reasons=reasons[i]) for risk, (p, reasons) in per_risk.items()
            }
            m = merchant.get(merchant_ids[i], RiskScore(probability=self.merchant_model.base_rate))
            risks[MERCHANT_RISK] = RiskScore(probability=m.probability, reasons=m.reasons[:top_reasons])
            out.append(
                ListingScore(
                    listing_id=lid,
                    merchant_id=merchant_ids[i],
                    risks=risks,  # type: ignore[arg-type]
                    evidence=evidence.get(lid, []),
                )
            )
        return out

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write `bundle.pkl`, the text-model folders it uses and a readable `metadata.json` into `path`.

        Text models (the transformer review/listing scorers) pickle by reference to their folder, so the
        folders are copied into `text_models/` and the pickle points there: the bundle is self-contained.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        text_dir = path / "text_models"
        copied: dict[str, str] = {}

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj: Any) -> Any:
                if _is_text_model(obj):
                    src = str(Path(obj.path).resolve())
                    if src not in copied:
                        name = f"{len(copied):02d}-{Path(src).name}"
                        shutil.copytree(src, text_dir / name)
                        copied[src] = name
                    return (
                        "text_model",
                        type(obj).__module__,
                        type(obj).__qualname__,
                        copied[src],
                        getattr(obj, "backend", None),
                        getattr(obj, "threads", 2),
                    )
                return None

        with (path / "bundle.pkl").open("wb") as fh:
            _Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL).dump({"format": BUNDLE_FORMAT, "bundle": self})
        meta = {
            "format": BUNDLE_FORMAT,
            "name": self.name,
            "thresholds": self.thresholds,
            "text_models": sorted(copied.values()),
            **self.metadata,
        }
        (path / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ScorerBundle:
        """Read a bundle written by `save` (only load bundles you or your registry wrote: it is a pickle)."""
        root = Path(path)

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                kind, module, qualname, name, backend, threads = pid
                if kind != "text_model":
                    raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
                text_cls = getattr(importlib.import_module(module), qualname)
                return text_cls(root / "text_models" / name, backend=backend, threads=threads)

        with (root / "bundle.pkl").open("rb") as fh:
            blob = _Unpickler(fh).load()
        if not isinstance(blob, dict) or blob.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"{path}: not a choujian scorer bundle of format {BUNDLE_FORMAT}")
        bundle = blob["bundle"]
        if not isinstance(bundle, cls):
            raise ValueError(f"{path}: bundle.pkl holds {type(bundle).__name__}, not ScorerBundle")
        return bundle


def _is_text_model(obj: Any) -> bool:
    """A transformer scorer from `models.text` (pickles by folder reference)."""
    mod = type(obj).__module__
    return mod.startswith("models.text") and hasattr(obj, "path") and hasattr(obj, "predict_proba")
