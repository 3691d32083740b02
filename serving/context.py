"""Scoring with memory: what the market store holds of the merchants a scoring request names.

`stored_context` reads, per merchant id of the request and with indexed queries only (never the whole market):
the merchant's stored listings, their reviews, their lab results (ingested, and recorded against the service's
plans with their inclusion probabilities, once per plan and listing, as `choujian export` writes them), and its
identity in the registry with the linked shops and their removals. The records are added to the request's own
before `model.scorer.score_listings` runs, so the one feature pipeline sees what `choujian score-batch` sees on
an export of the store: a listing's features read its own record, its merchant's record, its own reviews and
the lab results of its merchant's listings (`features.frames`), and nothing else of the market.

Which rows, exactly: the merchant's listings and their reviews and lab results (so its merchant complaint score
and the identity-history features see the whole stored merchant), and the stored reviews and lab results of the
requested listings themselves. Not the linked shops' listings: no feature reads another merchant's rows at
scoring (their history reaches the model through its fitted state), which keeps a score independent of how a
batch engine splits an identity. The body wins where it contradicts the store: its merchant record is used, a
listing it sends replaces the stored one, and reviews (lab results) it sends for a listing replace that
listing's stored ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from features.records import LabResult, Listing, Merchant, Review, split_failure_types
from serving.db import (
    IdentityLinkRow,
    LabResultRow,
    MarketLabResultRow,
    MarketListingRow,
    MarketMerchantRow,
    MarketRemovalRow,
    MarketReviewRow,
)
from serving.schemas import StoredContext, StoredRemoval

LOOKUP_CHUNK = 900

_LISTING_COLS = tuple(Listing.model_fields)
_REVIEW_COLS = tuple(Review.model_fields)
_LAB_COLS = tuple(LabResult.model_fields)


@dataclass
class StoredRecords:
    """Records to add to a request, and per merchant id what they were (the responses' `context`)."""

    listings: list[Listing] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    lab_results: list[LabResult] = field(default_factory=list)
    facts: dict[str, StoredContext] = field(default_factory=dict)

    @property
    def listing_ids(self) -> set[str]:
        return {x.listing_id for x in self.listings}

    @classmethod
    def merge(cls, parts: Iterable[StoredRecords | None]) -> StoredRecords | None:
        """One request's worth from several (the batcher's merged call); None when every part is None."""
        given = [p for p in parts if p is not None]
        if not given:
            return None
        out = cls()
        for p in given:
            out.listings += p.listings
            out.reviews += p.reviews
            out.lab_results += p.lab_results
            out.facts.update(p.facts)
        return out


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    ordered = sorted(set(values))
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        yield ordered[i : i + LOOKUP_CHUNK]


def _rows(session: Session, columns: Sequence[Any], key: Any, values: Iterable[Any], order: Any) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks(values):
        out.extend(session.execute(select(*columns).where(key.in_(chunk)).order_by(order)))
    return out


def stored_context(
    session: Session,
    *,
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review] = (),
    lab_results: Sequence[LabResult] = (),
) -> StoredRecords:
    """The stored records to add to a scoring request (see the module's docstring for which, and why)."""
    mids = {m.merchant_id for m in merchants}
    who = _StoredMerchants.read(session, mids)
    out = StoredRecords()
    body_ids = {x.listing_id for x in listings}
    owner = {x.listing_id: x.merchant_id for x in listings}
    for row in _rows(
        session,
        [getattr(MarketListingRow, c) for c in _LISTING_COLS],
        MarketListingRow.merchant_id,
        who.known,
        MarketListingRow.seq,
    ):
        rec = dict(zip(_LISTING_COLS, row, strict=True))
        if rec["listing_id"] in body_ids:
            continue  # the body's record wins
        out.listings.append(Listing.model_validate(rec))
        owner[rec["listing_id"]] = rec["merchant_id"]
    # reviews and lab results of the stored listings, and the stored ones of the request's listings it sends none of
    stored_ids = out.listing_ids
    for row in _rows(
        session,
        [getattr(MarketReviewRow, c) for c in _REVIEW_COLS],
        MarketReviewRow.listing_id,
        (stored_ids | body_ids) - {r.listing_id for r in reviews},
        MarketReviewRow.id,
    ):
        out.reviews.append(Review.model_validate(dict(zip(_REVIEW_COLS, row, strict=True))))
    out.lab_results = _stored_lab_results(
        session,
        wanted=(stored_ids | body_ids) - {r.listing_id for r in lab_results},
        in_store=stored_ids | _stored_listings(session, body_ids),
    )
    counts = _counts(out, owner)
    for mid in mids:
        out.facts[mid] = who.context(mid, counts.get(mid, [0, 0, 0, 0]))
    return out


