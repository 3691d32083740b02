"""One LightGBM risk model: booster with early stopping, held-out calibration, log-odds contributions.

The booster is fitted on one part of the labelled rows, stopped early on a second part and calibrated
on a third, so that neither the number of trees nor the calibration is tuned on rows the trees saw.
When a risk has too few positive labels to learn from (a tiny or fresh market) the model falls back to
the weighted base rate, says so in its metadata, and still scores every row.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from models.calibration import CalibrationMethod, Calibrator, logit

logger = logging.getLogger(__name__)

#: below this many rows LightGBM predicts on one thread: its OpenMP start-up costs ~8 ms per call on a
#: busy 2-core host, against ~0.2 ms for the prediction of one row (results do not depend on threads)
SINGLE_THREAD_ROWS = 1024


#: True in every process forked from one that imported this module: one prediction thread there
_ONE_THREAD = False


def _after_fork_in_child() -> None:
    """A forked process predicts on one LightGBM thread, whatever the size of the prediction.

    The child inherits OpenMP's state but not its threads: if the parent had started them, the child's next
    multi-threaded prediction waits for them forever (a forked batch worker did). Processes forked to score
    side by side (batch workers, server workers) want one thread each anyway, and scores do not depend on
    the number of threads."""
    global _ONE_THREAD
    _ONE_THREAD = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _predict_threads(n_rows: int) -> dict[str, Any]:
    return {"num_threads": 1} if _ONE_THREAD or n_rows < SINGLE_THREAD_ROWS else {}


class LightGBMParams(BaseModel):
    """Booster settings (LightGBM names); logged with every run."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=15, ge=2)
    min_data_in_leaf: int = Field(default=20, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    max_bin: int = Field(default=63, ge=3, description="histogram bins per feature; few labels need few bins")
    max_rounds: int = Field(default=1000, ge=1, description="upper bound; early stopping picks the real number")
    early_stopping_rounds: int = Field(default=50, ge=1)
    num_threads: int = Field(default=1, ge=0, description="0 = all cores; a few thousand labels fit fastest on one")
    min_positives: int = Field(default=8, ge=1, description="fewer positive labels than this: base-rate model")

    def booster_params(self, *, seed: int) -> dict[str, Any]:
        """`lgb.train`'s parameters: a deterministic binary booster, early-stopped on log loss."""
        return {
            "objective": "binary",
            "metric": ["binary_logloss", "average_precision"],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


@dataclass
class Labelled:
    """Feature rows with 0/1 labels and sample weights."""

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    w: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class RiskModel:
    """A fitted binary risk model; `predict_proba` returns calibrated probabilities."""

    name: str
    feature_names: list[str]
    booster: lgb.Booster | None = None
    best_iteration: int = 0
    base_rate: float = 0.0
    calibrator: Calibrator = field(default_factory=Calibrator)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        name: str,
        *,
        feature_names: list[str],
        fit: Labelled,
        valid: Labelled,
        calib: Labelled,
        params: LightGBMParams,
        calibration: CalibrationMethod = "platt",
        seed: int = 0,
        monotone: list[int] | None = None,
    ) -> RiskModel:
        """Fit a booster on `fit`, stop early on `valid`, calibrate on `calib`.

        `monotone` gives one of -1/0/+1 per feature: the direction the risk may move when it grows.
        """
        all_y = np.concatenate([fit.y, valid.y, calib.y])
        all_w = np.concatenate([fit.w, valid.w, calib.w])
        base = float(np.average(all_y, weights=all_w)) if len(all_y) else 0.0
        model = cls(name=name, feature_names=list(feature_names), base_rate=base)
        n_pos = int(all_y.sum())
        model.info = {"n_fit": len(fit), "n_valid": len(valid), "n_calib": len(calib), "n_positive": n_pos}
        if min(fit.y.sum(), valid.y.sum()) < 1 or n_pos < params.min_positives or len(np.unique(fit.y)) < 2:
            logger.warning("%s: only %d positive labels; using the base rate %.4f", name, n_pos, base)
            model.info["fallback"] = "base_rate"
            model.calibrator = Calibrator("none").fit([base], [0])
            return model
        lgb_params = params.booster_params(seed=seed)
        if monotone and any(monotone):
            lgb_params["monotone_constraints"] = list(monotone)
            lgb_params["monotone_constraints_method"] = "intermediate"
            model.info["monotone_features"] = int(sum(1 for m in monotone if m))
        dtrain = lgb.Dataset(
            fit.X,
            label=fit.y,
            weight=fit.w,
            feature_name=model._lgb_names(),
            params={"max_bin": params.max_bin, "verbosity": -1},
            free_raw_data=True,
        )
        dvalid = lgb.Dataset(valid.X, label=valid.y, weight=valid.w, reference=dtrain)
        evals: dict[str, Any] = {}
        booster = lgb.train(
            lgb_params,
            dtrain,
            num_boost_round=params.max_rounds,
            valid_sets=[dvalid],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False),
                lgb.record_evaluation(evals),
            ],
        )
        model.booster = booster
        model.best_iteration = int(booster.best_iteration or booster.current_iteration())
        model.info["best_iteration"] = model.best_iteration
        model.info["valid_logloss"] = float(evals["valid"]["binary_logloss"][model.best_iteration - 1])
        model.calibrator = Calibrator(calibration).fit(model.raw_proba(calib.X), calib.y, calib.w)
        model.info["calibration"] = model.calibrator.method_
        logger.info(
            "%s: %d trees (early stopping), %d/%d positive labels", name, model.best_iteration, n_pos, len(all_y)
        )
        return model

    def _lgb_names(self) -> list[str]:
        # LightGBM refuses some characters in feature names; the real names stay in `feature_names`
        return [f"f{i}" for i in range(len(self.feature_names))]

    def raw_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Uncalibrated booster probabilities at the early-stopped iteration."""
        if self.booster is None:
            return np.full(X.shape[0], self.base_rate, dtype=np.float64)
        return np.asarray(
            self.booster.predict(X, num_iteration=self.best_iteration, **_predict_threads(X.shape[0])),
            dtype=np.float64,
        )

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities."""
        return self.calibrator.transform(self.raw_proba(X))

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-feature contributions to the raw log-odds (TreeSHAP); last column is the expected value."""
        if self.booster is None:
            out = np.zeros((X.shape[0], len(self.feature_names) + 1), dtype=np.float64)
            out[:, -1] = logit([self.base_rate])[0]
            return out
        return np.asarray(
            self.booster.predict(
                X, num_iteration=self.best_iteration, pred_contrib=True, **_predict_threads(X.shape[0])
            ),
            dtype=np.float64,
        )

    def importance(self) -> dict[str, float]:
        """Total gain per feature name, largest first."""
        if self.booster is None:
            return {}
        gain = self.booster.feature_importance(importance_type="gain", iteration=self.best_iteration)
        pairs = sorted(zip(self.feature_names, gain, strict=True), key=lambda t: -t[1])
        return {n: float(g) for n, g in pairs if g > 0}
