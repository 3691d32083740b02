"""`union_transform`: a fitted `FeatureUnion`'s output without its per-call dispatch.

Shared by the risk bundle (listing and merchant pipelines) and the review model's n-gram models; text
vectorizers among the parts go through `features.ngrams.vectorize` (the same matrix, faster).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn import config_context
from sklearn.pipeline import FeatureUnion

from features.ngrams import vectorize


def union_transform(pipeline: Any, X: Any) -> Any:
    """`pipeline.transform(X)` (X a frame or texts), calling a plain `FeatureUnion`'s parts directly when
    that gives the same.

    A `FeatureUnion` dispatches its parts through joblib and output wrappers, a few ms per call that a
    single-listing request pays in full. For an unweighted union of fitted transformers whose outputs
    are all dense arrays or all sparse matrices, its result is `np.hstack` of the parts (CSR
    `scipy.sparse.hstack` for sparse ones), computed here without the dispatch; anything else (weights,
    "drop"/"passthrough", mixed or frame outputs) goes through `transform`.

    The parts run with scikit-learn's per-call checks off (`assume_finite`, `skip_parameter_validation`):
    their inputs are the fitted pipeline's own (texts, or arrays its earlier steps made), and on a few rows
    those checks cost more than the arithmetic. They only check: the numbers are the same.
    """
    if type(pipeline) is not FeatureUnion:
        return vectorize(pipeline, X)  # a text vectorizer's own transform, without its per-n-gram loop
    if pipeline.transformer_weights is not None or pipeline.n_jobs not in (None, 1):
        return pipeline.transform(X)
    steps = [t for _, t in pipeline.transformer_list]
    if not steps or any(isinstance(t, str) for t in steps):
        return pipeline.transform(X)
    with config_context(assume_finite=True, skip_parameter_validation=True):
        parts = [vectorize(t, X) for t in steps]
    if all(type(p) is np.ndarray and p.ndim == 2 for p in parts):
        return np.hstack(parts)
    if all(sp.issparse(p) for p in parts):
        return sp.hstack(parts).tocsr()
    return pipeline.transform(X)


__all__ = ["union_transform"]