@dataclass
class _StoredMerchants:
    """What the store knows of some merchants: which it holds, their registry status, identities, linked shops
    and the removals of all of those shops."""

    known: set[str]
    status: dict[str, str]
    ident_of: dict[str, int]
    members: dict[int, list[str]]
    removals: dict[str, list[StoredRemoval]]

    @classmethod
    def read(cls, session: Session, mids: set[str]) -> _StoredMerchants:
        known = {m for chunk in _chunks(mids) for m in session.scalars(
            select(MarketMerchantRow.merchant_id).where(MarketMerchantRow.merchant_id.in_(chunk))
        )}  # fmt: skip
        status = dict(
            _rows(
                session,
                (MarketMerchantRow.merchant_id, MarketMerchantRow.registry_status),
                MarketMerchantRow.merchant_id,
                known,
                MarketMerchantRow.merchant_id,
            )
        )
        ident_of = {
            str(m): int(i)
            for m, i in _rows(
                session,
                (IdentityLinkRow.merchant_id, IdentityLinkRow.identity_id),
                IdentityLinkRow.merchant_id,
                known,
                IdentityLinkRow.merchant_id,
            )
        }
        members: dict[int, list[str]] = defaultdict(list)
        for m, i in _rows(
            session,
            (IdentityLinkRow.merchant_id, IdentityLinkRow.identity_id),
            IdentityLinkRow.identity_id,
            set(ident_of.values()),
            IdentityLinkRow.merchant_id,
        ):
            members[int(i)].append(str(m))
        shops = {m for ms in members.values() for m in ms} | known
        removals: dict[str, list[StoredRemoval]] = defaultdict(list)
        for mid, platform, when, reason in _rows(
            session,
            (MarketRemovalRow.merchant_id, MarketRemovalRow.platform, MarketRemovalRow.removed_date,
             MarketRemovalRow.reason),
            MarketRemovalRow.merchant_id,
            shops,
            MarketRemovalRow.id,
        ):  # fmt: skip
            removals[mid].append(StoredRemoval(merchant_id=mid, platform=platform, removed_date=when, reason=reason))
        return cls(known=known, status=status, ident_of=ident_of, members=members, removals=removals)

    def context(self, mid: str, n: list[int]) -> StoredContext:
        """What the result says the store added for merchant `mid`, with its counts of stored records `n`."""
        ident = self.ident_of.get(mid)
        linked = [m for m in self.members.get(ident, []) if m != mid] if ident is not None else []
        return StoredContext(
            merchant_known=mid in self.known,
            identity_id=ident,
            linked_shops=linked,
            registry_status=self.status.get(mid),
            stored_listings=n[0],
            stored_reviews=n[1],
            stored_lab_results=n[2],
            stored_lab_failures=n[3],
            removals=[r for m in [mid, *linked] for r in self.removals.get(m, [])],
        )


def _stored_lab_results(session: Session, *, wanted: set[str], in_store: set[str]) -> list[LabResult]:
    """The lab results of the `wanted` listings: ingested ones, then the ones recorded against the service's
    plans (of listings the store holds, as the export writes them) that no ingested row already gives."""
    ingested = [
        dict(zip(_LAB_COLS, row, strict=True))
        for row in _rows(
            session,
            [getattr(MarketLabResultRow, c) for c in _LAB_COLS],
            MarketLabResultRow.listing_id,
            wanted,
            MarketLabResultRow.id,
        )
    ]
    have = {(r["plan_id"], r["listing_id"]) for r in ingested}
    recorded = [
        dict(zip(_LAB_COLS, row, strict=True))
        for row in _rows(
            session,
            [getattr(LabResultRow, c) for c in _LAB_COLS],
            LabResultRow.listing_id,
            wanted & in_store,  # as the export: results of listings the store holds
            LabResultRow.id,
        )
    ]
    out = []
    for rec in [*ingested, *(r for r in recorded if (r["plan_id"], r["listing_id"]) not in have)]:
        rec["failure_types"] = split_failure_types(rec["failure_types"])
        out.append(LabResult.model_validate(rec))
    return out


def _counts(out: StoredRecords, owner: dict[str, str]) -> dict[str, list[int]]:
    """Per merchant: stored listings, reviews, lab results and lab failures added."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for x in out.listings:
        counts[x.merchant_id][0] += 1
    for r in out.reviews:
        counts[owner[r.listing_id]][1] += 1
    for lab in out.lab_results:
        c = counts[owner[lab.listing_id]]
        c[2] += 1
        c[3] += str(lab.verdict) == "fail"
    return counts


def _stored_listings(session: Session, listing_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(listing_ids):
        found.update(session.scalars(select(MarketListingRow.listing_id).where(MarketListingRow.listing_id.in_(chunk))))
    return found


def read_context(
    sessions: sessionmaker[Session],
    *,
    enabled: bool,
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review] = (),
    lab_results: Sequence[LabResult] = (),
) -> StoredRecords | None:
    """`stored_context` in a session of its own (read only), or None when scoring with the store is off."""
    if not enabled:
        return None
    with sessions() as session:
        try:
            return stored_context(
                session, merchants=merchants, listings=listings, reviews=reviews, lab_results=lab_results
            )
        finally:
            session.rollback()  # read only: end the transaction (SQLite's would hold a lock)


__all__ = ["StoredRecords", "read_context", "stored_context"]
