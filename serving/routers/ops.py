"""Liveness, readiness and Prometheus metrics (no key needed: they reveal no data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from serving.schemas import Health, Ready

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health, summary="存活 — the process answers")
def healthz() -> Health:
    """Always ok while the process serves requests."""
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}}, summary="就绪 — model and store ready")
def readyz(request: Request) -> JSONResponse:
    """Ready when a model is loaded and the database answers; 503 (with the reasons) otherwise."""
    problems: list[str] = []
    model = request.app.state.models.current
    if model is None:
        problems.append(
            "no model loaded"
            + (f": {request.app.state.models.last_error}" if request.app.state.models.last_error else "")
        )
    db_ok = True
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # any driver error means not ready
        db_ok = False
        problems.append(f"database unreachable: {type(e).__name__}")
    ready = Ready(
        status="ready" if not problems else "not ready",
        model_loaded=model is not None,
        database=db_ok,
        model_version=model.info.version if model else None,
        problems=problems,
    )
    return JSONResponse(ready.model_dump(), status_code=200 if not problems else 503)


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}}
)
def metrics(request: Request) -> Response:
    """Request latency histograms, scores served and the model version, in Prometheus text format."""
    body, content_type = request.app.state.metrics.render()
    return Response(content=body, media_type=content_type)
