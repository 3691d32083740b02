"""Repository functions over the store: keys, plans, lab results, and running the migrations.

Routes call these and never build queries themselves. Functions take an open `Session` and commit only
where the operation is a whole unit (creating a key, saving a plan, recording a result).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.db import ApiKey, LabResultRow, PlanRow, PlanTargetRow, utcnow

logger = logging.getLogger(__name__)
# alembic announces each of its plugins at INFO on every run; only the migrations themselves are news
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
KEY_PREFIX = "cj"


# --- migrations --------------------------------------------------------------------------------------
def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the packaged migrations and `url` (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on '%' in URL-encoded passwords
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision` (default: the newest)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    logger.info("store at %s migrated to %s", engine.url.render_as_string(hide_password=True), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with the code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


# --- API keys ----------------------------------------------------------------------------------------
def hash_key(key: str) -> str:
    """SHA-256 of a key: enough for 256-bit random keys (no dictionary to attack, unlike passwords)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """`cj_<key_id>_<secret>` → (key_id, secret), or None when the shape is wrong."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _KEY_ID.fullmatch(parts[1]) or not parts[2]:
        return None
    return parts[1], parts[2]


#: key ids as the store's column holds them; anything else (a NUL, 500 characters) is simply not a key
_KEY_ID = re.compile(r"[A-Za-z0-9-]{1,32}")
#: plan ids as `new_plan_id` makes them, with room for ids made elsewhere; others are never looked up
_PLAN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def create_key(
    session: Session, *, role: str, name: str = "", key: str | None = None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for `role`; returns the row and the plaintext key, which is shown once and never stored."""
    if key is None:
        key = f"{KEY_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    parts = split_key(key)
    if parts is None:
        raise ValueError("an API key must look like cj_<id>_<secret>")
    row = ApiKey(
        key_id=parts[0], key_hash=hash_key(key), role=role, name=name, created_at=utcnow(), expires_at=expires_at
    )
    session.add(row)
    session.commit()
    return row, key


def ensure_key(session: Session, *, key: str, role: str, name: str) -> bool:
    """Make sure `key` exists with `role` (used to bootstrap the first admin); True when it was created."""
    parts = split_key(key)
    if parts is None:
        raise ValueError("the bootstrap key must look like cj_<id>_<secret>")
    row = session.get(ApiKey, parts[0])
    if row is not None:
        if not secrets.compare_digest(row.key_hash, hash_key(key)) or row.role != role:
            raise ValueError(f"key id {parts[0]} exists with a different secret or role")
        return False
    create_key(session, role=role, name=name, key=key)
    return True


def key_is_active(row: ApiKey, now: datetime | None = None) -> bool:
    """Neither revoked nor past its expiry."""
    now = now or utcnow()
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > now)


def find_active_key(session: Session, key: str) -> ApiKey | None:
    """The unrevoked, unexpired key row matching plaintext `key`, compared in constant time; None otherwise."""
    parts = split_key(key)
    if parts is None:
        return None
    row = session.get(ApiKey, parts[0])
    # hash anyway so an unknown id costs the same as a wrong secret
    digest = hash_key(key)
    if row is None or not key_is_active(row):
        return None
    return row if secrets.compare_digest(row.key_hash, digest) else None


def get_key(session: Session, key_id: str) -> ApiKey | None:
    """A key row by its public id."""
    # PostgreSQL refuses a NUL in a query parameter: an id no key can have is answered without asking it
    return session.get(ApiKey, key_id) if _KEY_ID.fullmatch(key_id) else None


