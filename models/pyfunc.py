"""The MLflow pyfunc face of the scorer bundle, for tools that only speak `mlflow.pyfunc`.

The project itself loads the bundle with `models.registry.load_scorer`, which returns the full
`RiskScorer` (reasons, evidence). Through pyfunc, `predict` takes either a dict of the market tables
(`merchants`, `listings`, optional `reviews`) or one listings frame whose merchant fields are included
as columns, and returns `score_frame`'s probabilities.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from features.records import Merchant


class ChoujianPyfunc(PythonModel):
    """Loads `artifacts/bundle` and scores markets with it."""

    def load_context(self, context: Any) -> None:
        from models.bundle import ScorerBundle

        self.bundle = ScorerBundle.load(context.artifacts["bundle"])

    # no type hints here on purpose: MLflow would try to derive an input schema from them
    def predict(self, context, model_input, params=None):
        from features.market import Market, validate_frame

        if isinstance(model_input, dict):
            tables = {k: validate_frame(pd.DataFrame(v), k, source=k) for k, v in model_input.items()}
            market = Market(**tables)
        else:
            frame = pd.DataFrame(model_input)
            merchant_cols = [c for c in Merchant.model_fields if c in frame.columns]
            merchants = frame[merchant_cols].drop_duplicates("merchant_id")
            market = Market(
                merchants=validate_frame(merchants, "merchants", source="input"),
                listings=validate_frame(frame, "listings", source="input"),
            )
        return self.bundle.score_frame(market)
