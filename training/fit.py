"""Fitting: the listing design (features fitted on the training listings, held-out lab results hidden), one
calibrated LightGBM per listing risk, the merchant complaint model, and the scorer bundle that holds them.

Held-out listings (a stable hash of the listing id, `training.labels.holdout_mask`) never contribute labels:
their lab results are removed from the market the pipelines and the models see.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.lexicon import Lexicon
from features.market import Market
from features.pipeline import pipeline_lexicon
from models import drift
from models.bundle import ScorerBundle, as_matrix, to_meanings
from models.contract import LISTING_RISKS, MERCHANT_RISK
from models.risk import Labelled, RiskModel
from training.config import ListingTextConfig, TrainConfig
from training.labels import holdout_mask, listing_labels, merchant_training_data, part_of
from training.monotone import monotone_vector

logger = logging.getLogger(__name__)


def resolve_review_scorer(spec: str | None, *, backend: str | None = None) -> tuple[Any, str | None]:
    """Load the transformer review model named by the config; `(None, None)` when there is none."""
    if spec is None or spec in ("", "none", "null"):
        return None, None
    try:
        from models.text import load_review_model
    except ImportError:
        logger.warning("models.text.load_review_model is not available; training without the transformer")
        return None, None
    path = None if spec == "auto" else spec
    try:
        model = load_review_model(path, backend=backend)  # type: ignore[arg-type]
    except FileNotFoundError as e:
        if spec == "auto":
            logger.warning("no transformer review model found (%s); training without it", e)
            return None, None
        raise
    from models.review_cache import CachedReviewScorer

    return CachedReviewScorer(model), str(getattr(model, "path", spec))


def _labelled(X: NDArray[np.float64], y: pd.Series, w: pd.Series, mask: NDArray[np.bool_]) -> Labelled:
    return Labelled(X=X[mask], y=y.to_numpy(dtype=np.float64)[mask], w=w.to_numpy(dtype=np.float64)[mask])


def _norm(w: pd.Series) -> pd.Series:
    return w / w.mean() if len(w) and w.mean() > 0 else w


@dataclass
class ListingDesign:
    """The listing feature matrix of a market (held-out lab results hidden) with labels and splits."""

    frame: pd.DataFrame
    pipeline: Any
    X: NDArray[np.float64]
    names: list[str]
    train_rows: NDArray[np.bool_]
    labels: pd.DataFrame
    has_label: NDArray[np.bool_]
    parts: NDArray[np.str_]
    ipw: pd.Series
    holdout_ids: list[str]
    seen: Market


def fit_listing_text(seen: Market, config: ListingTextConfig, *, progress: Any = None) -> tuple[Any, pd.DataFrame]:
    """The listing text model fitted on every lab-labelled listing of `seen` (held-out results already
    hidden), and the out-of-fold scores of those listings from `config.folds` models fitted without them."""
    from training.text.listing import fit_listing_text_model, out_of_fold_listing_scores

    step = progress or (lambda msg: logger.info(msg))
    kwargs: dict[str, Any] = {
        "pretrained": config.pretrained,
        "epochs": config.epochs,
        "max_len": config.max_len,
        "lr": config.lr,
        "max_train_listings": config.max_train_listings,
        "freeze_embeddings": config.freeze_embeddings,
    }
    step(f"fine-tuning the listing text model: {config.folds} cross-fitting folds")
    oof = out_of_fold_listing_scores(seen, folds=config.folds, seed=config.seed, **kwargs)
    step(f"fine-tuning the listing text model on all {len(oof)} labelled training listings")
    model = fit_listing_text_model(seen, seed=config.seed, backend=config.backend, **kwargs)
    return model, oof


def listing_design(
    market: Market,
    config: TrainConfig,
    *,
    review_scorer: Any = None,
    listing_text: tuple[Any, pd.DataFrame] | None = None,
) -> ListingDesign:
    """Fit the listing pipeline on the training listings and build the matrix for every listing.

    `listing_text` is `fit_listing_text`'s (model, out-of-fold scores) when the transformer listing text
    model is a feature; the out-of-fold scores are used while fitting and then dropped from the pipeline.
    """
    import features

    all_ids = market.listings["listing_id"].astype(str)
    holdout_ids = set(all_ids[holdout_mask(all_ids, config.split)])
    seen = market.without_lab_results(holdout_ids)
    fconf = features.FeatureConfig(**config.features)
    frame = features.listing_frame(seen)
    ids = frame["listing_id"].astype(str)
    train_rows = ~ids.isin(holdout_ids).to_numpy()
    text_model, text_oof = listing_text if listing_text is not None else (None, None)
    pipeline = features.build_pipeline(
        fconf, review_scorer=review_scorer, listing_text_model=text_model, listing_text_cross_fitted=text_oof
    )
    # fit_transform on the training rows and transform only the rest: one pass over each listing
    X_train = as_matrix(pipeline.fit_transform(frame[train_rows].reset_index(drop=True)))
    if text_model is not None:
        pipeline.set_params(listing_text__cross_fitted=None)  # a training-time artifact, not part of the model
    X = np.zeros((len(frame), X_train.shape[1]), dtype=np.float64)
    X[train_rows] = X_train
    if (~train_rows).any():
        X[~train_rows] = as_matrix(pipeline.transform(frame[~train_rows].reset_index(drop=True)))
    names = [str(n) for n in pipeline.get_feature_names_out()]
    lab = listing_labels(seen.lab_results, ipw_cap=config.ipw_cap).reindex(ids)
    return ListingDesign(
        frame=frame,
        pipeline=pipeline,
        X=X,
        names=names,
        train_rows=train_rows,
        labels=lab,
        has_label=lab["lab_fail"].notna().to_numpy() & train_rows,
        parts=part_of(ids, config.split, kind="listing"),
        ipw=_norm(lab["ipw"].fillna(1.0)),
        holdout_ids=sorted(holdout_ids),
        seen=seen,
    )


@dataclass
class FitResult:
    bundle: ScorerBundle
    holdout_ids: list[str]
    design: ListingDesign


def fit_listing_models(
    design: ListingDesign,
    config: TrainConfig,
    *,
    weighting: str | None = None,
    risks: tuple[str, ...] = LISTING_RISKS,
    progress: Any = None,
) -> dict[str, RiskModel]:
    """One calibrated LightGBM per listing risk; `weighting` overrides the config's (ipw or none)."""
    step = progress or (lambda msg: logger.info(msg))
    weighting = weighting or config.weighting
    w_cal = design.ipw
    w_fit = w_cal if weighting == "ipw" else pd.Series(np.ones(len(w_cal)), index=w_cal.index)
    h, parts = design.has_label, design.parts
    models: dict[str, RiskModel] = {}
    for risk in risks:
        step(f"training {risk} ({int(h.sum())} lab-tested listings, weighting={weighting})")
        y = design.labels[risk].fillna(0.0)
        models[risk] = RiskModel.fit(
            risk,
            feature_names=design.names,
            fit=_labelled(design.X, y, w_fit, h & (parts == "fit")),
            valid=_labelled(design.X, y, w_fit, h & (parts == "valid")),
            calib=_labelled(design.X, y, w_cal, h & (parts == "calib")),
            params=config.lightgbm,
            calibration=config.calibration,
            seed=config.seed,
            monotone=monotone_vector(
                design.names, config.monotone.get(risk, {}), risk=risk, lexicon=pipeline_lexicon(design.pipeline)
            ),
        )
    return models