def list_keys(session: Session, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    """All keys, newest first."""
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.key_id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return session.scalars(stmt).all()


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    """Revoke a key (idempotent); None when there is no such key."""
    row = get_key(session, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row


def rotate_key(session: Session, key_id: str, *, grace: timedelta) -> tuple[ApiKey, str, ApiKey] | None:
    """A new key with the old one's role and name; the old one expires after `grace` (at once when zero).

    Returns (new row, new plaintext key, old row), or None when there is no active key `key_id`.
    """
    old = get_key(session, key_id)
    if old is None or not key_is_active(old):
        return None
    until = utcnow() + grace
    if old.expires_at is None or old.expires_at > until:
        old.expires_at = until
    row, key = create_key(session, role=old.role, name=old.name, expires_at=None)  # commits both
    return row, key, old


# --- plans -------------------------------------------------------------------------------------------
def new_plan_id() -> str:
    """A sortable, unguessable plan id: date plus random suffix."""
    return f"plan-{utcnow():%Y%m%d}-{secrets.token_hex(4)}"


def save_plan(session: Session, plan: PlanRow, targets: Sequence[PlanTargetRow]) -> PlanRow:
    """Store a plan with its targets in one transaction."""
    plan.targets = list(targets)
    session.add(plan)
    session.commit()
    return plan


def find_idempotent_plan(session: Session, *, created_by: str, idempotency_key: str) -> PlanRow | None:
    """The plan `created_by` already made with this Idempotency-Key, if any."""
    stmt = select(PlanRow).where(PlanRow.created_by == created_by, PlanRow.idempotency_key == idempotency_key)
    return session.scalars(stmt).first()


def get_plan(session: Session, plan_id: str) -> PlanRow | None:
    """A plan with its targets (ranked), or None."""
    return session.get(PlanRow, plan_id) if _PLAN_ID.fullmatch(plan_id) else None


def list_plans(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[Sequence[PlanRow], int]:
    """One page of plans, newest first, and the total count; neither their targets nor their frames are loaded."""
    total = session.scalar(select(func.count()).select_from(PlanRow)) or 0
    # targets and frame are lazy relationships (serving/db.py): a page of plans reads the plans table only
    stmt = select(PlanRow).order_by(PlanRow.created_at.desc(), PlanRow.plan_id).limit(limit).offset(offset)
    return session.scalars(stmt).all(), int(total)


def result_counts(session: Session, plan_ids: Sequence[str]) -> dict[str, int]:
    """How many lab results each plan has (one grouped query, not a read of every result)."""
    if not plan_ids:
        return {}
    stmt = (
        select(LabResultRow.plan_id, func.count())
        .where(LabResultRow.plan_id.in_(list(plan_ids)))
        .group_by(LabResultRow.plan_id)
    )
    counts = {str(pid): int(n) for pid, n in session.execute(stmt).all()}
    return {pid: counts.get(pid, 0) for pid in plan_ids}


def plans_with_results(session: Session) -> Sequence[PlanRow]:
    """Every plan that has at least one lab result, oldest first."""
    has = select(LabResultRow.plan_id).distinct()
    stmt = select(PlanRow).where(PlanRow.plan_id.in_(has)).order_by(PlanRow.created_at, PlanRow.plan_id)
    return session.scalars(stmt).all()


# --- lab results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewResult:
    """A lab result as recorded: what the client sent plus the inclusion probability the plan gave it."""

    listing_id: str
    verdict: str
    failure_types: str  # ';'-joined, sorted: the same result always has the same string
    sampled_date: date
    cost: float
    inclusion_prob: float


class ResultConflict(Exception):
    """A different result is already stored for the same (plan, listing)."""

    def __init__(self, plan_id: str, listing_id: str, differences: list[str]):
        self.plan_id, self.listing_id, self.differences = plan_id, listing_id, differences
        super().__init__(
            f"plan {plan_id} already has a different result for listing {listing_id}: "
            + "; ".join(differences)
            + " (results are immutable once recorded)"
        )


def _differences(row: LabResultRow, new: NewResult) -> list[str]:
    out = []
    if row.verdict != new.verdict:
        out.append(f"verdict stored {row.verdict!r}, sent {new.verdict!r}")
    if row.failure_types != new.failure_types:
        out.append(f"failure_types stored {row.failure_types!r}, sent {new.failure_types!r}")
    if row.sampled_date != new.sampled_date:
        out.append(f"sampled_date stored {row.sampled_date}, sent {new.sampled_date}")
    if abs(row.cost - new.cost) > 1e-9:
        out.append(f"cost stored {row.cost}, sent {new.cost}")
    return out


def _find_result(session: Session, plan_id: str, listing_id: str) -> LabResultRow | None:
    stmt = select(LabResultRow).where(LabResultRow.plan_id == plan_id, LabResultRow.listing_id == listing_id)
    return session.scalars(stmt).first()


def record_result(
    session: Session, plan_id: str, new: NewResult, *, recorded_by: str | None
) -> tuple[LabResultRow, bool]:
    """Insert a result unless the same one exists (idempotent); returns (row, created).

    Raises `ResultConflict` when a different result is stored for the pair. Two clients racing to insert
    the same pair are resolved by the unique constraint: the loser re-reads and compares.
    """
    existing = _find_result(session, plan_id, new.listing_id)
    if existing is None:
        row = LabResultRow(
            plan_id=plan_id,
            listing_id=new.listing_id,
            verdict=new.verdict,
            failure_types=new.failure_types,
            sampled_date=new.sampled_date,
            cost=new.cost,
            inclusion_prob=new.inclusion_prob,
            recorded_at=utcnow(),
            recorded_by=recorded_by,
        )
        try:
            with session.begin_nested():
                session.add(row)
            return row, True
        except IntegrityError:
            existing = _find_result(session, plan_id, new.listing_id)
            if existing is None:
                raise
    diffs = _differences(existing, new)
    if diffs:
        raise ResultConflict(plan_id, new.listing_id, diffs)
    return existing, False


def list_results(session: Session, plan_id: str) -> Sequence[LabResultRow]:
    """All results recorded against a plan, in recording order."""
    stmt = select(LabResultRow).where(LabResultRow.plan_id == plan_id).order_by(LabResultRow.id)
    return session.scalars(stmt).all()
