"""A memo in front of the transformer review model.

Training scores the same review texts several times (listing pipeline, merchant pipeline, held-out
scoring, the merchant table) and simulated or real markets repeat texts across listings, so each
distinct text is run through the transformer once per process. The memo is never pickled: a loaded
bundle starts empty, and its scores are the model's own, so caching cannot change a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


class CachedReviewScorer:
    """`predict_proba(texts)` of the wrapped scorer, computing each distinct text once."""

    def __init__(self, scorer: Any, *, max_items: int = 2_000_000) -> None:
        self.scorer = scorer
        self.max_items = max_items
        self._memo: dict[str, float] = {}

    @property
    def path(self) -> Any:
        """The wrapped model's folder (what `choujian reviews score` and the registry report)."""
        return getattr(self.scorer, "path", None)

    def predict_proba(self, texts: Sequence[object]) -> NDArray[np.float64]:
        """Complaint probability per text, shape (n,)."""
        keys = [str(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            p = np.asarray(self.scorer.predict_proba(missing), dtype=np.float64)
            if p.ndim == 2:  # (n, 2) classifiers: the complaint class is the last column
                p = p[:, -1]
            if len(self._memo) + len(missing) > self.max_items:
                self._memo.clear()
            self._memo.update(zip(missing, p.tolist(), strict=True))
        return np.fromiter((self._memo[k] for k in keys), dtype=np.float64, count=len(keys))

    def __getstate__(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "max_items": self.max_items}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["scorer"], max_items=state["max_items"])  # type: ignore[misc]