def fit_bundle(
    market: Market,
    config: TrainConfig,
    *,
    review_scorer: Any = None,
    review_model_ref: str | None = None,
    progress: Any = None,
) -> FitResult:
    """Fit pipelines and the four models on the non-held-out part of `market`; return the bundle."""
    import features

    step = progress or (lambda msg: logger.info(msg))
    t0 = time.perf_counter()
    listing_text = None
    if config.listing_text.enabled:
        all_ids = market.listings["listing_id"].astype(str)
        seen = market.without_lab_results(all_ids[holdout_mask(all_ids, config.split)])
        listing_text = fit_listing_text(seen, config.listing_text, progress=step)
    step("building listing features")
    design = listing_design(market, config, review_scorer=review_scorer, listing_text=listing_text)
    models = fit_listing_models(design, config, progress=step)
    step("training merchant complaint model")
    lexicon = pipeline_lexicon(design.pipeline)  # one lexicon for both pipelines, recorded in the metadata
    m_pipeline, merchant_model = fit_merchant_model(design.seen, config, review_scorer=review_scorer, lexicon=lexicon)

    thresholds = {}
    for risk in LISTING_RISKS:
        p = models[risk].predict_proba(design.X[design.train_rows])
        thresholds[risk] = float(np.quantile(p, 1 - config.threshold_share)) if len(p) else 0.5
    summary = {
        "review_model": review_model_ref or "none",
        "listing_text_model": "cross-fitted" if listing_text is not None else "none",
        "lexicon_version": lexicon.version if lexicon is not None else "none",
    }
    bundle = ScorerBundle(
        listing_pipeline=design.pipeline,
        merchant_pipeline=m_pipeline,
        listing_models=models,
        merchant_model=merchant_model,
        meanings=to_meanings(features.feature_meanings()),
        thresholds=thresholds,
        metadata=_metadata(
            design, config, models, merchant_model, summary=summary, lexicon=lexicon, seconds=time.perf_counter() - t0
        ),
        name=config.registered_model,
        review_model=getattr(review_scorer, "scorer", review_scorer),
    )
    step("scoring every known merchant")
    # fixed at training so a listing's merchant risk does not depend on the rest of its batch
    bundle.merchant_table = bundle.score_merchants(design.seen, top_reasons=5)
    m_p = [r.probability for r in bundle.merchant_table.values()]
    bundle.thresholds[MERCHANT_RISK] = float(np.quantile(m_p, 1 - config.threshold_share)) if m_p else 0.5
    step("profiling the training market's scores and key features (for drift)")
    bundle.metadata[drift.PROFILE_KEY] = drift.training_profile(drift.drift_frame(market, bundle.score_frame(market)))
    return FitResult(bundle=bundle, holdout_ids=design.holdout_ids, design=design)


