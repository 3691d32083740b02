"""API keys and roles: `Authorization: Bearer <key>`; 401 without a valid key, 403 with the wrong role.

A platform's key scores listings (and grades merchants), a planner's key works with plans, results and
estimates (and grades merchants), an ingest key pushes market records into the store, an admin key manages
keys and reloads the model and may also do what the others do. Any valid key may read model info.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from serving import store
from serving.db import read_session


class Role(StrEnum):
    """Who a key belongs to."""

    platform = "platform"  # 平台: scores listings before approval
    planner = "planner"  # 抽检计划员: plans, lab results, estimates
    ingest = "ingest"  # 数据接入: pushes market records into the store
    admin = "admin"  # 管理员: keys, model reload


@dataclass(frozen=True)
class Principal:
    """The caller, as identified by a valid key."""

    key_id: str
    role: Role


class KeyCache:
    """Keys this process verified against the store in the last `ttl` seconds, by the key's SHA-256 (never the
    key itself): a scoring request is then authenticated without a database round trip and a thread hop.

    A key revoked through this process's API is forgotten at once; one revoked another way (`choujian keys
    revoke`, another worker) stops working within `ttl` seconds. A key past its expiry is refused at once.
    Failed look-ups are not kept, so a key created a moment ago works at once. `ttl` 0 keeps nothing."""

    def __init__(self, ttl: float, *, max_keys: int = 4096):
        self.ttl = ttl
        self.max_keys = max_keys
        self._keys: dict[str, tuple[Principal, float, datetime | None]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        """The principal of a key verified less than `ttl` seconds ago and not expired since; else None."""
        hit = self._keys.get(digest)
        if hit is None:
            return None
        principal, until, expires_at = hit
        if time.monotonic() >= until or (expires_at is not None and expires_at <= store.utcnow()):
            with self._lock:
                self._keys.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal, expires_at: datetime | None) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._keys) >= self.max_keys:  # many distinct keys: start again rather than grow
                self._keys.clear()
            self._keys[digest] = (principal, time.monotonic() + self.ttl, expires_at)

    def forget(self, key_id: str) -> None:
        """Drop key `key_id` (revoked through this process)."""
        with self._lock:
            for digest in [d for d, (p, _, _) in self._keys.items() if p.key_id == key_id]:
                del self._keys[digest]


_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer cj_<id>_<secret>`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _look_up(readers: sessionmaker[Session], key: str) -> tuple[Principal, datetime | None] | None:
    """The key's principal and expiry from the store, in a read-only session; None for no active key."""
    with read_session(readers) as session:
        row = store.find_active_key(session, key)
        return None if row is None else (Principal(key_id=row.key_id, role=Role(row.role)), row.expires_at)


async def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)], request: Request
) -> Principal:
    """The principal behind the bearer key; 401 when it is missing, malformed, unknown, revoked or expired.

    A key verified in the last seconds is taken from `KeyCache` (no thread hop, no database); others are
    looked up in a read-only session, which on SQLite takes no lock."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing API key: send Authorization: Bearer <key>", _CHALLENGE
        )
    key = credentials.credentials
    cache: KeyCache = request.app.state.keys
    digest = store.hash_key(key)
    principal = cache.get(digest)
    if principal is None:
        found = await run_in_threadpool(_look_up, request.app.state.readers, key)
        if found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid, revoked or expired API key", _CHALLENGE)
        principal = found[0]
        cache.put(digest, principal, found[1])
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only keys with one of `roles`, or admin keys (403 for the others)."""
    allowed = frozenset(roles) | {Role.admin}

    async def _check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:  # no I/O: no thread hop
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"a {principal.role.value} key cannot do this; it needs role {names}"
            )
        return principal

    return _check


AnyKey = Annotated[Principal, Depends(authenticate)]
PlatformKey = Annotated[Principal, Depends(require(Role.platform))]
PlannerKey = Annotated[Principal, Depends(require(Role.planner))]
ScoringKey = Annotated[Principal, Depends(require(Role.platform, Role.planner))]
IngestKey = Annotated[Principal, Depends(require(Role.ingest))]
AdminKey = Annotated[Principal, Depends(require())]
