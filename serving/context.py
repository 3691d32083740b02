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
from collections.abc import Callable, Iterable, Sequence
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
    read_session,
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
    """Rows of `columns` whose `key` is among `values`, in `order` (also across the chunks of a long list of
    values); no query at all for no values."""
    out: list[Any] = []
    chunks = list(_chunks(values))
    for chunk in chunks:
        out.extend(session.execute(select(*columns, order).where(key.in_(chunk)).order_by(order)))
    if len(chunks) > 1:
        out.sort(key=lambda r: r[-1])
    return [tuple(r[:-1]) for r in out]


@dataclass(frozen=True)
class ContextQuery:
    """One scoring request's records, which decide what of the store is added to it."""

    merchants: Sequence[Merchant]
    listings: Sequence[Listing]
    reviews: Sequence[Review] = ()
    lab_results: Sequence[LabResult] = ()


def stored_context(
    session: Session,
    *,
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review] = (),
    lab_results: Sequence[LabResult] = (),
) -> StoredRecords:
    """The stored records to add to a scoring request (see the module's docstring for which, and why)."""
    [out] = stored_contexts(session, [ContextQuery(merchants, listings, reviews, lab_results)])
    return out


def stored_contexts(session: Session, queries: Sequence[ContextQuery]) -> list[StoredRecords]:
    """`stored_context` of each request, read with one query per table for all of them (the single-listing
    requests the batcher scores together): each gets exactly what it gets alone."""
    mids = [{m.merchant_id for m in q.merchants} for q in queries]
    body = [{x.listing_id for x in q.listings} for q in queries]
    who = _StoredMerchants.read(session, set().union(*mids))
    shop_listings: dict[str, list[tuple[int, Listing]]] = defaultdict(list)
    for row in _rows(
        session,
        [MarketListingRow.seq, *(getattr(MarketListingRow, c) for c in _LISTING_COLS)],
        MarketListingRow.merchant_id,
        who.known,
        MarketListingRow.seq,
    ):
        rec = dict(zip(_LISTING_COLS, row[1:], strict=True))
        shop_listings[rec["merchant_id"]].append((row[0], Listing.model_validate(rec)))
    outs: list[StoredRecords] = []
    for q_mids, q_body in zip(mids, body, strict=True):
        out = StoredRecords()
        shops = [shop_listings[m] for m in sorted(q_mids & who.known)]
        ordered = shops[0] if len(shops) == 1 else sorted((x for s in shops for x in s), key=lambda x: x[0])
        out.listings = [x for _, x in ordered if x.listing_id not in q_body]  # the body's record wins
        outs.append(out)
    # reviews and lab results of the stored listings, and the stored ones of the request's listings it sends none of
    stored_ids = [o.listing_ids for o in outs]
    want_reviews = [
        (s | b) - {r.listing_id for r in q.reviews} for s, b, q in zip(stored_ids, body, queries, strict=True)
    ]
    want_labs = [
        (s | b) - {r.listing_id for r in q.lab_results} for s, b, q in zip(stored_ids, body, queries, strict=True)
    ]
    reviews = _by_listing(session, MarketReviewRow, _REVIEW_COLS, set().union(*want_reviews), Review.model_validate)
    ingested = _by_listing(session, MarketLabResultRow, _LAB_COLS, set().union(*want_labs))
    stored_body = _stored_listings(session, set().union(*body))
    # results recorded against the service's plans, as the export: of listings the store holds
    in_store = [s | (b & stored_body) for s, b in zip(stored_ids, body, strict=True)]
    recorded_ids = set().union(*(w & s for w, s in zip(want_labs, in_store, strict=True)))
    recorded = _by_listing(session, LabResultRow, _LAB_COLS, recorded_ids)
    for i, (q, out) in enumerate(zip(queries, outs, strict=True)):
        out.reviews = _gather(reviews, want_reviews[i])
        out.lab_results = _lab_results(_gather(ingested, want_labs[i]), _gather(recorded, want_labs[i] & in_store[i]))
        owner = {x.listing_id: x.merchant_id for x in (*q.listings, *out.listings)}
        counts = _counts(out, owner)
        for mid in mids[i]:
            out.facts[mid] = who.context(mid, counts.get(mid, [0, 0, 0, 0]))
    return outs


def _by_listing(
    session: Session, table: Any, cols: Sequence[str], values: set[str], make: Callable[[dict[str, Any]], Any] = dict
) -> dict[str, list[tuple[int, Any]]]:
    """The rows of `table` whose listing id is among `values`: `cols` as a record made by `make`, per listing
    id with the row's id, in the row ids' order."""
    out: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for row in _rows(session, [table.id, *(getattr(table, c) for c in cols)], table.listing_id, values, table.id):
        rec = dict(zip(cols, row[1:], strict=True))
        out[rec["listing_id"]].append((row[0], make(rec)))
    return out


def _gather(rows: dict[str, list[tuple[int, Any]]], listing_ids: set[str]) -> list[Any]:
    """The records of `listing_ids` from `_by_listing`'s rows, in row-id order (as one query of them gives)."""
    parts = [rows[i] for i in listing_ids if i in rows]
    if len(parts) == 1:
        return [rec for _, rec in parts[0]]
    return [rec for _, rec in sorted((x for p in parts for x in p), key=lambda x: x[0])]


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


def _lab_results(ingested: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> list[LabResult]:
    """Ingested lab results, then those recorded against the service's plans that no ingested row already gives."""
    have = {(r["plan_id"], r["listing_id"]) for r in ingested}
    out = []
    for rec in [*ingested, *(r for r in recorded if (r["plan_id"], r["listing_id"]) not in have)]:
        rec = {**rec, "failure_types": split_failure_types(rec["failure_types"])}
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
    """`stored_context` in a session of its own, or None when scoring with the store is off."""
    if not enabled:
        return None
    [out] = read_contexts(sessions, [ContextQuery(merchants, listings, reviews, lab_results)])
    return out


def read_contexts(sessions: sessionmaker[Session], queries: Sequence[ContextQuery]) -> list[StoredRecords]:
    """`stored_contexts` in a session of its own (`sessions`: read-only ones, which on SQLite take no lock)."""
    with read_session(sessions) as session:
        return stored_contexts(session, queries)


__all__ = ["ContextQuery", "StoredRecords", "read_context", "read_contexts", "stored_context", "stored_contexts"]
