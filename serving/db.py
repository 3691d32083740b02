"""The store's tables (SQLAlchemy 2 typed ORM) and engine set-up.

The schema is owned by the Alembic migrations in `serving/migrations`; these classes must match them
(a test compares the migrated database with this metadata).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    insert,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker


def utcnow() -> datetime:
    """Timezone-aware now, stored as UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite would drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    """An API key: only its SHA-256 hash is stored; `key_id` is the public prefix used to find it."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # None: never


class PlanRow(Base):
    """A stored sampling plan: its parameters, the model and market it was made from, and its summary."""

    __tablename__ = "plans"

    __table_args__ = (UniqueConstraint("created_by", "idempotency_key", name="uq_plans_idempotency"),)

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    budget: Mapped[float] = mapped_column(Float)
    epsilon: Mapped[float] = mapped_column(Float)
    per_merchant_cap: Mapped[int | None] = mapped_column(Integer, default=None)
    seed: Mapped[int] = mapped_column(BigInteger)  # the API takes seeds up to 2^63 - 1
    quotas: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    market_fingerprint: Mapped[str] = mapped_column(String(64))
    n_candidates: Mapped[int] = mapped_column(Integer)
    n_targets: Mapped[int] = mapped_column(Integer)
    spent: Mapped[float] = mapped_column(Float)
    # population counts per category etc.: what the estimators need besides the targets
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # a client's Idempotency-Key and its request's hash: a retried POST returns this plan, not a second one
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)

    # loaded when a plan's targets are used, never with a list of plans (one plan may have 50,000)
    targets: Mapped[list[PlanTargetRow]] = relationship(
        back_populates="plan", order_by="PlanTargetRow.rank", cascade="all, delete-orphan", lazy="select"
    )
    frame: Mapped[PlanFrameRow | None] = relationship(cascade="all, delete-orphan", lazy="select")


class PlanFrameRow(Base):
    """The plan's whole design frame (every candidate, its stratum and inclusion probability, in the
    systematic order) as compressed Parquet: the estimators need all of it, not only the targets."""

    __tablename__ = "plan_frames"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.plan_id", ondelete="CASCADE"), primary_key=True)
    n_rows: Mapped[int] = mapped_column(Integer)
    parquet: Mapped[bytes] = mapped_column(LargeBinary)


class PlanTargetRow(Base):
    """One listing a plan buys, with the probability the design had of choosing it."""

    __tablename__ = "plan_targets"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.plan_id", ondelete="CASCADE"), primary_key=True)
    listing_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    rank: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str] = mapped_column(String(16))
    cost: Mapped[float] = mapped_column(Float)
    p_fail: Mapped[float] = mapped_column(Float)
    inclusion_prob: Mapped[float] = mapped_column(Float)
    expected_yield: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)

    plan: Mapped[PlanRow] = relationship(back_populates="targets")


class LabResultRow(Base):
    """A lab verdict recorded against a plan; (plan_id, listing_id) is unique so re-sends are idempotent."""

    __tablename__ = "lab_results"
    __table_args__ = (UniqueConstraint("plan_id", "listing_id", name="uq_lab_results_plan_listing"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.plan_id", ondelete="CASCADE"), index=True)
    listing_id: Mapped[str] = mapped_column(String(64), index=True)  # scoring with memory reads by listing
    verdict: Mapped[str] = mapped_column(String(8))
    failure_types: Mapped[str] = mapped_column(String(200), default="")
    sampled_date: Mapped[date] = mapped_column(Date)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    inclusion_prob: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(32), default=None)


# --- the market store: what platforms and `choujian ingest` bring, kept with its history ------------------
# Columns mirror the record schemas of `features.records`; `row_hash` is a digest of a record's values, so a
# re-sent record is recognised as unchanged without comparing every column. `revision` is the ingest that last
# wrote the row. No foreign keys between market tables: ingest checks references itself before writing (a push
# may name a merchant a previous push brought), and bulk inserts of a million listings stay fast.
class MarketRevisionRow(Base):
    """One ingest that changed the store; the newest revision is the store market's cheap fingerprint."""

    __tablename__ = "market_revisions"

    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # "cli" (a directory) or "http" (a push)
    actor: Mapped[str | None] = mapped_column(String(200), default=None)  # the key id or the directory
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MarketMerchantRow(Base):
    """A shop as last ingested (`features.records.Merchant`)."""

    __tablename__ = "market_merchants"

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # arrival order: an export lists shops as they came
    platform: Mapped[str] = mapped_column(String(64))
    shop_name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    region: Mapped[str] = mapped_column(String(64), default="")
    opened_date: Mapped[date] = mapped_column(Date)
    registry_status: Mapped[str] = mapped_column(String(32))
    removals_elsewhere: Mapped[int] = mapped_column(Integer, default=0)
    row_hash: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)


class MarketListingRow(Base):
    """A listing as last ingested (`features.records.Listing`)."""

    __tablename__ = "market_listings"

    listing_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    platform: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    brand: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[float] = mapped_column(Float)
    sales: Mapped[int] = mapped_column(BigInteger, default=0)
    ccc_cert: Mapped[str | None] = mapped_column(Text, default=None)
    listed_date: Mapped[date] = mapped_column(Date)
    row_hash: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)


