"""Train the LightGBM risk models on any market directory, log everything to MLflow, register the bundle.

What the models learn from is only what a regulator has:
- listing risks (`lab_fail`, `counterfeit`, `false_advertising`): the recorded lab results, one label
  row per tested listing (fail if any test failed; a failure type if any failure named it). Past plans
  chose listings by risk, so every label row carries the inverse of its inclusion probability
  (`1/π`, capped) when `weighting: ipw`. The weights always calibrate the probabilities (so they describe
  the whole market, not the risk-targeted sample) and, with `ipw`, also weight the trees.
- merchant complaint-proneness: a forward-looking label. Features come from the market as it stood at a
  cut-off date (reviews, lab results and listings before it); the label is whether the merchant's
  reviews *after* the cut-off show a complaint rate (ratings ≤ 2) of at least `complaint_rate`.
A simulator's ground truth is never read here except to report held-out metrics, clearly named `truth_*`.

Held-out listings (a stable hash of the listing id) never contribute labels: their lab results are
removed from the market the pipeline and the models see, and evaluation/promotion re-create the same
split from the salt recorded in the bundle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from features.lexicon import Lexicon
from features.market import Market, failure_type_flags
from features.pipeline import pipeline_lexicon
from models import drift
from models.bundle import ScorerBundle, as_matrix, to_meanings
from models.calibration import CalibrationMethod
from models.contract import LISTING_RISKS, MERCHANT_RISK
from models.risk import Labelled, LightGBMParams, RiskModel
from training import metrics as M

logger = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth_listings.parquet"


#: domain knowledge the trees must respect: more claim / cue hits never make a listing *less* risky
_CLAIMS = {
    **{f"text__{f}_{k}_hits": 1 for f in ("title", "desc") for k in ("absolute_claim", "efficacy_claim")},
    "text__claim_kinds_present": 1,
    "text__repeated_claims": 1,
}
_CUES = {f"text__{f}_counterfeit_cue_hits": 1 for f in ("title", "desc")}
# the transformer listing text model's reading of the same texts (when `listing_text.enabled`)
_CLAIMS["listing_text__p_false_advertising"] = 1
_CUES["listing_text__p_counterfeit"] = 1
DEFAULT_MONOTONE: dict[str, dict[str, int]] = {
    "false_advertising": _CLAIMS,
    "counterfeit": _CUES,
    "lab_fail": {**_CLAIMS, **_CUES},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Strict):
    """Stable hash splits: the held-out listings, and fit / early-stopping / calibration parts."""

    holdout_share: float = Field(default=0.2, gt=0, lt=1, description="listings held out from training entirely")
    valid_share: float = Field(default=0.2, gt=0, lt=1, description="labelled training rows used for early stopping")
    calib_share: float = Field(default=0.2, gt=0, lt=1, description="labelled training rows used for calibration")
    salt: str = Field(default="choujian-holdout-v1", description="changing it changes every split")


class MerchantLabelConfig(_Strict):
    """How the complaint-prone merchant label is built from reviews after a cut-off date."""

    cutoff_quantile: float = Field(default=0.6, gt=0, lt=1, description="cut-off = this quantile of review dates")
    complaint_rating_max: int = Field(default=2, ge=1, le=4, description="a review with rating ≤ this is a complaint")
    complaint_rate: float = Field(default=0.3, gt=0, lt=1, description="label 1 when the later complaint rate ≥ this")
    min_reviews: int = Field(default=5, ge=1, description="merchants with fewer later reviews get no label")


class ListingTextConfig(_Strict):
    """The transformer listing text model (title + description -> failure types) as a LightGBM feature.

    Fine-tuned from the pre-trained encoder on the training listings' lab results: `folds` models give
    the labelled training listings out-of-fold scores (what the trees learn from), and one model fitted
    on all of them scores everything else: held-out, batch and online listings.
    """

    enabled: bool = Field(default=False, description="add listing_text__p_<failure type> features")
    pretrained: str = Field(default="data/pretrained/choujian-bert-mini", description="encoder checkpoint directory")
    folds: int = Field(default=2, ge=2, description="cross-fitting folds for the training listings' scores")
    epochs: float = Field(default=2.0, gt=0)
    max_len: int = Field(default=64, ge=8, le=512, description="tokens of title + description read")
    lr: float = Field(default=3e-4, gt=0)
    max_train_listings: int | None = Field(default=4000, ge=20, description="cap on labelled listings per fit")
    freeze_embeddings: bool = True
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx", description="inference backend; fp32 onnx is exact whatever the batch"
    )
    seed: int = 13


class TrainConfig(_Strict):
    """One training run, loaded from versioned YAML and logged with the run."""

    experiment: str = "choujian"
    registered_model: str = "choujian-listing"
    seed: int = 7
    split: SplitConfig = SplitConfig()
    features: dict[str, Any] = Field(default_factory=dict, description="fields of features.FeatureConfig")
    review_model: str | None = Field(
        "auto", description="transformer review checkpoint: a path, 'auto' (the default location if built) or null"
    )
    review_backend: str | None = Field(
        default=None,
        description="inference backend of the review model (torch, onnx, onnx-int8); null = the model's own. "
        "int8's dynamic quantisation moves probabilities by ~1e-4 with batch composition; onnx is exact",
    )
    listing_text: ListingTextConfig = ListingTextConfig()
    weighting: Literal["ipw", "none"] = "ipw"
    ipw_cap: float = Field(default=20.0, ge=1, description="cap on 1/π so a few rare picks cannot dominate")
    calibration: CalibrationMethod = "platt"
    lightgbm: LightGBMParams = LightGBMParams()
    merchant_lightgbm: LightGBMParams = LightGBMParams(num_leaves=7, min_data_in_leaf=10)
    merchant_label: MerchantLabelConfig = MerchantLabelConfig()
    threshold_share: float = Field(default=0.05, gt=0, lt=1, description="thresholds flag this top share of listings")
    monotone: dict[str, dict[str, int]] = Field(
        default_factory=lambda: dict(DEFAULT_MONOTONE),
        description="per risk, feature-name prefix -> +1/-1: the risk may only rise (fall) as the feature grows",
    )


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training config into a validated `TrainConfig`."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return TrainConfig.model_validate(data)


# -- splits and labels -------------------------------------------------------------------------------
def _hash_unit(ids: pd.Series, salt: str) -> NDArray[np.float64]:
    """A stable number in [0, 1) per id."""
    return np.array(
        [int(hashlib.md5(f"{salt}:{i}".encode()).hexdigest()[:12], 16) / 16**12 for i in ids.astype(str)],
        dtype=np.float64,
    )


def holdout_mask(listing_ids: pd.Series, split: SplitConfig) -> NDArray[np.bool_]:
    """True for held-out listings."""
    return _hash_unit(listing_ids, split.salt) < split.holdout_share


def part_of(ids: pd.Series, split: SplitConfig, *, kind: str) -> NDArray[np.str_]:
    """'fit', 'valid' or 'calib' for labelled training rows, by a second stable hash."""
    u = _hash_unit(ids, f"{split.salt}:{kind}:parts")
    out = np.full(len(ids), "fit", dtype=object)
    out[u < split.valid_share] = "valid"
    out[(u >= split.valid_share) & (u < split.valid_share + split.calib_share)] = "calib"
    return out.astype(str)


def listing_labels(lab_results: pd.DataFrame, *, ipw_cap: float) -> pd.DataFrame:
    """One row per tested listing: 0/1 `lab_fail`, `counterfeit`, `false_advertising`, `pi`, `ipw`."""
    if lab_results.empty:
        return pd.DataFrame(columns=["lab_fail", "counterfeit", "false_advertising", "pi", "ipw"])
    lab = lab_results.copy()
    lab["lab_fail"] = (lab["verdict"].astype(str) == "fail").astype(float)
    flags = failure_type_flags(lab["failure_types"], ("counterfeit", "false_advertising"))
    lab[["counterfeit", "false_advertising"]] = flags
    pi = pd.to_numeric(lab["inclusion_prob"], errors="coerce")
    # a result without a recorded probability: assume it was as likely to be picked as a typical one
    lab["pi"] = pi.fillna(pi.median() if pi.notna().any() else 1.0).clip(1e-6, 1.0)
    lab["log_not"] = np.log1p(-lab["pi"].clip(upper=1 - 1e-9))
    g = lab.groupby(lab["listing_id"].astype(str))
    out = g[["lab_fail", "counterfeit", "false_advertising"]].max()
    # probability of having been tested at least once over all the plans that could pick it
    out["pi"] = 1.0 - np.exp(g["log_not"].sum())
    out["ipw"] = (1.0 / out["pi"].clip(lower=1e-6)).clip(upper=ipw_cap)
    return out


def merchant_training_data(market: Market, cfg: MerchantLabelConfig) -> tuple[Market, pd.Series]:
    """The market as it stood at the cut-off (for features) and each merchant's later-complaint label."""
    rev = market.reviews
    if rev.empty:
        return market, pd.Series(dtype=float)
    dates = pd.to_datetime(rev["review_date"])
    cutoff = pd.Timestamp(np.quantile(dates.to_numpy(dtype="datetime64[ns]").astype("int64"), cfg.cutoff_quantile))
    before = rev[dates <= cutoff]
    after = rev[dates > cutoff]
    lab = market.lab_results
    lab_before = lab[pd.to_datetime(lab["sampled_date"]) <= cutoff] if not lab.empty else lab
    listings = market.listings
    past = Market(
        merchants=market.merchants,
        listings=listings,
        reviews=before.reset_index(drop=True),
        lab_results=lab_before.reset_index(drop=True),
    )
    later = after.merge(listings[["listing_id", "merchant_id"]], on="listing_id", how="left")
    later["complaint"] = (later["rating"].astype(int) <= cfg.complaint_rating_max).astype(float)
    g = later.groupby("merchant_id")["complaint"].agg(["mean", "size"])
    g = g[g["size"] >= cfg.min_reviews]
    labels = (g["mean"] >= cfg.complaint_rate).astype(float)
    logger.info(
        "merchant label: cut-off %s, %d labelled merchants, %.1f%% complaint-prone",
        cutoff.date(),
        len(labels),
        100 * float(labels.mean()) if len(labels) else 0.0,
    )
    return past, labels


