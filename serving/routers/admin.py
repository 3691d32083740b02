"""Admin: API keys and hot model reload."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from serving import store
from serving.auth import AdminKey
from serving.db import ApiKey, utcnow
from serving.deps import SessionDep
from serving.routers._responses import AUTH, BODY, CONFLICT, NO_MODEL, NOT_FOUND
from serving.runtime import ModelHolder
from serving.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, ModelInfoOut

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=AUTH)


def _key_out(row: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=row.key_id,
        role=row.role,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
    )


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=BODY, summary="创建密钥 — create a key")
def create_key(_: AdminKey, body: KeyCreate, session: SessionDep) -> KeyCreated:
    """Create an API key; the secret is in this response only (only its hash is stored)."""
    expires = None if body.expires_in_days is None else utcnow() + timedelta(days=body.expires_in_days)
    row, key = store.create_key(session, role=body.role, name=body.name, expires_at=expires)
    logger.info("key %s (%s) created, expires %s", row.key_id, row.role, expires or "never")
    return KeyCreated(**_key_out(row).model_dump(), key=key)


@router.post(
    "/keys/{key_id}/rotate",
    response_model=KeyCreated,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT},
    summary="轮换密钥 — rotate a key",
)
def rotate_key(
    who: AdminKey,
    key_id: str,
    session: SessionDep,
    request: Request,
    grace_hours: Annotated[
        int, Query(ge=0, le=24 * 90, description="how long the old key keeps working; 0: it stops at once")
    ] = 24,
) -> KeyCreated:
    """A new key with the same role and name (its secret is in this response only); the old key, and the web
    sessions logged in with it, stop after `grace_hours`, so clients can switch over. An admin may rotate its
    own key only with a grace period (without one it would lock itself out mid-request, as revoking would)."""
    grace = timedelta(hours=grace_hours)
    if key_id == who.key_id and not grace:
        raise HTTPException(status.HTTP_409_CONFLICT, "refusing to stop the key this request uses at once")
    out = store.rotate_key(session, key_id, grace=grace)
    if out is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active key {key_id!r}")
    row, key, old = out
    request.app.state.keys.forget(old.key_id)  # its new expiry holds in this process at once
    logger.info("key %s rotated to %s; the old one expires %s", old.key_id, row.key_id, old.expires_at)
    return KeyCreated(**_key_out(row).model_dump(), key=key)


@router.get("/keys", response_model=KeyList, summary="列出密钥 — list keys")
def list_keys(_: AdminKey, session: SessionDep, include_revoked: bool = False) -> KeyList:
    """Keys (never their secrets), newest first."""
    return KeyList(keys=[_key_out(r) for r in store.list_keys(session, include_revoked=include_revoked)])


@router.delete(
    "/keys/{key_id}", response_model=KeyOut, responses={**NOT_FOUND, **CONFLICT}, summary="吊销密钥 — revoke a key"
)
def revoke_key(who: AdminKey, key_id: str, session: SessionDep, request: Request) -> KeyOut:
    """Revoke a key at once (idempotent). An admin cannot revoke the key it is using."""
    if key_id == who.key_id:
        raise HTTPException(status.HTTP_409_CONFLICT, "refusing to revoke the key this request uses")
    row = store.revoke_key(session, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key_id!r}")
    request.app.state.keys.forget(key_id)  # refused by this process at once, not after its key cache's seconds
    return _key_out(row)


@router.post("/model/reload", response_model=ModelInfoOut, responses=NO_MODEL, summary="热更新模型 — reload the model")
async def reload_model(request: Request, _: AdminKey) -> ModelInfoOut:
    """Load the registry alias again and swap it in atomically; in-flight requests finish on the old model."""
    holder: ModelHolder = request.app.state.models
    settings = request.app.state.settings
    try:
        # loading takes seconds: do it off the event loop so other requests keep flowing
        loaded = await asyncio.to_thread(holder.reload)
    except Exception as e:
        request.app.state.metrics.reloads.labels(outcome="failed").inc()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"reload failed, the old model keeps serving: {e}"
        ) from e
    request.app.state.metrics.reloads.labels(outcome="ok").inc()
    request.app.state.metrics.set_model(loaded.info.name, loaded.info.version)
    return ModelInfoOut(
        **loaded.info.model_dump(),
        review_thresholds=settings.review_thresholds,
        block_thresholds=settings.block_thresholds,
    )