class MarketReviewRow(Base):
    """A buyer's review. Reviews carry no id: `review_key` is a digest of the review and its occurrence (the
    n-th identical review of a listing), so re-sending a review finds it, and a review is never 'changed'."""

    __tablename__ = "market_reviews"
    __table_args__ = (UniqueConstraint("review_key", name="uq_market_reviews_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_key: Mapped[str] = mapped_column(String(40))
    listing_id: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    rating: Mapped[int] = mapped_column(Integer)
    review_date: Mapped[date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer)


class MarketLabResultRow(Base):
    """A lab result brought by ingest (a market's `lab_results` table); one per (plan, listing), as the
    service records them. Results recorded against the service's own plans stay in `lab_results`."""

    __tablename__ = "market_lab_results"
    __table_args__ = (UniqueConstraint("plan_id", "listing_id", name="uq_market_lab_results_plan_listing"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    listing_id: Mapped[str] = mapped_column(String(64), index=True)
    sampled_date: Mapped[date] = mapped_column(Date)
    verdict: Mapped[str] = mapped_column(String(8))
    failure_types: Mapped[str] = mapped_column(Text, default="")  # a file may repeat a type: no length to outgrow
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    inclusion_prob: Mapped[float | None] = mapped_column(Float, default=None)
    row_hash: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)


class MarketRemovalRow(Base):
    """A shop taken off a platform (`features.records.Removal`); keyed by a digest of the record."""

    __tablename__ = "market_removals"
    __table_args__ = (UniqueConstraint("removal_key", name="uq_market_removals_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    removal_key: Mapped[str] = mapped_column(String(40))
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    platform: Mapped[str] = mapped_column(String(64))
    removed_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    revision: Mapped[int] = mapped_column(Integer)


class RegistryStatusRow(Base):
    """A merchant's registry status as each ingest saw it first or saw it change: the status history."""

    __tablename__ = "registry_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    registry_status: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecordHistoryRow(Base):
    """The previous version of a market record that an ingest changed (its columns as JSON)."""

    __tablename__ = "record_history"
    __table_args__ = (Index("ix_record_history_record", "table_name", "record_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(32))
    record_key: Mapped[str] = mapped_column(String(200))  # an id, or plan_id|listing_id (≤ 129)
    revision: Mapped[int] = mapped_column(Integer)  # the ingest that replaced this version
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class MerchantKeyRow(Base):
    """A linking key (credit code, phone, normalised shop name) a merchant has carried. Keys are kept when a
    shop changes them: a shop does not shed its past by changing its phone."""

    __tablename__ = "merchant_keys"
    __table_args__ = (Index("ix_merchant_keys_key", "kind", "value"),)

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # code | phone | name
    value: Mapped[str] = mapped_column(Text, primary_key=True)  # NFKC may lengthen a 200-character name


class IdentityLinkRow(Base):
    """The identity (sellers linked across shops and platforms) a merchant belongs to, kept up to date by ingest."""

    __tablename__ = "identity_links"

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity_id: Mapped[int] = mapped_column(Integer, index=True)
    revision: Mapped[int] = mapped_column(Integer)


def table_of(model: type[Base]) -> Table:
    """The Core table behind an ORM class (for bulk executemany inserts and updates)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


#: rows per executemany (the progress bar moves once per chunk)
BULK_CHUNK = 10_000


def bulk_insert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, on_chunk: Callable[[int], None] | None = None
) -> int:
    """Insert `rows` by executemany in chunks (psycopg pipelines them; measured 2.5x faster here than multi-row
    VALUES through SQLAlchemy's "insertmanyvalues", and 6x faster than one compiled multi-row statement)."""
    if not rows:
        return 0
    stmt = insert(table)
    for i in range(0, len(rows), BULK_CHUNK):
        chunk = list(rows[i : i + BULK_CHUNK])
        session.execute(stmt, chunk).close()
        if on_chunk is not None:
            on_chunk(len(chunk))
    return len(rows)


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets cross-thread use, a busy timeout and enforced foreign keys.

    `read_only` engines begin SQLite transactions DEFERRED: a reader takes a snapshot and no lock, so it can
    read while a request's own session holds the write lock (the store's market source reads that way)."""
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if engine.url.database not in (None, "", ":memory:"):
                # readers do not block the writer, and the writer does not block readers
                cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
            # pysqlite's own transaction handling breaks SAVEPOINTs (a released savepoint commits); let
            # SQLAlchemy emit BEGIN itself, as its SQLite documentation recommends
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: two deferred transactions that both read and then
            # write would deadlock and one would fail with "database is locked" instead of waiting
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (responses are built after the commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads alone, its transaction ended as the block ends, error or not: a read transaction
    left open until the session is dropped would hold its snapshot (and, on SQLite, a lock) meanwhile."""
    with factory() as session:
        try:
            yield session
        finally:
            session.rollback()


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session; roll back on error, always close."""
    session = factory()
    try:
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