def fingerprint(data_dir: str | Path) -> dict[str, Any]:
    """SHA-256 and size of every table file in a market directory (what exactly was trained on)."""
    out: dict[str, Any] = {}
    for p in sorted(Path(data_dir).iterdir()):
        if p.suffix in (".parquet", ".csv") and p.is_file():
            with p.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            out[p.name] = {"sha256": digest, "bytes": p.stat().st_size}
    return out


def load_ground_truth(data_dir: str | Path) -> pd.DataFrame | None:
    """The simulator's per-listing truth, if this market has one (evaluation only)."""
    p = Path(data_dir) / GROUND_TRUTH
    return pd.read_parquet(p) if p.exists() else None


# -- review model ------------------------------------------------------------------------------------
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


# -- fitting -----------------------------------------------------------------------------------------
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


#: which lexicon kinds' words, when they are TF-IDF token columns, may only raise a risk
_TOKEN_KINDS = {
    "false_advertising": ("absolute_claim", "efficacy_claim"),
    "counterfeit": ("counterfeit_cue",),
    "lab_fail": ("absolute_claim", "efficacy_claim", "counterfeit_cue"),
}


def _lexicon_tokens(kinds: tuple[str, ...], lexicon: Lexicon | None = None) -> set[str]:
    from features.normalize import normalize_text

    lex = lexicon if lexicon is not None else Lexicon.load()
    return {normalize_text(p) for k in kinds for p in lex.phrases.get(k, ())}


