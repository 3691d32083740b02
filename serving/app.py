"""The FastAPI app factory: `create_app(settings)`; `choujian serve` runs it under uvicorn.

The `lifespan` migrates the store, ensures the bootstrap admin key, and loads the model once from the
MLflow registry alias; requests get all three through dependencies on `app.state`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import limits, security, store
from serving.auth import KeyCache
from serving.batcher import ScoreBatcher
from serving.context import read_contexts
from serving.db import make_engine, make_sessionmaker
from serving.docs import include_docs
from serving.drift import DriftCache
from serving.inputs import TextGuardMiddleware
from serving.market_store import StoreMarketSource
from serving.metrics import Metrics, MetricsMiddleware
from serving.runtime import Loader, MarketCache, ModelHolder, registry_loader
from serving.service import RequestProblem, Unavailable, score_records
from serving.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DESCRIPTION = """
抽检 **Choujian**: risk scores for listings before approval, merchant credit grades, and budgeted
mystery-buyer (神秘买家) sampling plans with honest pass-rate estimates.

Authenticate with `Authorization: Bearer <key>`; keys are created with `choujian keys create --role …`.
Roles: **platform** scores listings and checks shop applications; **planner** works with plans, lab results
and estimates; **ingest** pushes market records into the store; **admin** manages keys and reloads the model
(and may do everything else).
"""

TAGS = [
    {"name": "scoring", "description": "上架前风险评分 — score listings before approval (platform)"},
    {
        "name": "merchants",
        "description": "商家信用分级与入驻核验 — merchant complaint risk and grade; cross-platform onboarding check",
    },
    {"name": "plans", "description": "抽检计划 — sampling plans, lab results and pass-rate estimates (planner)"},
    {
        "name": "ingest",
        "description": "数据接入 — platforms push merchants, listings, reviews and lab results (ingest)",
    },
    {"name": "model", "description": "模型信息 — the model in service"},
    {"name": "admin", "description": "管理 — API keys and model reload (admin)"},
    {"name": "ops", "description": "health, readiness and Prometheus metrics"},
]


# --- errors: every 4xx/5xx carries `detail` and a one-line `message` naming the field ----------------
def _path(loc: Any) -> str:
    """`("body", "listings", 3, "price")` → `listings[3].price`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _record_id(body: Any, loc: list[Any]) -> str | None:
    """The id of the record an error is in (`listing_id=…`), so a bad row in a batch is named."""
    node = body
    found = None
    for p in loc[1:] if loc and loc[0] == "body" else loc:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict):
            for key in ("listing_id", "merchant_id"):
                if isinstance(node.get(key), str | int):
                    found = f"{key}={node[key]}"
                    break
    return found


def _items(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")).removeprefix("Value error, "),
            "type": str(e.get("type", "value_error")),
        }
        for e in errors
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = _items(list(exc.errors()))
    first = items[0] if items else {"loc": ["body"], "msg": "invalid request"}
    msg = f"{_path(first['loc'])}: {first['msg']}"
    rid = _record_id(exc.body, list(first["loc"]))
    if rid:
        msg += f" ({rid})"
    if len(items) > 1:
        msg += f"; {len(items) - 1} more error(s)"
    return JSONResponse(status_code=422, content={"detail": items, "message": msg})


async def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestProblem)
    msg = f"{_path(exc.loc)}: {exc.msg}"
    return JSONResponse(
        status_code=exc.status_code,
        content={"detail": [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}], "message": msg},
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(exc), "message": str(exc)})


#: what FastAPI says (as a 400) when a body is not text it can decode, e.g. bytes that are not UTF-8
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400 and detail == _UNPARSABLE_BODY:
        # the same answer as a body that is not JSON: 422 naming the body, as every other bad input
        msg = "body: not UTF-8 encoded JSON"
        return JSONResponse(
            status_code=422,
            content={
                "detail": [{"loc": ["body"], "msg": "not UTF-8 encoded JSON", "type": "json_invalid"}],
                "message": msg,
            },
        )
    return JSONResponse(
        status_code=exc.status_code,
        content={"detail": detail, "message": detail},
        headers=getattr(exc, "headers", None),
    )


