"""FastAPI dependencies: the settings, a database session and the model, all taken from `app.state`.

The ones that only read `app.state` are `async def`: FastAPI runs a plain `def` dependency in its thread
pool, a hop to a worker thread and back for each, which a single-listing request paid several times.
Only the session (database I/O) stays a thread-pool dependency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from serving.db import session_scope
from serving.drift import DriftCache
from serving.runtime import LoadedModel, MarketCache, ModelHolder
from serving.settings import Settings


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request, closed (and rolled back if uncommitted) at the end."""
    yield from session_scope(request.app.state.sessions)


async def get_model(request: Request) -> LoadedModel:
    """The model serving this request, captured once (a reload during the request does not affect it)."""
    holder: ModelHolder = request.app.state.models
    model = holder.current
    if model is None:
        detail = "no model loaded" + (f": {holder.last_error}" if holder.last_error else "")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail)
    return model


async def get_market_cache(request: Request) -> MarketCache:
    """The scored-market cache (plan candidates)."""
    cache: MarketCache = request.app.state.market
    return cache


async def get_drift_cache(request: Request) -> DriftCache:
    """The drift of the scored market from the model's training market, computed once per both."""
    cache: DriftCache = request.app.state.drift
    return cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
MarketDep = Annotated[MarketCache, Depends(get_market_cache)]
DriftDep = Annotated[DriftCache, Depends(get_drift_cache)]