def fit_merchant_model(
    seen: Market, config: TrainConfig, *, review_scorer: Any = None, lexicon: Lexicon | None = None
) -> tuple[Any, RiskModel]:
    """The merchant pipeline (with the listing pipeline's `lexicon`) fitted on the market as it stood at the
    label's cut-off, and the calibrated complaint model on the merchants that have a label."""
    import features

    past, m_labels = merchant_training_data(seen, config.merchant_label)
    m_frame = features.merchant_frame(past)
    fconf = features.FeatureConfig(**config.features)
    m_pipeline = features.build_merchant_pipeline(fconf, review_scorer=review_scorer, lexicon=lexicon)
    m_pipeline.fit(m_frame)
    m_X = as_matrix(m_pipeline.transform(m_frame))
    m_names = [str(n) for n in m_pipeline.get_feature_names_out()]
    m_ids = m_frame["merchant_id"].astype(str)
    m_y = m_labels.reindex(m_ids)
    m_has = m_y.notna().to_numpy()
    m_parts = part_of(m_ids, config.split, kind="merchant")
    m_y = m_y.fillna(0.0)
    ones = pd.Series(np.ones(len(m_ids)))
    model = RiskModel.fit(
        MERCHANT_RISK,
        feature_names=m_names,
        fit=_labelled(m_X, m_y, ones, m_has & (m_parts == "fit")),
        valid=_labelled(m_X, m_y, ones, m_has & (m_parts == "valid")),
        calib=_labelled(m_X, m_y, ones, m_has & (m_parts == "calib")),
        params=config.merchant_lightgbm,
        calibration=config.calibration,
        seed=config.seed,
    )
    return m_pipeline, model


def _metadata(
    design: ListingDesign,
    config: TrainConfig,
    models: dict[str, RiskModel],
    merchant_model: RiskModel,
    *,
    summary: dict[str, Any],
    lexicon: Lexicon | None,
    seconds: float,
) -> dict[str, Any]:
    """What the bundle says about its own training: sizes, config, split, models, feature names."""
    return {
        "summary": {
            "n_listings": len(design.frame),
            "n_holdout": len(design.holdout_ids),
            "n_lab_labelled": int(design.has_label.sum()),
            "weighting": config.weighting,
            **summary,
        },
        "lexicon": lexicon.facts() if lexicon is not None else {},
        "config": config.model_dump(mode="json"),
        "split": config.split.model_dump(mode="json"),
        "models": {r: m.info for r, m in {**models, MERCHANT_RISK: merchant_model}.items()},
        "feature_names": design.names,
        "merchant_feature_names": list(merchant_model.feature_names),
        "threshold_meaning": f"probability at which a listing is in the top {config.threshold_share:.0%} "
        "of the training market for that risk",
        "trained_seconds": round(seconds, 1),
    }
