"""The market overview: the current market's listings scored by the champion, summed up by group."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from serving.web.charts import BarRow
from serving.web.views import MarketOverview, TopListing

if TYPE_CHECKING:
    from features.market import Market

#: the risk the overview shows: the probability that a purchased sample fails its lab test
RISK_COLUMN = "p_lab_fail"


def _groups(frame: pd.DataFrame, by: str) -> list[BarRow]:
    g = frame.groupby(by, sort=False)[RISK_COLUMN].agg(["mean", "size"]).sort_values("mean", ascending=False)
    return [BarRow(label=str(k), value=float(r["mean"]), count=int(r["size"])) for k, r in g.iterrows()]


def summarise(
    market: Market,
    scores: pd.DataFrame,
    *,
    top_ids: list[str] | None = None,
    top_reasons: dict[str, list[str]] | None = None,
) -> MarketOverview:
    """Mean predicted failure probability and listing counts by category and by platform.

    Args:
        market: the current market (listings give category and platform).
        scores: `RiskScorer.score_frame(market)`: `listing_id` and `p_<risk>` columns.
        top_ids: listings to show as the riskiest, highest first.
        top_reasons: their reasons in Chinese, by listing id.
    """
    listings = market.listings[["listing_id", "merchant_id", "category", "platform", "title", "price"]]
    frame = listings.merge(scores[["listing_id", RISK_COLUMN]], on="listing_id", how="inner", validate="1:1")
    top_rows: list[TopListing] = []
    if top_ids:
        info = {str(r["listing_id"]): r for r in frame[frame["listing_id"].isin(top_ids)].to_dict("records")}
        for lid in top_ids:
            row = info[lid]
            top_rows.append(
                TopListing(
                    listing_id=lid,
                    title=str(row["title"]),
                    category=str(row["category"]),
                    platform=str(row["platform"]),
                    price=float(row["price"]),
                    probability=float(row[RISK_COLUMN]),
                    reasons=list((top_reasons or {}).get(lid, [])),
                )
            )
    return MarketOverview(
        n_listings=len(frame),
        n_merchants=int(frame["merchant_id"].nunique()),
        mean_risk=float(frame[RISK_COLUMN].mean()) if len(frame) else 0.0,
        n_high=int((frame[RISK_COLUMN] >= 0.5).sum()),
        by_category=_groups(frame, "category"),
        by_platform=_groups(frame, "platform"),
        top=top_rows,
    )


def riskiest(scores: pd.DataFrame, n: int) -> list[str]:
    """Ids of the `n` listings with the highest failure probability (ties broken by id, for stable pages)."""
    ordered = scores.sort_values([RISK_COLUMN, "listing_id"], ascending=[False, True])
    return [str(x) for x in ordered["listing_id"].head(n)]