def monotone_vector(
    names: list[str], prefixes: dict[str, int], *, risk: str | None = None, lexicon: Lexicon | None = None
) -> list[int] | None:
    """LightGBM's per-feature monotone constraints from `{name prefix: direction}`.

    Token columns (`text__tok=<word>`) whose word is a claim or counterfeit-cue lexicon phrase get +1 for
    the risks that phrase kind drives, so a learnt token weight can never undo the lexicon's direction.
    """
    if not prefixes:
        return None
    tokens = _lexicon_tokens(_TOKEN_KINDS.get(risk or "", ()), lexicon)
    out = []
    for n in names:
        d = next((d for p, d in prefixes.items() if n.startswith(p)), 0)
        if not d and n.startswith("text__tok=") and n.removeprefix("text__tok=") in tokens:
            d = 1
        out.append(d)
    return out


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
    seen, names, X_all, train_rows = design.seen, design.names, design.X, design.train_rows
    ids, has_label, holdout_ids = design.frame["listing_id"].astype(str), design.has_label, design.holdout_ids
    fconf = features.FeatureConfig(**config.features)
    models = fit_listing_models(design, config, progress=step)

    step("training merchant complaint model")
    past, m_labels = merchant_training_data(seen, config.merchant_label)
    m_frame = features.merchant_frame(past)
    lexicon = pipeline_lexicon(design.pipeline)  # one lexicon for both pipelines, recorded below
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
    merchant_model = RiskModel.fit(
        MERCHANT_RISK,
        feature_names=m_names,
        fit=_labelled(m_X, m_y, ones, m_has & (m_parts == "fit")),
        valid=_labelled(m_X, m_y, ones, m_has & (m_parts == "valid")),
        calib=_labelled(m_X, m_y, ones, m_has & (m_parts == "calib")),
        params=config.merchant_lightgbm,
        calibration=config.calibration,
        seed=config.seed,
    )

    meanings = to_meanings(features.feature_meanings())
    thresholds = {}
    for risk in LISTING_RISKS:
        p = models[risk].predict_proba(X_all[train_rows])
        thresholds[risk] = float(np.quantile(p, 1 - config.threshold_share)) if len(p) else 0.5
    metadata = {
        "summary": {
            "n_listings": int(len(ids)),
            "n_holdout": len(holdout_ids),
            "n_lab_labelled": int(has_label.sum()),
            "weighting": config.weighting,
            "review_model": review_model_ref or "none",
            "listing_text_model": "cross-fitted" if listing_text is not None else "none",
            "lexicon_version": lexicon.version if lexicon is not None else "none",
        },
        "lexicon": lexicon.facts() if lexicon is not None else {},
        "config": config.model_dump(mode="json"),
        "split": config.split.model_dump(mode="json"),
        "models": {r: m.info for r, m in {**models, MERCHANT_RISK: merchant_model}.items()},
        "feature_names": names,
        "merchant_feature_names": m_names,
        "threshold_meaning": f"probability at which a listing is in the top {config.threshold_share:.0%} "
        "of the training market for that risk",
        "trained_seconds": round(time.perf_counter() - t0, 1),
    }
    bundle = ScorerBundle(
        listing_pipeline=design.pipeline,
        merchant_pipeline=m_pipeline,
        listing_models=models,
        merchant_model=merchant_model,
        meanings=meanings,
        thresholds=thresholds,
        metadata=metadata,
        name=config.registered_model,
        review_model=getattr(review_scorer, "scorer", review_scorer),
    )
    step("scoring every known merchant")
    # fixed at training so a listing's merchant risk does not depend on the rest of its batch
    bundle.merchant_table = bundle.score_merchants(seen, top_reasons=5)
    m_p = [r.probability for r in bundle.merchant_table.values()]
    bundle.thresholds[MERCHANT_RISK] = float(np.quantile(m_p, 1 - config.threshold_share)) if m_p else 0.5
    step("profiling the training market's scores and key features (for drift)")
    bundle.metadata[drift.PROFILE_KEY] = drift.training_profile(drift.drift_frame(market, bundle.score_frame(market)))
    return FitResult(bundle=bundle, holdout_ids=holdout_ids, design=design)


