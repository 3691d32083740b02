"""The training run's configuration: versioned YAML (`configs/train*.yaml`) loaded into typed, strict models and
logged with each run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from models.calibration import CalibrationMethod
from models.risk import LightGBMParams
from training.monotone import DEFAULT_MONOTONE


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
