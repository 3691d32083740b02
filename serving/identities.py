"""The identity registry: shops linked across platforms by credit code, phone and normalised shop name.

Maintained as merchants arrive: each ingest links the shops it brought or whose keys changed to the
identities already stored (`link_merchants`), merging identities a new shop bridges; nothing is recomputed
per request. The keys are `features.identity.shop_keys` (the normaliser behind `features.identity.link`,
which also links the shops of one batch among themselves). Keys a shop once carried are kept: a seller does
not shed its past by changing its phone number.

`linked_shops` answers the onboarding check: the known shops an applicant's keys lead to, on any platform,
with their removals, registry status history and lab failures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, bindparam, func, select, tuple_, update
from sqlalchemy.orm import Session

from features.identity import link, shop_keys
from serving.db import (
    IdentityLinkRow,
    LabResultRow,
    MarketLabResultRow,
    MarketListingRow,
    MarketMerchantRow,
    MarketRemovalRow,
    MerchantKeyRow,
    PlanTargetRow,
    RegistryStatusRow,
    bulk_insert,
    table_of,
)
from serving.decisions import LinkedFacts, onboarding_decision
from serving.schemas import LinkedShopOut, MerchantCheckRequest, MerchantCheckResponse, RemovalOut, StatusOut

LOOKUP_CHUNK = 900
Key = tuple[str, str]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: object, b: object) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def _key_holders(session: Session, keys: Iterable[Key]) -> list[tuple[str, str, str]]:
    """(merchant_id, kind, value) of every stored shop carrying one of `keys`."""
    ordered = sorted(set(keys))
    out: list[tuple[str, str, str]] = []
    cols = (MerchantKeyRow.merchant_id, MerchantKeyRow.kind, MerchantKeyRow.value)
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[i : i + LOOKUP_CHUNK]
        stmt = select(*cols).where(tuple_(MerchantKeyRow.kind, MerchantKeyRow.value).in_(chunk))
        out.extend((m, k, v) for m, k, v in session.execute(stmt))
    return out


def _identities_of(session: Session, merchant_ids: Iterable[str]) -> dict[str, int]:
    ordered = sorted(set(merchant_ids))
    out: dict[str, int] = {}
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        stmt = select(IdentityLinkRow.merchant_id, IdentityLinkRow.identity_id).where(
            IdentityLinkRow.merchant_id.in_(ordered[i : i + LOOKUP_CHUNK])
        )
        out.update({m: int(ident) for m, ident in session.execute(stmt)})
    return out


def link_merchants(session: Session, shops: Sequence[tuple[str, str | None, str | None, str]], *, revision: int) -> int:
    """Link `shops` — (merchant_id, credit_code, phone, shop_name) — into the stored identities; returns how many.

    A shop joins the identity of every stored shop sharing one of its keys; when it shares keys with several
    identities they merge into the oldest (smallest id). A shop sharing no key starts a new identity.
    """
    if not shops:
        return 0
    batch = link([(code, phone, name) for _, code, phone, name in shops])  # the batch among itself
    keys_of = {mid: shop_keys(code, phone, name) for mid, code, phone, name in shops}
    holders = _key_holders(session, (k for ks in keys_of.values() for k in ks))
    ident_of = _identities_of(session, {m for m, _, _ in holders} | set(keys_of))
    key_idents: dict[Key, set[int]] = defaultdict(set)
    for m, kind, value in holders:
        if m in ident_of:
            key_idents[(kind, value)].add(ident_of[m])
    uf = _UnionFind()
    for (mid, *_), comp in zip(shops, batch, strict=True):
        node = ("batch", comp)
        uf.find(node)
        if mid in ident_of:
            uf.union(node, ("identity", ident_of[mid]))
        for key in keys_of[mid]:
            for ident in key_idents.get(key, ()):
                uf.union(node, ("identity", ident))
    stored: dict[object, set[int]] = defaultdict(set)
    for ident in {i for ids in key_idents.values() for i in ids} | {ident_of[m] for m in keys_of if m in ident_of}:
        stored[uf.find(("identity", ident))].add(ident)
    next_id = int(session.scalar(select(func.coalesce(func.max(IdentityLinkRow.identity_id), 0))) or 0) + 1
    target: dict[object, int] = {}
    for comp in batch:
        root = uf.find(("batch", comp))
        if root not in target:
            if stored[root]:
                target[root] = min(stored[root])
            else:
                target[root], next_id = next_id, next_id + 1
    for root, idents in stored.items():  # every stored identity met was joined to a shop of the batch
        others = sorted(idents - {target[root]})
        if others:
            session.execute(
                update(IdentityLinkRow)
                .where(IdentityLinkRow.identity_id.in_(others))
                .values(identity_id=target[root], revision=revision)
            )
    new_links, moved = [], []
    for (mid, *_), comp in zip(shops, batch, strict=True):
        ident = target[uf.find(("batch", comp))]
        if mid not in ident_of:
            new_links.append({"merchant_id": mid, "identity_id": ident, "revision": revision})
        elif ident_of[mid] != ident:
            moved.append({"b_mid": mid, "identity_id": ident, "revision": revision})
    bulk_insert(session, table_of(IdentityLinkRow), new_links)
    if moved:
        table = table_of(IdentityLinkRow)
        session.execute(
            update(table)
            .where(table.c.merchant_id == bindparam("b_mid"))
            .values(identity_id=bindparam("identity_id"), revision=bindparam("revision")),
            moved,
        )
    held = {(m, k, v) for m, k, v in holders}
    new_keys = [
        {"merchant_id": mid, "kind": kind, "value": value}
        for mid, keys in keys_of.items()
        for kind, value in keys
        if (mid, kind, value) not in held
    ]
    bulk_insert(session, table_of(MerchantKeyRow), new_keys)
    return len(shops)


# --- the onboarding check's facts ----------------------------------------------------------------------
@dataclass(frozen=True)
class Removal:
    platform: str
    removed_date: date
    reason: str


@dataclass
class LinkedShop:
    """A known shop an applicant's keys lead to, and what is known about it."""

    merchant_id: str
    platform: str
    shop_name: str
    identity_id: int
    via: list[str]  # the applicant's keys it shares (code, phone, name); empty: linked through its identity
    registry_status: str
    removals_elsewhere: int
    removals: list[Removal] = field(default_factory=list)
    status_history: list[tuple[str, datetime]] = field(default_factory=list)
    lab_tests: int = 0
    lab_failures: int = 0
    last_failure: date | None = None


