"""The one path from a `Market` to model input frames.

`listing_frame(market)`: one row per listing, in the listings' order — the listing's own columns, its
merchant's columns, its own reviews and lab results as lists, and the lab results of all its merchant's
listings in the market (`merchant_lab_*`: what the identity-history features add to their fitted state when
a result is newer than the model, so a service that remembers a merchant's lab history scores with it).

`merchant_frame(market)`: one row per merchant — its own columns and lists over its listings, their reviews
and lab results. Training, batch and online scoring all build their frames here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

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
#: every lab result of the row's merchant (all its listings in the market, the row's own included)
MERCHANT_LAB_LISTS = (
    "merchant_lab_listing_ids",
    "merchant_lab_verdicts",
    "merchant_lab_failure_types",
    "merchant_lab_dates",
)


def _lists(
    table: dict[str, np.ndarray], key: str, cols: dict[str, str], index: NDArray[np.object_]
) -> dict[str, list[list[Any]]]:
    """Group the rows of `table` (column arrays, see `_records`) by `key` into one Python list per output
    column and per entry of `index` (unique values).

    Records keep their order in `table` within each group; entries of `index` without records get [].
    Dates come out as `datetime.date`. (A numpy sort and slices of one list per column, not
    `groupby.agg(list)`: 50k groups in milliseconds instead of seconds.)
    """
    n = len(index)
    out: dict[str, list[list[Any]]] = {name: [[] for _ in range(n)] for name in cols}
    if key not in table or not len(table[key]) or not n:
        return out
    pos = _positions(index, table[key])
    keep = pos >= 0
    order = np.argsort(pos[keep], kind="stable")
    p = pos[keep][order]
    bounds = np.flatnonzero(np.diff(p)) + 1
    starts = np.concatenate([[0], bounds])
    rows, lo, hi = p[starts].tolist(), starts.tolist(), [*bounds.tolist(), len(p)]
    for name, col in cols.items():
        values = table[col]
        arr = values.astype("datetime64[D]") if np.issubdtype(values.dtype, np.datetime64) else values.astype(object)
        flat, lists = arr[keep][order].tolist(), out[name]  # one conversion, then list slices per group
        for r, a, b in zip(rows, lo, hi, strict=True):
            lists[r] = flat[a:b]
    return out


#: tables up to this many rows are ordered, matched and keyed in plain Python (microseconds); longer ones by
#: pandas (vectorised, but tens of microseconds per call whatever the size: a request's frames are a few rows)
_SMALL_SORT = 64


def str_ids(values: pd.Series) -> NDArray[np.object_]:
    """`values.astype(str)` as an object array; a short column that holds only str already is taken as it is
    (ids: a request's frames are a few rows, and pandas' `astype` costs tens of microseconds whatever the size)."""
    arr = values.to_numpy()
    if len(arr) <= _SMALL_SORT and arr.dtype == object and all(type(v) is str for v in arr):
        return arr
    return values.astype(str).to_numpy(dtype=object)


def _positions(index: NDArray[np.object_], keys: np.ndarray) -> NDArray[np.intp]:
    """`pd.Index(index).get_indexer(keys)`: each key's position in `index` (unique values), -1 where absent."""
    if len(index) <= _SMALL_SORT and len(keys) <= _SMALL_SORT:
        at = {v: i for i, v in enumerate(index.tolist())}
        if len(at) == len(index):  # a repeated value: pandas' refusal below
            return np.fromiter((at.get(k, -1) for k in keys.tolist()), dtype=np.intp, count=len(keys))
    return pd.Index(index).get_indexer(pd.Index(keys))


def _first_of_each(ids: NDArray[np.object_]) -> NDArray[np.bool_] | None:
    """Which entries are the first of their value (`~pd.Index(ids).duplicated()`), or None when all are."""
    if len(ids) <= _SMALL_SORT:
        seen: set[Any] = set()
        first = [not (v in seen or seen.add(v)) for v in ids.tolist()]  # type: ignore[func-returns-value]
        return None if all(first) else np.array(first, dtype=bool)
    index = pd.Index(ids)
    return None if index.is_unique else ~index.duplicated()