# --- oversize bodies -----------------------------------------------------------------------------------
class BodyLimitMiddleware:
    """413 for bodies over `limit` bytes: by Content-Length up front, and by counting a streamed body."""

    def __init__(self, app: ASGIApp, *, limit: int):
        self.app, self.limit = app, limit

    async def _reject(self, send: Send) -> None:
        body = (
            b'{"detail":"request body too large","message":"request body too large: the limit is '
            + str(self.limit).encode()
            + b' bytes; split the batch"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)


class _TooLarge(HTTPException):
    """Raised from `receive` mid-stream; FastAPI re-raises HTTP errors from the body reader, so this becomes a 413."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body too large: the limit is {limit} bytes; split the batch")


# --- the app -------------------------------------------------------------------------------------------
def create_app(settings: Settings | None = None, *, loader: Loader | None = None) -> FastAPI:
    """Build the app. `loader` replaces the registry loader (e.g. a bundle already in memory)."""
    settings = settings or get_settings()
    metrics = Metrics()
    holder = ModelHolder(loader or registry_loader(settings), settle=settings.freeze_model_heap)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        if not app.state.prepared:
            _prepare(app, engine)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        # reads that never write (keys, scoring's store context, the store's market) begin without a lock
        reader = make_engine(settings.database_url, read_only=True)
        app.state.readers = make_sessionmaker(reader)
        if settings.market_source != "files":
            app.state.market.source = StoreMarketSource(reader, mode=settings.market_source)
        if settings.warm_market_on_start and holder.current is not None:
            threading.Thread(target=_warm_market, args=(app,), name="warm-market", daemon=True).start()
        try:
            yield
        finally:
            engine.dispose()
            reader.dispose()

    app = FastAPI(
        title="抽检 Choujian API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served from the package by serving.docs, never from a CDN
        redoc_url=None,
    )
    include_docs(app)
    app.state.settings = settings
    app.state.prepared = False
    app.state.models = holder
    app.state.metrics = metrics
    app.state.keys = KeyCache(settings.auth_cache_seconds)
    app.state.market = MarketCache(settings.market_dir)
    app.state.drift = DriftCache()
    app.state.batcher = ScoreBatcher(
        score_records,
        settings,
        max_batch=settings.score_coalesce,
        contexts=(lambda queries: read_contexts(app.state.readers, queries)) if settings.score_with_store else None,
    )
    app.state.plan_gate = limits.Gate(1)  # one plan drawn at a time, API and pages together

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RequestProblem, _problem)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    from serving.routers import admin, ingest, merchants, model, ops, plans, scoring

    routers = (scoring.router, merchants.router, plans.router, ingest.router, model.router, admin.router, ops.router)
    for r in routers:
        app.include_router(r)
    _include_web(app)

    # the last added runs outermost: the size limit answers before anything reads the body, metrics time
    # everything else, and the text guard reads the (size-checked) body before any route parses it
    app.add_middleware(TextGuardMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    return app


def prepare(app: FastAPI) -> None:
    """What happens once per deployment, done now: migrate the store, make the bootstrap admin key and the
    web session secret, load the model. A server with several worker processes calls this in the parent
    before it forks them, so the workers share one copy of the model and race on no migration; otherwise
    the app's start-up does it."""
    engine = make_engine(app.state.settings.database_url)
    try:
        _prepare(app, engine)
    finally:
        engine.dispose()


def _prepare(app: FastAPI, engine: Engine) -> None:
    settings: Settings = app.state.settings
    if settings.migrate_on_start:
        store.upgrade(engine)
    app.state.web_secret = security.session_secret(settings)
    if settings.bootstrap_admin_key is not None:
        with make_sessionmaker(engine)() as s:
            if store.ensure_key(s, key=settings.bootstrap_admin_key.get_secret_value(), role="admin", name="bootstrap"):
                logger.info("created the bootstrap admin key")
    if settings.load_model_on_start:
        try:
            loaded = app.state.models.reload()
            app.state.metrics.set_model(loaded.info.name, loaded.info.version)
        except Exception:
            # keep serving health checks: /readyz says why, and an admin can reload once it is fixed
            logger.exception("could not load the model %s", settings.model_ref)
    app.state.prepared = True


def _include_web(app: FastAPI) -> None:
    """Mount the planner pages (server-rendered, under /web, outside the OpenAPI schema)."""
    from serving.web.routes import router as web_router

    app.include_router(web_router)


def warm(app: FastAPI) -> None:
    """Score the market now, at full speed: what a server with several workers does in the parent before it
    forks them (the workers then share the scored market, and none of them scores it while serving)."""
    _warm_market(app, pace=0.0)


def _warm_market(app: FastAPI, *, pace: float | None = None) -> None:
    """Score the plan candidates in the background, so the first plan request does not wait for it."""
    model = app.state.models.current
    if model is None:
        return
    try:
        settings = app.state.settings
        app.state.market.get(model, pace=settings.warm_pace if pace is None else pace, forked=settings.warm_isolation)
    except Exception as e:  # no market yet is normal on a fresh install; plans say so when asked
        logger.warning("market not scored at start: %s", e)