def linked_shops(session: Session, *, credit_code: str | None, phone: str | None, shop_name: str) -> list[LinkedShop]:
    """The stored shops of every identity the applicant's keys lead to, those sharing a key first."""
    keys = shop_keys(credit_code, phone, shop_name)
    if not keys:
        return []
    holders = _key_holders(session, keys)
    via: dict[str, set[str]] = defaultdict(set)
    for m, kind, _ in holders:
        via[m].add(kind)
    idents = set(_identities_of(session, via).values())
    if not idents:
        return []
    stmt = select(IdentityLinkRow.merchant_id, IdentityLinkRow.identity_id).where(
        IdentityLinkRow.identity_id.in_(sorted(idents))
    )
    members = {m: int(i) for m, i in session.execute(stmt)}
    mids = sorted(members)
    shops = {
        m.merchant_id: LinkedShop(
            merchant_id=m.merchant_id,
            platform=m.platform,
            shop_name=m.shop_name,
            identity_id=int(members[m.merchant_id]),
            via=sorted(via.get(m.merchant_id, ())),
            registry_status=m.registry_status,
            removals_elsewhere=m.removals_elsewhere,
        )
        for m in session.scalars(select(MarketMerchantRow).where(MarketMerchantRow.merchant_id.in_(mids)))
    }
    for r in session.scalars(
        select(MarketRemovalRow).where(MarketRemovalRow.merchant_id.in_(mids)).order_by(MarketRemovalRow.removed_date)
    ):
        if r.merchant_id in shops:
            shops[r.merchant_id].removals.append(Removal(r.platform, r.removed_date, r.reason))
    for h in session.scalars(
        select(RegistryStatusRow).where(RegistryStatusRow.merchant_id.in_(mids)).order_by(RegistryStatusRow.id)
    ):
        if h.merchant_id in shops:
            shops[h.merchant_id].status_history.append((h.registry_status, h.observed_at))
    _add_lab_history(session, shops)
    order = sorted(shops.values(), key=lambda s: (not s.via, s.identity_id, s.merchant_id))
    return order