# -- held-out metrics --------------------------------------------------------------------------------
def holdout_scoring_market(market: Market, split: SplitConfig) -> tuple[Market, list[str]]:
    """The market a held-out evaluation scores (held-out lab results hidden) and the held-out ids."""
    ids = market.listings["listing_id"].astype(str)
    held = sorted(ids[holdout_mask(ids, split)])
    return market.without_lab_results(held), held


def observed_holdout_metrics(
    scores: pd.DataFrame, market: Market, holdout_ids: list[str], *, ipw_cap: float
) -> dict[str, float]:
    """Metrics on held-out listings that have lab results, weighted by 1/π (what a regulator can measure)."""
    labels = listing_labels(
        market.lab_results[market.lab_results["listing_id"].astype(str).isin(set(holdout_ids))], ipw_cap=ipw_cap
    )
    s = scores.set_index(scores["listing_id"].astype(str)).reindex(labels.index)
    out: dict[str, float] = {"holdout_lab_n": float(len(labels))}
    for risk in LISTING_RISKS:
        if len(labels) == 0:
            continue
        y, p, w = labels[risk].to_numpy(), s[f"p_{risk}"].to_numpy(), labels["ipw"].to_numpy()
        ap = M.pr_auc(p, y, sample_weight=w)
        if ap is not None:
            out[f"holdout_{risk}_pr_auc"] = ap
        out[f"holdout_{risk}_brier"] = M.brier(p, y, sample_weight=w)
    return out


def truth_holdout_metrics(scores: pd.DataFrame, truth: pd.DataFrame, holdout_ids: list[str]) -> dict[str, float]:
    """Metrics against the simulator's realised failures of every held-out listing (evaluation only)."""
    t = truth.set_index(truth["listing_id"].astype(str)).reindex(holdout_ids)
    s = scores.set_index(scores["listing_id"].astype(str)).reindex(holdout_ids)
    y, p, oracle = t["fails"].to_numpy(dtype=float), s["p_lab_fail"].to_numpy(), t["p_fail"].to_numpy()
    out: dict[str, float] = {}
    rnd = float(y.mean())
    for share in M.BUDGETS:
        key = M.budget_key(share)
        model, orc = M.hit_rate(p, y, share), M.hit_rate(oracle, y, share)
        out[f"truth_hit_rate_{key}"] = model
        lift = M.captured_lift(model, rnd, orc)
        if lift is not None:
            out[f"truth_captured_lift_{key}"] = lift
    ap = M.pr_auc(p, y)
    if ap is not None:
        out["truth_pr_auc"] = ap
    out["truth_brier"] = M.brier(p, y)
    return out


