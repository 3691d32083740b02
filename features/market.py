"""A market: the four record tables, loaded and validated as a whole.

`load_market(DIR)` reads `merchants`, `listings`, `reviews` and `lab_results` from `DIR` as Parquet or
CSV (Parquet wins when both exist), validates every row against `features.records`, checks that ids
are unique and references resolve, and returns typed DataFrames. Any bad row raises `RecordError`
naming the file, the row and the column; nothing is returned half-loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, TypeAdapter, ValidationError

from features.records import (
    EXTRA_TABLES,
    TABLES,
    LabResult,
    Listing,
    Merchant,
    Review,
    join_failure_types,
    split_failure_types,
)

logger = logging.getLogger(__name__)

# id columns that must be unique within a table
_KEYS = {"merchants": "merchant_id", "listings": "listing_id"}
_DATE_COLUMNS = {
    "merchants": ["opened_date"],
    "listings": ["listed_date"],
    "reviews": ["review_date"],
    "lab_results": ["sampled_date"],
    "removals": ["removed_date"],
}
#: every schema a table file may be validated against: the market's four and the extra ones (removals)
_SCHEMAS = {**TABLES, **EXTRA_TABLES}


class RecordError(ValueError):
    """A row in a user's file does not fit the schema.

    `row` is the 1-based data row (the header is not counted); for CSV files `line` is the line number
    in the file, header included.
    """

    def __init__(self, *, file: str, row: int | None, column: str | None, reason: str, csv: bool = False):
        self.file, self.row, self.column, self.reason = file, row, column, reason
        self.line = row + 1 if (csv and row is not None) else None
        where = file
        if row is not None:
            where += f", row {row}" + (f" (line {self.line})" if self.line else "")
        if column:
            where += f", column '{column}'"
        super().__init__(f"{where}: {reason}")


@dataclass
class Market:
    """The four tables of one market, validated. `failure_types` is stored as a ';'-joined string."""

    merchants: pd.DataFrame
    listings: pd.DataFrame
    reviews: pd.DataFrame = field(default_factory=lambda: _empty("reviews"))
    lab_results: pd.DataFrame = field(default_factory=lambda: _empty("lab_results"))

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}

    def subset(self, listing_ids: Iterable[str]) -> Market:
        """Only these listings, in market order, with their own merchants, reviews and lab results.

        A listing's risks depend on nothing else (`models.contract`), so scoring a subset scores those
        listings exactly as the whole market would.
        """
        keep = {str(i) for i in listing_ids}
        listings = self.listings[self.listings["listing_id"].astype(str).isin(keep).to_numpy()]
        merchant_ids = set(listings["merchant_id"].astype(str))
        parts = {
            "merchants": self.merchants[self.merchants["merchant_id"].astype(str).isin(merchant_ids).to_numpy()],
            "listings": listings,
            "reviews": self.reviews[self.reviews["listing_id"].astype(str).isin(keep).to_numpy()],
            "lab_results": self.lab_results[self.lab_results["listing_id"].astype(str).isin(keep).to_numpy()],
        }
        return Market(**{name: df.reset_index(drop=True) for name, df in parts.items()})

    def without_lab_results(self, listing_ids: Iterable[str]) -> Market:
        """The market with the lab results of these listings hidden (what training may see)."""
        hide = {str(i) for i in listing_ids}
        lab = self.lab_results
        kept = lab[~lab["listing_id"].astype(str).isin(hide).to_numpy()].reset_index(drop=True)
        return Market(merchants=self.merchants, listings=self.listings, reviews=self.reviews, lab_results=kept)

    def write(self, out: str | Path, *, fmt: str = "parquet") -> None:
        """Write the four tables to `out` as Parquet (default) or CSV."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables().items():
            if fmt == "parquet":
                df.to_parquet(out / f"{name}.parquet", index=False)
            elif fmt == "csv":
                df.to_csv(out / f"{name}.csv", index=False)
            else:
                raise ValueError(f"unknown format {fmt!r}: use parquet or csv")


