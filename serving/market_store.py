"""The market store: ingest (validated first, all-or-nothing, idempotent, with history), export, and the
market the planner draws from when the store is the service's market source.

One path per job. A market directory is validated by `features.market.load_market` (and `load_removals`), a
push by the same record schemas; both reach `ingest` as typed frames, which writes them in the caller's one
transaction: new records inserted in bulk, changed ones updated with their previous version kept in
`record_history`, identical ones left alone (`row_hash`, a digest of a record's values, tells them apart
without reading every column back). Each ingest that changes anything is a `market_revisions` row; the newest
revision is the store market's fingerprint, as a folder's file times are the files'.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Table, and_, bindparam, func, select, text, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from features.market import Market, RecordError, columns_frame, records_frame
from features.records import EXTRA_TABLES, TABLES
from serving import identities
from serving.db import (
    Base,
    LabResultRow,
    MarketLabResultRow,
    MarketListingRow,
    MarketMerchantRow,
    MarketRemovalRow,
    MarketReviewRow,
    MarketRevisionRow,
    RecordHistoryRow,
    RegistryStatusRow,
    bulk_insert,
    make_sessionmaker,
    read_session,
    table_of,
    utcnow,
)

logger = logging.getLogger(__name__)

#: the order tables are written in (parents first), and the tables a store holds
STORE_TABLES = ("merchants", "listings", "reviews", "lab_results", "removals")
#: rows per INSERT/UPDATE batch, and keys per `IN (...)` lookup (SQLite allows 32,766 parameters)
CHUNK = 5_000
LOOKUP_CHUNK = 900
#: more incoming keys than this: read every stored key once instead of asking in chunks
FULL_SCAN_AT = 50_000

Progress = Callable[[str, int, int], None]  # (table, rows done, rows in table)


@dataclass(frozen=True)
class _Spec:
    """How one record table is stored: its ORM class, its columns (the schema's fields) and its key."""

    name: str
    model: type[Base]
    key: tuple[str, ...]
    content_keyed: bool = False  # no id of its own: keyed by a digest of its values (never 'changed')
    sequenced: bool = False  # keeps arrival order in `seq`

    @property
    def columns(self) -> list[str]:
        return list({**TABLES, **EXTRA_TABLES}[self.name].model_fields)


SPECS: dict[str, _Spec] = {
    "merchants": _Spec("merchants", MarketMerchantRow, ("merchant_id",), sequenced=True),
    "listings": _Spec("listings", MarketListingRow, ("listing_id",), sequenced=True),
    "reviews": _Spec("reviews", MarketReviewRow, ("review_key",), content_keyed=True),
    "lab_results": _Spec("lab_results", MarketLabResultRow, ("plan_id", "listing_id")),
    "removals": _Spec("removals", MarketRemovalRow, ("removal_key",), content_keyed=True),
}


@dataclass
class MarketFrames:
    """What one ingest brings: the typed frames of `features.market` (any table may be empty)."""

    tables: dict[str, pd.DataFrame]
    sources: dict[str, str] = field(default_factory=dict)  # table → file (or request field), for messages

    @classmethod
    def of(
        cls, market: Market, removals: pd.DataFrame | None = None, sources: dict[str, str] | None = None
    ) -> MarketFrames:
        tables = market.tables()
        if removals is not None:
            tables["removals"] = removals
        return cls(tables=tables, sources=dict(sources or {}))

    def frame(self, name: str) -> pd.DataFrame | None:
        df = self.tables.get(name)
        return df if df is not None and len(df) else None


@dataclass
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class IngestReport:
    """What an ingest did, per table; `revision` is None when it changed nothing."""

    revision: int | None
    counts: dict[str, TableCounts]
    linked_merchants: int = 0

    @property
    def changed(self) -> bool:
        return any(c.inserted or c.updated for c in self.counts.values())


def frames_from_records(tables: dict[str, Sequence[Any]]) -> MarketFrames:
    """A push's records (validated when the body was parsed) typed as the loader types a file; a table rule
    broken (a duplicate id) raises `RecordError` whose `file` is the table's name."""
    frames = {name: records_frame(list(records), name, source=name) for name, records in tables.items() if records}
    return MarketFrames(tables=frames, sources={name: name for name in tables})


# --- values ------------------------------------------------------------------------------------------
def _column(s: pd.Series, *, is_date: bool) -> list[Any]:
    """One frame column as plain Python values: dates as `date`, missing as None, numpy scalars unwrapped."""
    if is_date:
        return [None if pd.isna(v) else v.date() for v in s.tolist()]
    values = s.tolist()
    if s.dtype.kind in "fO":
        return [None if isinstance(v, float) and v != v else v for v in values]
    return values


def _rows(spec: _Spec, df: pd.DataFrame) -> list[tuple[Any, ...]]:
    dates = {c for c in spec.columns if c.endswith("_date")}
    cols = [_column(df[c], is_date=c in dates) for c in spec.columns]
    return list(zip(*cols, strict=True))


def _digest(values: Iterable[Any]) -> str:
    return hashlib.blake2b(repr(tuple(values)).encode("utf-8"), digest_size=16).hexdigest()


def _content_keys(rows: Sequence[tuple[Any, ...]]) -> list[str]:
    """A digest of each row plus its occurrence: the second identical review of a listing is a second review."""
    seen: Counter[str] = Counter()
    out = []
    for r in rows:
        d = _digest(r)
        out.append(f"{d}:{seen[d]}")
        seen[d] += 1
    return out


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


# --- checks before anything is written ------------------------------------------------------------------
def _fail(frames: MarketFrames, name: str, row: int, column: str, reason: str) -> RecordError:
    source = frames.sources.get(name, name)
    return RecordError(file=source, row=row, column=column, reason=reason, csv=source.endswith(".csv"))


def check_frames(session: Session, frames: MarketFrames) -> None:
    """The store's own rules, checked before any write: one lab result per (plan, listing), and references
    that resolve in the frames or in the store (a push may name a merchant an earlier one brought)."""
    lab = frames.frame("lab_results")
    if lab is not None:
        dup = lab.duplicated(subset=["plan_id", "listing_id"]).to_numpy()
        if dup.any():
            i = int(dup.argmax())
            raise _fail(
                frames,
                "lab_results",
                i + 1,
                "listing_id",
                f"a second result for plan {lab['plan_id'].iat[i]!r} and listing {lab['listing_id'].iat[i]!r}",
            )
    refs = [
        ("listings", "merchant_id", "merchants", MarketMerchantRow.merchant_id),
        ("reviews", "listing_id", "listings", MarketListingRow.listing_id),
        ("lab_results", "listing_id", "listings", MarketListingRow.listing_id),
        ("removals", "merchant_id", "merchants", MarketMerchantRow.merchant_id),
    ]
    for child, col, parent, stored in refs:
        df = frames.frame(child)
        if df is None:
            continue
        parent_df = frames.frame(parent)
        known = set() if parent_df is None else set(parent_df[SPECS[parent].key[0]].tolist())
        wanted = set(df[col].tolist()) - known
        missing = wanted - _existing_ids(session, stored, wanted)
        if missing:
            bad = df[col].isin(missing).to_numpy()
            i = int(bad.argmax())
            raise _fail(
                frames,
                child,
                i + 1,
                col,
                f"{df[col].iat[i]!r} is in neither the {parent} sent nor the store ({int(bad.sum())} row(s) like this)",
            )


def _existing_ids(session: Session, column: Any, ids: set[str]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(ids)
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        found.update(session.scalars(select(column).where(column.in_(ordered[i : i + LOOKUP_CHUNK]))))
    return found


# --- ingest --------------------------------------------------------------------------------------------
def _lock(session: Session) -> None:
    """One ingest at a time: PostgreSQL takes a table lock; SQLite's writer already holds the database."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE market_revisions IN SHARE ROW EXCLUSIVE MODE"))


def _stored_hashes(session: Session, spec: _Spec, keys: Sequence[Any]) -> dict[Any, str]:
    """key → row_hash of the stored rows among `keys` (for content-keyed tables the value is the key)."""
    table = table_of(spec.model)
    key_cols = [table.c[k] for k in spec.key]
    hash_col = table.c[spec.key[0]] if spec.content_keyed else table.c["row_hash"]
    single = len(key_cols) == 1
    out: dict[Any, str] = {}

    def take(stmt: Any) -> None:
        for row in session.execute(stmt):
            out[row[0] if single else tuple(row[:-1])] = row[-1]

    if len(keys) > FULL_SCAN_AT or len(keys) > LOOKUP_CHUNK and _count(session, table) < 4 * len(keys):
        take(select(*key_cols, hash_col))  # one pass over the table beats many lookups
        return out
    target = key_cols[0] if single else tuple_(*key_cols)
    for i in range(0, len(keys), LOOKUP_CHUNK):
        take(select(*key_cols, hash_col).where(target.in_(list(keys[i : i + LOOKUP_CHUNK]))))
    return out


def _count(session: Session, table: Table) -> int:
    return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _old_rows(session: Session, spec: _Spec, keys: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    table = table_of(spec.model)
    key_cols = [table.c[k] for k in spec.key]
    target = key_cols[0] if len(key_cols) == 1 else tuple_(*key_cols)
    out: dict[Any, dict[str, Any]] = {}
    for i in range(0, len(keys), LOOKUP_CHUNK):
        for row in session.execute(select(table).where(target.in_(list(keys[i : i + LOOKUP_CHUNK])))).mappings():
            k = row[spec.key[0]] if len(spec.key) == 1 else tuple(row[c] for c in spec.key)
            out[k] = dict(row)
    return out


@dataclass
class _Written:
    counts: TableCounts
    inserted: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (old, new)


def _ingest_table(session: Session, spec: _Spec, df: pd.DataFrame, *, revision: int, progress: Progress) -> _Written:
    import time

    t0 = time.perf_counter()
    rows = _rows(spec, df)
    if spec.content_keyed:
        keys: list[Any] = _content_keys(rows)
        hashes = keys
    else:
        idx = [spec.columns.index(k) for k in spec.key]
        keys = [r[idx[0]] for r in rows] if len(idx) == 1 else [tuple(r[i] for i in idx) for r in rows]
        hashes = [_digest(r) for r in rows]
    table = table_of(spec.model)
    seq = int(session.scalar(select(func.coalesce(func.max(table.c.seq), 0))) or 0) if spec.sequenced else 0
    out = _Written(TableCounts())
    new, changed_keys, changed_new = _sort_rows(
        spec, keys, hashes, rows, stored=_stored_hashes(session, spec, keys), revision=revision, seq=seq
    )
    out.counts.unchanged = len(rows) - len(new) - len(changed_keys)
    done = out.counts.unchanged
    progress(spec.name, done, len(rows))

    def written(n: int) -> None:
        nonlocal done
        done += n
        progress(spec.name, done, len(rows))

    bulk_insert(session, table, new, on_chunk=written)
    out.counts.inserted = len(new)
    out.inserted = new
    if changed_keys:
        old_rows = _replace(session, spec, changed_keys, changed_new, revision=revision, on_chunk=written)
        out.counts.updated = len(changed_keys)
        out.changed = [(old_rows[k], changed_new[k]) for k in changed_keys]
    out.counts.seconds = time.perf_counter() - t0
    return out


def _sort_rows(
    spec: _Spec,
    keys: list[Any],
    hashes: list[Any],
    rows: list[Any],
    *,
    stored: dict[Any, Any],
    revision: int,
    seq: int,
) -> tuple[list[dict[str, Any]], list[Any], dict[Any, dict[str, Any]]]:
    """The records to insert (new keys, numbered on from `seq` where the table is sequenced) and the keys and
    records to update (stored under another hash); rows stored with the same hash are left alone."""
    new: list[dict[str, Any]] = []
    changed_keys: list[Any] = []
    changed_new: dict[Any, dict[str, Any]] = {}
    for key, h, r in zip(keys, hashes, rows, strict=True):
        old = stored.get(key)
        if old == h:
            continue
        rec = dict(zip(spec.columns, r, strict=True))
        rec["revision"] = revision
        if spec.content_keyed:
            rec[spec.key[0]] = key
        else:
            rec["row_hash"] = h
        if old is None:
            if spec.sequenced:
                seq += 1
                rec["seq"] = seq
            new.append(rec)
        else:
            changed_keys.append(key)
            changed_new[key] = rec
    return new, changed_keys, changed_new


def _replace(
    session: Session,
    spec: _Spec,
    changed_keys: list[Any],
    changed_new: dict[Any, dict[str, Any]],
    *,
    revision: int,
    on_chunk: Callable[[int], None],
) -> dict[Any, Any]:
    """Keep the stored records of `changed_keys` in the record history, then update them in place; returns the
    records as they were."""
    cols = spec.columns
    table = table_of(spec.model)
    old_rows = _old_rows(session, spec, changed_keys)
    now = utcnow()
    history = [
        {
            "table_name": spec.name,
            "record_key": "|".join(k if isinstance(k, tuple) else (k,)),
            "revision": revision,
            "replaced_at": now,
            "data": {c: _jsonable(old_rows[k][c]) for c in cols},
        }
        for k in changed_keys
    ]
    bulk_insert(session, table_of(RecordHistoryRow), history)
    values = [c for c in [*cols, "row_hash", "revision"] if c not in spec.key]
    stmt = (
        update(table)
        .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in spec.key)))
        .values({c: bindparam(f"v_{c}") for c in values})
    )
    params = [
        {**{f"k_{k}": changed_new[key][k] for k in spec.key}, **{f"v_{c}": changed_new[key][c] for c in values}}
        for key in changed_keys
    ]
    for i in range(0, len(params), CHUNK):
        session.execute(stmt, params[i : i + CHUNK])
        on_chunk(len(params[i : i + CHUNK]))
    return old_rows


def _merchant_side_effects(session: Session, written: _Written, *, revision: int) -> int:
    """Registry-status history for new shops and changed statuses; identity links for shops whose keys are new."""
    now = utcnow()
    statuses = [
        {
            "merchant_id": r["merchant_id"],
            "registry_status": r["registry_status"],
            "revision": revision,
            "observed_at": now,
        }
        for r in written.inserted
    ]
    statuses += [
        {
            "merchant_id": n["merchant_id"],
            "registry_status": n["registry_status"],
            "revision": revision,
            "observed_at": now,
        }
        for o, n in written.changed
        if o["registry_status"] != n["registry_status"]
    ]
    bulk_insert(session, table_of(RegistryStatusRow), statuses)
    linking = ("credit_code", "phone", "shop_name")
    touched = [(r["merchant_id"], r["credit_code"], r["phone"], r["shop_name"]) for r in written.inserted]
    touched += [
        (n["merchant_id"], n["credit_code"], n["phone"], n["shop_name"])
        for o, n in written.changed
        if any(o[c] != n[c] for c in linking)
    ]
    return identities.link_merchants(session, touched, revision=revision)


def ingest(
    session: Session,
    frames: MarketFrames,
    *,
    source: Literal["cli", "http"],
    actor: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Write `frames` to the store in the session's transaction (the caller commits, or rolls back on error).

    Checks the store's rules first (`check_frames`), so a refused ingest has written nothing; then inserts new
    records, updates changed ones (keeping the old version in `record_history`), and leaves identical ones.
    """
    progress = progress or (lambda *_: None)
    _lock(session)
    check_frames(session, frames)
    rev = MarketRevisionRow(started_at=utcnow(), source=source, actor=actor, counts={})
    session.add(rev)
    session.flush()
    counts: dict[str, TableCounts] = {}
    linked = 0
    for name in STORE_TABLES:
        df = frames.frame(name)
        if df is None:
            counts[name] = TableCounts()
            continue
        written = _ingest_table(session, SPECS[name], df, revision=rev.revision, progress=progress)
        counts[name] = written.counts
        if name == "merchants":
            linked = _merchant_side_effects(session, written, revision=rev.revision)
    report = IngestReport(revision=rev.revision, counts=counts, linked_merchants=linked)
    if not report.changed:
        session.delete(rev)  # nothing changed: no revision, so caches keyed on it stay valid
        report.revision = None
    else:
        rev.counts = {
            n: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged} for n, c in counts.items()
        }
    session.flush()
    logger.info(
        "ingest (%s): %s",
        source,
        ", ".join(f"{n} +{c.inserted} ~{c.updated} ={c.unchanged}" for n, c in counts.items() if c.rows),
    )
    return report


# --- reading the market back -------------------------------------------------------------------------------
def _read_table(session: Session, name: str, *, order: Any) -> dict[str, list[Any]]:
    spec = SPECS[name]
    table = table_of(spec.model)
    cols = spec.columns
    result = session.execute(select(*(table.c[c] for c in cols)).order_by(order))
    values: dict[str, list[Any]] = {c: [] for c in cols}
    for row in result:
        for c, v in zip(cols, row, strict=True):
            values[c].append(v)
    return values


def store_revision(session: Session) -> int | None:
    """The newest revision (None before the first ingest that changed anything)."""
    return session.scalar(select(func.max(MarketRevisionRow.revision)))


def has_listings(session: Session) -> bool:
    return session.scalar(select(MarketListingRow.listing_id).limit(1)) is not None


@dataclass
class Export:
    """A market read from the store, its removals, and what of the recorded results it holds."""

    market: Market
    removals: pd.DataFrame
    recorded: int = 0  # results recorded through the API or the pages, now in `lab_results`
    skipped: int = 0  # recorded results for listings the store does not hold (the market would not load)


def read_market(session: Session, *, with_recorded: bool = True) -> Export:
    """The store's market as `load_market` would return it from files, in arrival order; with `with_recorded`,
    every lab result recorded against the service's plans joins `lab_results`, with its plan's exact inclusion
    probability (a result also brought by ingest is listed once)."""
    tables = {
        "merchants": _read_table(session, "merchants", order=MarketMerchantRow.seq),
        "listings": _read_table(session, "listings", order=MarketListingRow.seq),
        "reviews": _read_table(session, "reviews", order=MarketReviewRow.id),
        "lab_results": _read_table(session, "lab_results", order=MarketLabResultRow.id),
    }
    recorded = skipped = 0
    if with_recorded:
        lab = tables["lab_results"]
        have = set(zip(lab["plan_id"], lab["listing_id"], strict=True))
        listings = set(tables["listings"]["listing_id"])
        for r in session.scalars(select(LabResultRow).order_by(LabResultRow.id)):
            if (r.plan_id, r.listing_id) in have:
                continue
            if r.listing_id not in listings:
                skipped += 1
                continue
            for c, v in (
                ("listing_id", r.listing_id),
                ("sampled_date", r.sampled_date),
                ("plan_id", r.plan_id),
                ("verdict", r.verdict),
                ("failure_types", r.failure_types),
                ("cost", r.cost),
                ("inclusion_prob", r.inclusion_prob),
            ):
                lab[c].append(v)
            recorded += 1
    if skipped:
        logger.warning("%d recorded lab result(s) name listings the store does not hold: not exported", skipped)
    frames = {name: columns_frame(cols, name, source=f"store {name}") for name, cols in tables.items()}
    removals = columns_frame(_read_table(session, "removals", order=MarketRemovalRow.id), "removals", source="store")
    return Export(market=Market(**frames), removals=removals, recorded=recorded, skipped=skipped)


# --- the store as the planner's market source -------------------------------------------------------------
class StoreMarketSource:
    """The store as `serving.runtime.MarketCache`'s source: its fingerprint is the newest revision (one cheap
    query per plan), and `mode` says whether an empty store falls back to the files ('auto') or is an error.

    It reads through its own read-only engine (`make_engine(..., read_only=True)`): a request that holds the
    SQLite write lock in its own session may ask for the market without waiting on itself."""

    def __init__(self, engine: Engine, *, mode: Literal["auto", "store"]):
        self.engine, self.mode = engine, mode
        self.sessions = make_sessionmaker(engine)

    def fingerprint(self) -> str | None:
        with read_session(self.sessions) as s:
            rev = store_revision(s)
            listed = rev is not None and has_listings(s)
        if not listed:
            if self.mode == "auto":
                return None
            raise FileNotFoundError(
                "the store holds no market yet (CHOUJIAN_MARKET_SOURCE=store): run `choujian ingest DIR` "
                "or push records to POST /v1/ingest"
            )
        return f"store-r{rev}"

    def load(self) -> Market:
        with read_session(self.sessions) as s:
            return read_market(s, with_recorded=False).market