# -- the command -------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    bundle: ScorerBundle


def train(
    config: TrainConfig,
    data_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    register: bool = True,
    progress: Any = None,
) -> TrainResult:
    """Train on `data_dir`, log params/metrics/config/fingerprints/plots to MLflow, register as challenger."""
    import mlflow

    from features.market import load_market
    from training import registry

    step = progress or (lambda msg: logger.info(msg))
    registry.configure()
    registry.ensure_experiment(config.experiment)
    step(f"loading market from {data_dir}")
    market = load_market(data_dir)
    review_scorer, review_ref = resolve_review_scorer(config.review_model, backend=config.review_backend)
    with mlflow.start_run(run_name=f"train-{Path(data_dir).name}") as run:
        mlflow.set_tags({"choujian.command": "train", "choujian.data_dir": str(Path(data_dir).resolve())})
        flat = {
            "data_dir": str(Path(data_dir).resolve()),
            "seed": config.seed,
            "weighting": config.weighting,
            "ipw_cap": config.ipw_cap,
            "calibration": config.calibration,
            "review_model": review_ref or "none",
            **{f"listing_text.{k}": v for k, v in config.listing_text.model_dump().items()},
            **{f"split.{k}": v for k, v in config.split.model_dump().items()},
            **{f"lgb.{k}": v for k, v in config.lightgbm.model_dump().items()},
            **{f"merchant_lgb.{k}": v for k, v in config.merchant_lightgbm.model_dump().items()},
            **{f"merchant_label.{k}": v for k, v in config.merchant_label.model_dump().items()},
            **{f"features.{k}": v for k, v in config.features.items()},
        }
        mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
        mlflow.log_dict(config.model_dump(mode="json"), "config/train.json")
        if config_path is not None:
            mlflow.log_artifact(str(config_path), "config")
        fp = fingerprint(data_dir)
        mlflow.log_dict(fp, "data/fingerprint.json")
        mlflow.set_tag("choujian.data_sha256", _combined_sha(fp))

        result = fit_bundle(market, config, review_scorer=review_scorer, review_model_ref=review_ref, progress=step)
        bundle = result.bundle
        mlflow.log_params({"lexicon_version": bundle.metadata["summary"]["lexicon_version"][:500]})
        mlflow.log_dict(bundle.metadata["lexicon"], "lexicon.json")
        bundle.metadata["data_dir"] = str(Path(data_dir).resolve())
        bundle.metadata["data_fingerprint"] = fp
        bundle.metadata["data_sha256"] = _combined_sha(fp)
        metrics: dict[str, float] = {}
        for risk, info in bundle.metadata["models"].items():
            for k in ("best_iteration", "n_positive", "valid_logloss"):
                if k in info:
                    metrics[f"{risk}.{k}"] = float(info[k])

        step(f"scoring {len(result.holdout_ids)} held-out listings")
        scoring_market, holdout_ids = holdout_scoring_market(market, config.split)
        scores = bundle.score_frame(scoring_market.subset(holdout_ids))
        metrics.update(observed_holdout_metrics(scores, market, holdout_ids, ipw_cap=config.ipw_cap))
        truth = load_ground_truth(data_dir)
        if truth is not None:
            metrics.update(truth_holdout_metrics(scores, truth, holdout_ids))
        mlflow.log_metrics(metrics)
        bundle.metadata["summary"].update({k: round(v, 4) for k, v in metrics.items() if k.startswith("holdout_")})
        _log_training_plots(bundle)
        version = "unregistered"
        if register:
            step("registering the bundle")
            mv = registry.log_bundle(bundle, registered_model=config.registered_model)
            version = str(mv.version)
            bundle.version = version
        return TrainResult(run_id=run.info.run_id, version=version, metrics=metrics, bundle=bundle)


def _combined_sha(fp: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()


def _log_training_plots(bundle: ScorerBundle) -> None:
    """Feature-importance bar charts, one per risk model."""
    import tempfile

    import mlflow

    plt = M.pyplot()
    with tempfile.TemporaryDirectory() as tmp:
        for risk, model in {**bundle.listing_models, MERCHANT_RISK: bundle.merchant_model}.items():
            imp = list(model.importance().items())[:15]
            if not imp:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.barh([n[:40] for n, _ in imp][::-1], [g for _, g in imp][::-1])
            ax.set_title(f"{risk}: gain importance")
            fig.tight_layout()
            path = Path(tmp) / f"importance_{risk}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            mlflow.log_artifact(str(path), "plots")