def merchant_chunks(listings: pd.DataFrame, chunk_size: int) -> list[np.ndarray]:
    """Positions of `listings` (in file order) grouped into chunks of about `chunk_size` listings that
    never split a merchant: its complaint score depends on all its listings (`features.merchant_frame`)."""
    codes, _ = pd.factorize(listings["merchant_id"].astype(str))  # merchants in order of first listing
    counts = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    chunk_of_merchant = np.empty(len(counts), dtype=np.int64)
    chunk, filled = 0, 0
    for m, n in enumerate(counts.tolist()):
        if filled and filled + n > chunk_size:
            chunk, filled = chunk + 1, 0
        chunk_of_merchant[m] = chunk
        filled += n
    of_listing = chunk_of_merchant[codes]
    order = np.argsort(of_listing, kind="stable")  # stable: file order inside each chunk
    bounds = np.searchsorted(of_listing[order], np.arange(chunk + 2)) if len(codes) else np.zeros(1, dtype=np.int64)
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def market_chunks(market: Market, chunk_size: int) -> Iterator[Market]:
    """Split a market into sub-markets of whole merchants (about `chunk_size` listings each), each with
    those merchants' listings and the listings' reviews and lab results, all in file order: what the batch
    engines and the service's start-up scoring score one by one (`Market.subset` explains why a listing's
    scores do not depend on the chunk it is in)."""
    listings = market.listings
    chunks = merchant_chunks(listings, chunk_size)
    chunk_of = pd.Series(np.zeros(len(listings), dtype=np.int64), index=listings["listing_id"].astype(str).to_numpy())
    for k, rows in enumerate(chunks):
        chunk_of.iloc[rows] = k
    children = {
        name: (df, df.groupby(df["listing_id"].astype(str).map(chunk_of).to_numpy()).indices if len(df) else {})
        for name, df in (("reviews", market.reviews), ("lab_results", market.lab_results))
    }
    merchants = market.merchants.set_index(market.merchants["merchant_id"].astype(str), drop=False)
    for k, rows in enumerate(chunks):
        part = listings.iloc[rows].reset_index(drop=True)
        tables = {"listings": part, "merchants": merchants.loc[part["merchant_id"].astype(str).unique()]}
        for name, (df, index) in children.items():
            tables[name] = df.iloc[np.sort(index[k])] if k in index else df.iloc[0:0]
        yield Market(**{name: df.reset_index(drop=True) for name, df in tables.items()})


def failure_type_flags(values: pd.Series, types: Sequence[str]) -> pd.DataFrame:
    """0/1 per failure type for each stored `failure_types` value (indexed like `values`)."""
    parsed = [set(split_failure_types(v)) for v in values.tolist()]
    return pd.DataFrame({t: [float(t in p) for p in parsed] for t in types}, index=values.index)


def _columns(name: str) -> list[str]:
    return list(_SCHEMAS[name].model_fields)


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in _columns(name)})


def _table_path(directory: Path, name: str) -> Path | None:
    for ext in ("parquet", "csv"):
        p = directory / f"{name}.{ext}"
        if p.exists():
            return p
    return None


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    """Read one table file (CSV or Parquet) and validate every row against the schema `name`."""
    path = Path(path)
    is_csv = path.suffix.lower() == ".csv"
    try:
        if is_csv:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        else:
            raw = pd.read_parquet(path)
    except UnicodeDecodeError as e:
        raise RecordError(file=str(path), row=None, column=None, reason=f"not UTF-8 text ({e.reason})") from e
    except Exception as e:  # pandas/pyarrow raise many types for unreadable files
        raise RecordError(file=str(path), row=None, column=None, reason=f"cannot read file: {e}") from e
    return validate_frame(raw, name, source=str(path), csv=is_csv)


#: rows validated per call (see `validate_frame`)
_VALIDATE_CHUNK = 2_000