def _unique(values: NDArray[np.object_]) -> NDArray[np.object_]:
    """`pd.unique(values)`: each value once, in the order of first appearance."""
    if len(values) <= _SMALL_SORT:
        kept = list(dict.fromkeys(values.tolist()))
        out = np.empty(len(kept), dtype=object)
        out[:] = kept
        return out
    return np.asarray(pd.unique(values), dtype=object)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NaT:
        return True
    return (isinstance(v, float) and v != v) or (isinstance(v, np.datetime64) and bool(np.isnat(v)))


def _stable_order(keys: list[np.ndarray]) -> NDArray[np.intp]:
    """The row order of a stable sort by `keys` (first key first, missing values last within each key):
    what `DataFrame.sort_values(keys, kind="stable")` gives, without its fixed cost on a few rows."""
    n = len(keys[0])
    if n <= _SMALL_SORT:
        try:
            return np.array(
                sorted(range(n), key=lambda i: tuple((1, 0) if _missing(k[i]) else (0, k[i]) for k in keys)),
                dtype=np.intp,
            )
        except TypeError:  # values Python will not compare (mixed types): pandas' error, as for long tables
            pass
    names = [f"k{i}" for i in range(len(keys))]
    frame = pd.DataFrame(dict(zip(names, keys, strict=True)))
    return frame.sort_values(names, kind="stable").index.to_numpy(dtype=np.intp)


