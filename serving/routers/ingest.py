"""Platforms push market records into the store: the same validation and the same writer as `choujian ingest`."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from features.market import RecordError
from serving import market_store
from serving.auth import IngestKey
from serving.deps import SessionDep, SettingsDep
from serving.routers._responses import AUTH, BODY
from serving.schemas import IngestRequest, IngestResponse, TableCountsOut
from serving.service import RequestProblem

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/ingest", tags=["ingest"], responses={**AUTH, **BODY})


@router.post("", response_model=IngestResponse, summary="推送商家、商品、评价与抽检数据 — push market records")
def ingest(who: IngestKey, body: IngestRequest, session: SessionDep, settings: SettingsDep) -> IngestResponse:
    """Merchants, listings, reviews, lab results and removals, written whole or not at all (a bad record is a
    422 naming it, and nothing is written); re-sending changes nothing; a changed record is updated and its
    previous version kept. Listings may name merchants pushed earlier. For an `ingest` or `admin` key."""
    tables = {name: getattr(body, name) for name in market_store.STORE_TABLES}
    total = sum(len(v) for v in tables.values())
    if total > settings.max_ingest_records:
        biggest = max(tables, key=lambda n: len(tables[n]))
        raise RequestProblem(
            ["body", biggest],
            f"at most {settings.max_ingest_records} records per push, got {total}: split the push",
            status_code=413,
        )
    try:
        frames = market_store.frames_from_records(tables)
        report = market_store.ingest(session, frames, source="http", actor=who.key_id)
    except RecordError as e:
        session.rollback()
        loc: list[str | int] = ["body", e.file]
        if e.row is not None:
            loc.append(e.row - 1)
        if e.column:
            loc.append(e.column)
        raise RequestProblem(loc, e.reason) from e
    session.commit()
    logger.info("push by key %s: revision %s", who.key_id, report.revision)
    return IngestResponse(
        revision=report.revision,
        counts={
            n: TableCountsOut(inserted=c.inserted, updated=c.updated, unchanged=c.unchanged)
            for n, c in report.counts.items()
        },
        linked_merchants=report.linked_merchants,
    )
