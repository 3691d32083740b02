"""What a scorer returns: the contract between the models and everything that shows their output
(API, batch scoring, planner, CLI, web pages).

A `RiskScorer` (the registered bundle implements it) turns a `features.market.Market` into one
`ListingScore` per listing. What a score may depend on:

- the listing-level risks (`LISTING_RISKS`) depend only on the listing's own record, its merchant's
  record, its own reviews and lab results, the lab results of its merchant's other listings that are newer
  than the model (the identity history's memory, `features.transformers.new_merchant_labs`), and state
  fitted at training time — never on other merchants' rows, so one listing scored with its merchant's rows
  over HTTP, in a 1,000-listing batch or on Spark (merchants kept whole) gets the same numbers;
- the merchant-level risk (`MERCHANT_RISK`) describes the shop, so it aggregates over *all* of that
  merchant's listings, reviews and lab results present in the input (plus fitted state). It is
  batch-invariant as long as a merchant's rows are never split across calls: the batch engines keep each
  merchant whole, and an API caller asking for a merchant's risk sends the listings it wants counted.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, Field

from features.lexicon import Evidence

if TYPE_CHECKING:
    import pandas as pd

    from features.market import Market

#: the listing-level risks, in the order columns are written
LISTING_RISKS = ("lab_fail", "counterfeit", "false_advertising")
#: the merchant-level risk
MERCHANT_RISK = "merchant_complaint"
RISKS = (*LISTING_RISKS, MERCHANT_RISK)
RiskName = Literal["lab_fail", "counterfeit", "false_advertising", "merchant_complaint"]


class Reason(BaseModel):
    """One of the top reasons behind a score: a feature's contribution, in words."""

    code: str = Field(description="stable reason code, e.g. ABSOLUTE_CLAIM, PRICE_BELOW_BRAND")
    zh: str
    en: str
    contribution: float = Field(description="contribution to the score's log-odds")


class RiskScore(BaseModel):
    probability: float = Field(
        ge=0,
        le=1,
        description="calibrated probability that a lab test (or check) would find this failure, learnt from the "
        "training market's lab results (1/π-weighted) and calibrated on held-out listings; for merchant_complaint, "
        "that the merchant is complaint-prone",
    )
    reasons: list[Reason] = Field(default_factory=list)


class ListingScore(BaseModel):
    listing_id: str
    merchant_id: str
    risks: dict[RiskName, RiskScore]
    evidence: list[Evidence] = Field(default_factory=list)


class RiskScorer(Protocol):
    """What the registered model bundle offers to serving, batch scoring and the planner."""

    name: str
    version: str

    def score_frame(self, market: Market) -> pd.DataFrame:
        """Probabilities only, fast: one row per listing, columns `listing_id` and `p_<risk>` for RISKS."""
        ...

    def score_listings(
        self, market: Market, *, top_reasons: int = 3, only: Collection[str] | None = None
    ) -> list[ListingScore]:
        """Probabilities with reasons and evidence spans, one per listing, in the listings' order (with `only`,
        for those listings alone; the rest of `market` is context, e.g. a merchant's stored listings)."""
        ...
