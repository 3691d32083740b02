"""API keys and roles: `Authorization: Bearer <key>`; 401 without a valid key, 403 with the wrong role.

A platform's key scores listings (and grades merchants), a planner's key works with plans, results and
estimates (and grades merchants), an ingest key pushes market records into the store, an admin key manages
keys and reloads the model and may also do what the others do. Any valid key may read model info.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from serving import store
from serving.deps import get_session


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


_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer cj_<id>_<secret>`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[Session, Depends(get_session)],
) -> Principal:
    """The principal behind the bearer key; 401 when it is missing, malformed, unknown, revoked or expired."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing API key: send Authorization: Bearer <key>", _CHALLENGE
        )
    row = store.find_active_key(session, credentials.credentials)
    principal = None if row is None else Principal(key_id=row.key_id, role=Role(row.role))
    # end the lookup's transaction now, so a long scoring request holds no database lock
    session.rollback()
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid, revoked or expired API key", _CHALLENGE)
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