def _add_lab_history(session: Session, shops: dict[str, LinkedShop]) -> None:
    """Lab results of the shops' listings: those ingested and those recorded against the service's plans, once each."""
    mids = sorted(shops)
    ingested = (
        select(
            MarketListingRow.merchant_id,
            MarketLabResultRow.plan_id,
            MarketLabResultRow.listing_id,
            MarketLabResultRow.verdict,
            MarketLabResultRow.sampled_date,
        )
        .join(MarketListingRow, MarketListingRow.listing_id == MarketLabResultRow.listing_id)
        .where(MarketListingRow.merchant_id.in_(mids))
    )
    recorded = (
        select(
            PlanTargetRow.merchant_id,
            LabResultRow.plan_id,
            LabResultRow.listing_id,
            LabResultRow.verdict,
            LabResultRow.sampled_date,
        )
        .join(
            PlanTargetRow,
            and_(PlanTargetRow.plan_id == LabResultRow.plan_id, PlanTargetRow.listing_id == LabResultRow.listing_id),
        )
        .where(PlanTargetRow.merchant_id.in_(mids))
    )
    seen: set[tuple[str, str]] = set()
    for stmt in (ingested, recorded):
        for mid, plan_id, listing_id, verdict, sampled in session.execute(stmt):
            if (plan_id, listing_id) in seen or mid not in shops:
                continue
            seen.add((plan_id, listing_id))
            shop = shops[mid]
            shop.lab_tests += 1
            if verdict == "fail":
                shop.lab_failures += 1
                if shop.last_failure is None or sampled > shop.last_failure:
                    shop.last_failure = sampled


# --- the onboarding check ------------------------------------------------------------------------------
def check_application(
    session: Session, body: MerchantCheckRequest, *, refuse_at_lab_failures: int
) -> MerchantCheckResponse:
    """The linked known shops of a shop application, and the decision `serving.decisions` takes on them."""
    shops = linked_shops(session, credit_code=body.credit_code, phone=body.phone, shop_name=body.shop_name)
    facts = [
        LinkedFacts(
            merchant_id=s.merchant_id,
            platform=s.platform,
            shop_name=s.shop_name,
            via=s.via,
            registry_status=s.registry_status,
            removals=[f"{r.platform} {r.removed_date.isoformat()} {r.reason}" for r in s.removals],
            removals_elsewhere=s.removals_elsewhere,
            lab_failures=s.lab_failures,
        )
        for s in shops
    ]
    decision, reasons = onboarding_decision(facts, refuse_at_lab_failures=refuse_at_lab_failures)
    linked = [
        LinkedShopOut(
            merchant_id=s.merchant_id,
            platform=s.platform,
            shop_name=s.shop_name,
            identity_id=s.identity_id,
            via=s.via,
            registry_status=s.registry_status,
            status_history=[StatusOut(registry_status=st, observed_at=at) for st, at in s.status_history],
            removals=[
                RemovalOut(platform=r.platform, removed_date=r.removed_date, reason=r.reason) for r in s.removals
            ],
            removals_elsewhere=s.removals_elsewhere,
            lab_tests=s.lab_tests,
            lab_failures=s.lab_failures,
            last_failure=s.last_failure,
        )
        for s in shops
    ]
    return MerchantCheckResponse(decision=decision, reasons=reasons, linked=linked)
