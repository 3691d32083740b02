"""A small scikit-learn transformer that turns a feature frame into a LightGBM matrix.

Numeric and boolean columns pass through (NaN stays NaN: LightGBM handles missing values); text and
category columns become integer codes over the levels seen in `fit` (unseen levels map to -1), so the
levels are fixed by the fitted object, not by whatever a scoring batch contains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin


class FrameEncoder(TransformerMixin, BaseEstimator):
    """Frame → float matrix with fixed categorical levels; `drop` names id columns to leave out."""

    def __init__(self, drop: list[str] | None = None, max_levels: int = 200) -> None:
        self.drop = drop
        self.max_levels = max_levels

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameEncoder:
        """Learn the columns and, for non-numeric ones, their most frequent levels."""
        drop = set(self.drop or [])
        self.columns_: list[str] = [c for c in X.columns if c not in drop]
        self.levels_: dict[str, dict[str, int]] = {}
        for c in self.columns_:
            s = X[c]
            if pd.api.types.is_datetime64_any_dtype(s):
                continue
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                top = s.astype(str).value_counts().index[: self.max_levels]
                self.levels_[c] = {str(v): i for i, v in enumerate(sorted(top))}
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Encode `X` with the fitted columns and levels."""
        cols = []
        for c in self.columns_:
            s = X[c] if c in X.columns else pd.Series(np.nan, index=X.index)
            if c in self.levels_:
                cols.append(s.astype(str).map(self.levels_[c]).fillna(-1).to_numpy(dtype=np.float64))
            elif pd.api.types.is_datetime64_any_dtype(s):
                # days since epoch: keeps order, no calendar leakage beyond that
                cols.append((pd.to_datetime(s).astype("int64") // 86_400_000_000_000).to_numpy(dtype=np.float64))
            else:
                cols.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64))
        if not cols:
            return np.zeros((len(X), 0), dtype=np.float64)
        return np.column_stack(cols)

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        """The fitted column names, in matrix order."""
        return np.asarray(self.columns_, dtype=object)