def validate_frame(raw: pd.DataFrame, name: str, *, source: str, csv: bool = False) -> pd.DataFrame:
    """Validate a raw frame against schema `name`; return a typed frame or raise `RecordError`."""
    model: type[BaseModel] = _SCHEMAS[name]
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise RecordError(
            file=source, row=None, column=missing[0], reason=f"missing required column(s): {', '.join(missing)}"
        )
    rows: list[dict[str, Any]] = raw.to_dict("records")  # type: ignore[assignment]
    if csv:
        # empty CSV cells mean "not given": let the schema's defaults apply
        rows = [{k: v for k, v in r.items() if v != ""} for r in rows]
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    records: list[BaseModel] = []
    start = 0
    try:
        # in chunks: one validation call holds the interpreter until it returns, and a server loading its
        # market in the background must not stall every request for the seconds a whole table takes
        for start in range(0, len(rows), _VALIDATE_CHUNK):
            records.extend(adapter.validate_python(rows[start : start + _VALIDATE_CHUNK]))
    except ValidationError as e:
        err = e.errors()[0]
        loc = err["loc"]
        row = start + int(loc[0]) + 1 if loc and isinstance(loc[0], int) else None
        column = str(loc[1]) if len(loc) > 1 else None
        reason = err["msg"]
        if column is not None and row is not None and column in raw.columns:
            reason += f" (got {raw.iloc[row - 1][column]!r})"
        more = e.error_count() - 1
        if more:
            reason += f"; {more} more error(s) in this file"
        raise RecordError(file=source, row=row, column=column, reason=reason, csv=csv) from e
    return records_frame(records, name, source=source, csv=csv)


def records_frame(records: Sequence[BaseModel], name: str, *, source: str, csv: bool = False) -> pd.DataFrame:
    """The typed frame of records already validated against schema `name`: what `validate_frame` returns
    after validating. The service's requests arrive parsed, so they take this path without a second
    validation; the dtypes are the loader's all the same. Table rules (unique ids) are checked here."""
    if not records:  # most single-listing requests send no lab results: build that frame once
        return _empty_typed(name).copy()
    return _typed(records, name, source=source, csv=csv)


@cache
def _empty_typed(name: str) -> pd.DataFrame:
    """`records_frame([], name)`, made by the same code (1.5 ms per request saved for an empty table)."""
    return _typed([], name, source=name)


def _typed(records: Sequence[BaseModel], name: str, *, source: str, csv: bool = False) -> pd.DataFrame:
    model: type[BaseModel] = _SCHEMAS[name]
    for i, r in enumerate(records):
        if not isinstance(r, model):
            raise TypeError(f"{source}: row {i + 1} is a {type(r).__name__}, not a {model.__name__} record")
    # column by column and one constructor call: a frame of a few rows costs its fixed pandas overheads once
    cols: dict[str, Any] = {c: [getattr(r, c) for r in records] for c in model.model_fields}
    return columns_frame(cols, name, source=source, csv=csv)


def columns_frame(cols: dict[str, Any], name: str, *, source: str, csv: bool = False) -> pd.DataFrame:
    """The typed frame of table `name` from its values column by column (lists in the schema's field order):
    the loader's dtypes and table rules, for values already valid (records, or rows read back from the store)."""
    cols = dict(cols)
    if name == "lab_results":
        cols["failure_types"] = [join_failure_types(ts) for ts in cols["failure_types"]]
        cols["verdict"] = [str(v) for v in cols["verdict"]]
    if name == "merchants":
        cols["registry_status"] = [str(v) for v in cols["registry_status"]]
    if not any(len(v) for v in cols.values()):  # no values to infer a type from: object columns, as an empty file's
        cols = {c: pd.Series(v, dtype=object) for c, v in cols.items()}
    for c in _DATE_COLUMNS[name]:
        cols[c] = _date_column(cols[c])
    key = _KEYS.get(name)
    if key is not None:
        seen: set[Any] = set()
        for i, v in enumerate(cols[key]):
            if v in seen:
                raise RecordError(file=source, row=i + 1, column=key, reason=f"duplicate id {v!r}", csv=csv)
            seen.add(v)
    return pd.DataFrame(cols)


