"""The listing text model as served: the encoder fine-tuned on listing titles + descriptions to predict
which failure types a lab found (counterfeit, false advertising). Training it, and its out-of-fold
scores, live in `training.text.listing`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.text.inference import TextClassifier

logger = logging.getLogger(__name__)

#: the failure types the listing text model predicts, in column order
LISTING_TEXT_LABELS = ("counterfeit", "false_advertising")


def listing_texts(listings: pd.DataFrame) -> list[str]:
    """The text the model reads for each listing: title, then description."""
    titles = listings["title"].fillna("").astype(str)
    desc = listings["description"].fillna("").astype(str) if "description" in listings else ""
    return [f"{t}。{d}" if d else t for t, d in zip(titles, desc, strict=True)]


class ListingTextModel(TextClassifier):
    """Multi-label scorer: `predict_proba(texts)` is (n, k), one sigmoid probability per failure type."""

    _owned_dir: tempfile.TemporaryDirectory[str] | None = None

    def predict_proba(self, texts: Sequence[object]) -> np.ndarray:
        """Probability of each failure type (columns in `self.labels` order)."""
        return self.predict_proba_all(texts)

    def score_listings(self, listings: pd.DataFrame) -> pd.DataFrame:
        """`text_p_<label>` columns for a listings table, indexed like it."""
        p = self.predict_proba(listing_texts(listings))
        return pd.DataFrame({f"text_p_{lbl}": p[:, j] for j, lbl in enumerate(self.labels)}, index=listings.index)