def _records(df: pd.DataFrame, date_col: str, ties: tuple[str, ...], cols: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Reviews or lab results as column arrays in a stable order that does not depend on the file's row
    order (listing id, date, then `ties`): `listing_id` as str, `_d` the date, and `cols`. Empty: {}."""
    if not len(df):
        return {}
    dates = df[date_col]
    out: dict[str, np.ndarray] = {
        "listing_id": str_ids(df["listing_id"]),
        # a typed frame's dates are datetime64[ns] already, which `to_datetime` returns as they are
        "_d": (dates if dates.dtype == np.dtype("datetime64[ns]") else pd.to_datetime(dates)).to_numpy(),
    }
    for c in dict.fromkeys((*ties, *cols)):
        out[c] = df[c].to_numpy()
    order = _stable_order([out["listing_id"], out["_d"], *(out[c] for c in ties)])
    return {c: v[order] for c, v in out.items()}


def _sorted(market: Market) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reviews and lab results as ordered column arrays (see `_records`)."""
    reviews = _records(market.reviews, "review_date", ("text", "rating"), ())
    lab = _records(market.lab_results, "sampled_date", ("plan_id", "verdict"), ("failure_types",))
    return reviews, lab


def _merchant_rows(
    merchants: pd.DataFrame, merchant_ids: NDArray[np.object_]
) -> tuple[pd.DataFrame, NDArray[np.intp] | None]:
    """Each listing's merchant as a row position in `merchants` (first row of a repeated id), or None when
    some listing's merchant is absent (then the caller reindexes, which fills the gaps with NaN)."""
    ids = str_ids(merchants["merchant_id"])
    keep = _first_of_each(ids)
    if keep is not None:
        merchants, ids = merchants[keep], ids[keep]
    pos = _positions(ids, merchant_ids)
    return merchants, (pos if (pos >= 0).all() else None)


def _default_index(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def listing_frame(market: Market) -> pd.DataFrame:
    """One row per listing: own columns, its merchant's columns, its reviews and lab results as lists."""
    frame = market.listings
    if not _default_index(frame.index):
        frame = frame.reset_index(drop=True)
    lids = str_ids(frame["listing_id"])
    mids = str_ids(frame["merchant_id"])
    columns: dict[str, Any] = {c: frame[c] for c in frame.columns}
    columns["listing_id"], columns["merchant_id"] = lids, mids
    merchants, pos = _merchant_rows(market.merchants, mids)
    if pos is None:  # a listing whose merchant is not in the market: its merchant columns are NaN
        m = merchants.set_index(merchants["merchant_id"].astype(str)).reindex(mids)
        take = {c: m[c].to_numpy() for c in m.columns}
    else:
        take = {c: merchants[c].to_numpy()[pos] for c in merchants.columns}
    for c in MERCHANT_COLUMNS:
        columns[c] = take.get(c)
    columns["merchant_platform"] = take.get("platform")
    reviews, lab = _sorted(market)
    rl = _lists(reviews, "listing_id", {"review_texts": "text", "review_ratings": "rating", "review_dates": "_d"}, lids)
    ll = _lists(
        lab, "listing_id", {"lab_verdicts": "verdict", "lab_failure_types": "failure_types", "lab_dates": "_d"}, lids
    )
    for c in REVIEW_LISTS:
        columns[c] = _object_array(rl[c])
    for c in LAB_LISTS:
        columns[c] = _object_array(ll[c])
    columns.update(_merchant_labs(lab, lids, mids))
    return pd.DataFrame(columns, index=frame.index)


def _merchant_labs(
    lab: dict[str, np.ndarray], lids: NDArray[np.object_], mids: NDArray[np.object_]
) -> dict[str, np.ndarray]:
    """Each listing row's `MERCHANT_LAB_LISTS`: its merchant's lab results (ordered by listing id, then date),
    one list per merchant shared by the merchant's rows."""
    shops = _unique(mids)
    table = dict(lab)
    if table:
        # each lab result's merchant: that of the first listing row with its listing id, NaN for none
        first = _first_of_each(lids)
        owner_l, owner_m = (lids, mids) if first is None else (lids[first], mids[first])
        at = _positions(owner_l, table["listing_id"])
        found = at >= 0
        table["merchant_id"] = np.full(len(at), np.nan, dtype=object)
        table["merchant_id"][found] = owner_m[at[found]]
    cols = {
        "merchant_lab_listing_ids": "listing_id",
        "merchant_lab_verdicts": "verdict",
        "merchant_lab_failure_types": "failure_types",
        "merchant_lab_dates": "_d",
    }
    per_shop = _lists(table, "merchant_id", cols, shops)
    pos = _positions(shops, mids)
    return {c: _object_array([per_shop[c][p] for p in pos]) for c in MERCHANT_LAB_LISTS}


def _object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array holding `values` as they are (lists stay lists, never a 2-D array)."""
    out = np.empty(len(values), dtype=object)
    # element by element: a slice assignment would broadcast equal-length lists into a 2-D shape
    for i, v in enumerate(values):
        out[i] = v
    return out


def merchant_frame(market: Market) -> pd.DataFrame:
    """One row per merchant: own columns and lists over its listings, their reviews and lab results."""
    merchants = market.merchants.drop_duplicates("merchant_id").reset_index(drop=True).copy()
    merchants["merchant_id"] = merchants["merchant_id"].astype(str)
    merchants = merchants.rename(columns={"platform": "merchant_platform"})
    listings = market.listings.assign(
        listing_id=market.listings["listing_id"].astype(str), merchant_id=market.listings["merchant_id"].astype(str)
    ).sort_values("listing_id", kind="stable")
    idx = merchants["merchant_id"].to_numpy(dtype=object)
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
    table = {c: listings[c].to_numpy() for c in ("merchant_id", *cols.values())}
    for c, values in _lists(table, "merchant_id", cols, idx).items():
        out[c] = pd.Series(values, dtype=object).to_numpy()
    # reviews and lab results of all its listings (ordered by listing id, then date)
    owner = dict(zip(listings["listing_id"], listings["merchant_id"], strict=True))
    reviews, lab = _sorted(market)
    for table in (reviews, lab):
        if table:
            table["merchant_id"] = pd.Series(table["listing_id"]).map(owner).to_numpy()
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


__all__ = [
    "LAB_LISTS",
    "MERCHANT_COLUMNS",
    "MERCHANT_LAB_LISTS",
    "REVIEW_LISTS",
    "listing_frame",
    "merchant_frame",
    "str_ids",
]
