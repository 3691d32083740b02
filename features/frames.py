"""The one path from a `Market` to model input frames.

`listing_frame(market)`: one row per listing, in the listings' order — the listing's own columns, its
merchant's columns, and its own reviews and lab results as lists. `merchant_frame(market)`: one row per
merchant — its own columns and lists over its listings, their reviews and lab results. Training, batch
and online scoring all build their frames here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.market import Market

#: merchant columns carried on each listing row (the merchant's platform is renamed merchant_platform)
MERCHANT_COLUMNS = (
    "shop_name",
    "credit_code",
    "phone",
    "region",
    "opened_date",
    "registry_status",
    "removals_elsewhere",
)
REVIEW_LISTS = ("review_texts", "review_ratings", "review_dates")
LAB_LISTS = ("lab_verdicts", "lab_failure_types", "lab_dates")


def _lists(df: pd.DataFrame, key: str, cols: dict[str, str], index: pd.Index) -> pd.DataFrame:
    """Group `df` by `key` into one list per output column, aligned to `index` (empty lists elsewhere)."""
    out = pd.DataFrame(index=index)
    if len(df):
        grouped = df.groupby(key, sort=False)
        for name, col in cols.items():
            out[name] = grouped[col].agg(list).reindex(index)
    for name in cols:
        if name not in out:
            out[name] = pd.Series([None] * len(index), index=index, dtype=object)
        s = out[name]
        out[name] = [v if isinstance(v, list) else [] for v in s.tolist()]
    return out


def _reviews_lab(market: Market) -> tuple[pd.DataFrame, pd.DataFrame]:
    reviews = market.reviews
    if len(reviews):
        # a stable order inside each listing's list, whatever order the file had
        reviews = reviews.assign(_d=pd.to_datetime(reviews["review_date"])).sort_values(
            ["listing_id", "_d", "text"], kind="stable"
        )
    lab = market.lab_results
    if len(lab):
        lab = lab.assign(_d=pd.to_datetime(lab["sampled_date"])).sort_values(
            ["listing_id", "_d", "plan_id"], kind="stable"
        )
    return reviews, lab


def listing_frame(market: Market) -> pd.DataFrame:
    """One row per listing: own columns, its merchant's columns, its reviews and lab results as lists."""
    listings = market.listings.reset_index(drop=True)
    merchants = market.merchants.drop_duplicates("merchant_id").set_index("merchant_id")
    frame = listings.copy()
    frame["listing_id"] = frame["listing_id"].astype(str)
    frame["merchant_id"] = frame["merchant_id"].astype(str)
    m = merchants.reindex(frame["merchant_id"])
    for c in MERCHANT_COLUMNS:
        frame[c] = m[c].to_numpy() if c in m else None
    frame["merchant_platform"] = m["platform"].to_numpy() if "platform" in m else None
    reviews, lab = _reviews_lab(market)
    idx = pd.Index(frame["listing_id"])
    rl = _lists(
        reviews.assign(listing_id=reviews["listing_id"].astype(str)) if len(reviews) else reviews,
        "listing_id",
        {"review_texts": "text", "review_ratings": "rating", "review_dates": "_d"},
        idx,
    )
    ll = _lists(
        lab.assign(listing_id=lab["listing_id"].astype(str)) if len(lab) else lab,
        "listing_id",
        {"lab_verdicts": "verdict", "lab_failure_types": "failure_types", "lab_dates": "_d"},
        idx,
    )
    for c in REVIEW_LISTS:
        frame[c] = rl[c].to_numpy()
    for c in LAB_LISTS:
        frame[c] = ll[c].to_numpy()
    return frame.reset_index(drop=True)


def merchant_frame(market: Market) -> pd.DataFrame:
    """One row per merchant: own columns and lists over its listings, their reviews and lab results."""
    merchants = market.merchants.drop_duplicates("merchant_id").reset_index(drop=True).copy()
    merchants["merchant_id"] = merchants["merchant_id"].astype(str)
    merchants = merchants.rename(columns={"platform": "merchant_platform"})
    lf = listing_frame(market)
    idx = pd.Index(merchants["merchant_id"])
    cols: dict[str, str] = {
        "listing_ids": "listing_id",
        "listing_titles": "title",
        "listing_descriptions": "description",
        "listing_categories": "category",
        "listing_brands": "brand",
        "listing_prices": "price",
        "listing_ccc_certs": "ccc_cert",
    }
    out = merchants
    agg = _lists(lf, "merchant_id", cols, idx)
    for c in cols:
        out[c] = agg[c].to_numpy()
    # reviews and lab results of all its listings, flattened in listing order
    by_m = lf.groupby("merchant_id", sort=False)
    for c in (*REVIEW_LISTS, *LAB_LISTS):
        flat = by_m[c].agg(lambda s: [x for lst in s for x in lst])
        out[c] = [v if isinstance(v, list) else [] for v in flat.reindex(idx).tolist()]
    out["n_listings"] = np.array([len(x) for x in out["listing_ids"]], dtype=np.int64)
    return out.reset_index(drop=True)


def single_listing_market(market: Market, listing_id: str) -> Market:
    """The market cut down to one listing, its merchant and its own reviews and lab results."""
    lst = market.listings[market.listings["listing_id"].astype(str) == str(listing_id)]
    mids = set(lst["merchant_id"].astype(str))
    parts: dict[str, Any] = {
        "merchants": market.merchants[market.merchants["merchant_id"].astype(str).isin(mids)],
        "listings": lst,
        "reviews": market.reviews[market.reviews["listing_id"].astype(str) == str(listing_id)],
        "lab_results": market.lab_results[market.lab_results["listing_id"].astype(str) == str(listing_id)],
    }
    return Market(**{k: v.reset_index(drop=True) for k, v in parts.items()})


__all__ = ["LAB_LISTS", "MERCHANT_COLUMNS", "REVIEW_LISTS", "listing_frame", "merchant_frame", "single_listing_market"]