#: the days a datetime64[ns] column can hold (pandas' Timestamp.min is 1677-09-21 00:12:43)
_NS_DAYS = (np.datetime64("1677-09-22", "D"), np.datetime64("2262-04-11", "D"))
#: date columns up to this long are converted by NumPy (microseconds); longer ones by pandas (cached by value)
_SMALL_DATES = 64


def _date_column(values: Any) -> Any:
    """`pd.to_datetime` of a column of dates. A request's few `datetime.date` values (what the schemas hold) go
    straight to datetime64[ns] in NumPy, without pandas' ~0.1 ms of fixed cost; anything else (long columns,
    datetimes, strings, missing values, days out of range) goes through pandas."""
    if isinstance(values, list) and 0 < len(values) <= _SMALL_DATES and all(type(v) is date for v in values):
        days = np.array(values, dtype="datetime64[D]")
        if _NS_DAYS[0] <= days.min() and days.max() <= _NS_DAYS[1]:
            return days.astype("datetime64[ns]")
    return pd.to_datetime(pd.Series(values, dtype=object))


def to_json_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Table rows as JSON-ready records (the API's request shape): dates as ISO strings, missing as null."""
    out = []
    for row in df.to_dict("records"):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                v = v.date().isoformat()
            elif isinstance(v, float) and v != v:
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            rec[str(k)] = v
        out.append(rec)
    return out


def _check_references(m: Market, sources: Mapping[str, str]) -> None:
    def check(child: str, col: str, parent_ids: pd.Series, parent: str) -> None:
        df = getattr(m, child)
        bad = ~df[col].isin(parent_ids)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise RecordError(
                file=sources.get(child, child),
                row=i + 1,
                column=col,
                reason=f"{df[col].iat[i]!r} is not in {parent} ({bad.sum()} row(s) like this)",
                csv=sources.get(child, "").endswith(".csv"),
            )

    check("listings", "merchant_id", m.merchants["merchant_id"], "merchants")
    check("reviews", "listing_id", m.listings["listing_id"], "listings")
    check("lab_results", "listing_id", m.listings["listing_id"], "listings")


def load_market(directory: str | Path) -> Market:
    """Load and validate a market directory written by `choujian simulate` or exported by a user."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordError(file=str(directory), row=None, column=None, reason="not a directory")
    frames: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for name in TABLES:
        path = _table_path(directory, name)
        if path is None:
            if name in ("merchants", "listings"):
                raise RecordError(
                    file=str(directory / f"{name}.parquet"),
                    row=None,
                    column=None,
                    reason=f"{name} table not found (.parquet or .csv)",
                )
            frames[name] = _empty(name)
            continue
        sources[name] = str(path)
        frames[name] = read_table(path, name)
        logger.info("loaded %s: %d rows from %s", name, len(frames[name]), path)
    market = Market(**frames)
    _check_references(market, sources)
    return market


def load_removals(directory: str | Path, merchant_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The optional `removals` table of a market directory, validated like the four (empty when absent).

    With `merchant_ids`, every removal must name one of them (the same reference check as the four tables)."""
    directory = Path(directory)
    path = _table_path(directory, "removals")
    if path is None:
        return _empty("removals")
    frame = read_table(path, "removals")
    if merchant_ids is not None:
        known = pd.Series(list(merchant_ids), dtype=object)
        bad = ~frame["merchant_id"].isin(known)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise RecordError(
                file=str(path),
                row=i + 1,
                column="merchant_id",
                reason=f"{frame['merchant_id'].iat[i]!r} is not in merchants ({bad.sum()} row(s) like this)",
                csv=path.suffix.lower() == ".csv",
            )
    return frame


__all__ = [
    "columns_frame",
    "load_removals",
    "Market",
    "RecordError",
    "load_market",
    "market_chunks",
    "merchant_chunks",
    "read_table",
    "to_json_records",
    "records_frame",
    "validate_frame",
    "Merchant",
    "Listing",
    "Review",
    "LabResult",
]
