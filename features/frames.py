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


def _lists(df: pd.DataFrame, key: str, cols: dict[str, str], index: pd.Index) -> dict[str, list[list[Any]]]:
    """Group `df` by `key` into one Python list per output column and per entry of `index`.

    Records keep their order in `df` within each group; entries of `index` without records get [].
    Dates come out as `datetime.date`. (A numpy split, not `groupby.agg(list)`: 50k groups in
    milliseconds instead of seconds.)
    """
    n = len(index)
    out: dict[str, list[list[Any]]] = {name: [[] for _ in range(n)] for name in cols}
    if not len(df) or not n:
        return out
    pos = index.get_indexer(pd.Index(df[key]))
    keep = pos >= 0
    order = np.argsort(pos[keep], kind="stable")
    p = pos[keep][order]
    bounds = np.flatnonzero(np.diff(p)) + 1
    rows = p[np.concatenate([[0], bounds])]
    for name, col in cols.items():
        values = df[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            arr = values.to_numpy().astype("datetime64[D]")
        else:
            arr = values.to_numpy(dtype=object)
        for r, chunk in zip(rows, np.split(arr[keep][order], bounds), strict=True):
            out[name][r] = chunk.tolist()
    return out


def _sorted(market: Market) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reviews and lab results in a stable order that does not depend on the file's row order."""
    reviews = market.reviews
    if len(reviews):
        reviews = reviews.assign(
            listing_id=reviews["listing_id"].astype(str), _d=pd.to_datetime(reviews["review_date"])
        ).sort_values(["listing_id", "_d", "text", "rating"], kind="stable")
    lab = market.lab_results
    if len(lab):
        lab = lab.assign(listing_id=lab["listing_id"].astype(str), _d=pd.to_datetime(lab["sampled_date"])).sort_values(
            ["listing_id", "_d", "plan_id", "verdict"], kind="stable"
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
    added: dict[str, Any] = {}
    for c in MERCHANT_COLUMNS:
        added[c] = m[c].to_numpy() if c in m else None
    added["merchant_platform"] = m["platform"].to_numpy() if "platform" in m else None
    reviews, lab = _sorted(market)
    idx = pd.Index(frame["listing_id"])
    rl = _lists(reviews, "listing_id", {"review_texts": "text", "review_ratings": "rating", "review_dates": "_d"}, idx)
    ll = _lists(
        lab, "listing_id", {"lab_verdicts": "verdict", "lab_failure_types": "failure_types", "lab_dates": "_d"}, idx
    )
    for c in REVIEW_LISTS:
        added[c] = _object_array(rl[c])
    for c in LAB_LISTS:
        added[c] = _object_array(ll[c])
    return _with_columns(frame, added).reset_index(drop=True)


def _object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array holding `values` as they are (lists stay lists, never a 2-D array)."""
    out = np.empty(len(values), dtype=object)
    # element by element: a slice assignment would broadcast equal-length lists into a 2-D shape
    for i, v in enumerate(values):
        out[i] = v
    return out


def _with_columns(frame: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """`frame` with `columns` set as by `frame[c] = v` in order, but new columns added in one concat.

    Each `frame[c] = v` inserts a block and rebuilds the column index (~0.5 ms apiece), a fixed cost
    that dominated building the frame of a single listing.
    """
    new = {c: v for c, v in columns.items() if c not in frame.columns}
    for c, v in columns.items():
        if c not in new:
            frame[c] = v
    if not new:
        return frame
    return pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)


def merchant_frame(market: Market) -> pd.DataFrame:
    """One row per merchant: own columns and lists over its listings, their reviews and lab results."""
    merchants = market.merchants.drop_duplicates("merchant_id").reset_index(drop=True).copy()
    merchants["merchant_id"] = merchants["merchant_id"].astype(str)
    merchants = merchants.rename(columns={"platform": "merchant_platform"})
    listings = market.listings.assign(
        listing_id=market.listings["listing_id"].astype(str), merchant_id=market.listings["merchant_id"].astype(str)
    ).sort_values("listing_id", kind="stable")
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
    for c, values in _lists(listings, "merchant_id", cols, idx).items():
        out[c] = pd.Series(values, dtype=object).to_numpy()
    # reviews and lab results of all its listings (ordered by listing id, then date)
    owner = dict(zip(listings["listing_id"], listings["merchant_id"], strict=True))
    reviews, lab = _sorted(market)
    if len(reviews):
        reviews = reviews.assign(merchant_id=reviews["listing_id"].map(owner))
    if len(lab):
        lab = lab.assign(merchant_id=lab["listing_id"].map(owner))
    rl = _lists(reviews, "merchant_id", {"review_texts": "text", "review_ratings": "rating", "review_dates": "_d"}, idx)
    ll = _lists(
        lab, "merchant_id", {"lab_verdicts": "verdict", "lab_failure_types": "failure_types", "lab_dates": "_d"}, idx
    )
    for c in REVIEW_LISTS:
        out[c] = pd.Series(rl[c], dtype=object).to_numpy()
    for c in LAB_LISTS:
        out[c] = pd.Series(ll[c], dtype=object).to_numpy()
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
