"""Probability calibration fitted on held-out data (never on the rows the booster was fitted on).

Platt scaling (a logistic regression on the raw log-odds) is the default because it is strictly
monotone: it keeps the booster's ranking, so hit rates at a sampling budget do not suffer from the ties
that isotonic regression's plateaus create among the top-scored listings. Isotonic is available for
large calibration sets. Both take sample weights, so inverse-probability weights make the probabilities
describe the whole market rather than the (risk-targeted) listings that happened to be lab-tested.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["platt", "isotonic", "none"]
_EPS = 1e-6


def logit(p: ArrayLike) -> NDArray[np.float64]:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


class Calibrator:
    """Maps raw model probabilities to calibrated ones; scikit-learn style (`fit` returns self)."""

    def __init__(self, method: CalibrationMethod = "platt") -> None:
        self.method = method

    def fit(self, p: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Calibrator:
        """Fit on held-out raw probabilities `p` and 0/1 labels `y`."""
        p_arr = np.asarray(p, dtype=np.float64)
        y_arr = np.asarray(y, dtype=np.float64)
        w = np.ones_like(p_arr) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.n_ = len(p_arr)
        self.method_: CalibrationMethod = self.method
        if self.method != "none" and (len(np.unique(y_arr)) < 2 or len(p_arr) < 10):
            # one class (or almost no rows) in the calibration set: nothing to learn a mapping from
            logger.warning("calibration set has %d rows and one class; leaving probabilities raw", len(p_arr))
            self.method_ = "none"
        if self.method_ == "platt":
            lr = LogisticRegression(C=1e4, solver="lbfgs")
            lr.fit(logit(p_arr).reshape(-1, 1), y_arr.astype(int), sample_weight=w)
            self.coef_ = float(lr.coef_[0, 0])
            self.intercept_ = float(lr.intercept_[0])
            if self.coef_ <= 0:
                # a non-positive slope would reverse the ranking: the booster learnt nothing usable here
                logger.warning("Platt slope %.3f <= 0; using the weighted base rate shift only", self.coef_)
                self.coef_ = 1.0
                base = float(np.average(y_arr, weights=w))
                self.intercept_ = float(logit([base])[0] - np.average(logit(p_arr), weights=w))
        elif self.method_ == "isotonic":
            self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            self.isotonic_.fit(p_arr, y_arr, sample_weight=w)
        return self

    def transform(self, p: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for raw probabilities `p`."""
        p_arr = np.asarray(p, dtype=np.float64)
        if self.method_ == "platt":
            return 1.0 / (1.0 + np.exp(-(self.coef_ * logit(p_arr) + self.intercept_)))
        if self.method_ == "isotonic":
            return np.asarray(self.isotonic_.predict(p_arr), dtype=np.float64)
        return p_arr
