"""Score listings before approval: one, or a batch of up to 1,000 (platform keys)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from serving.auth import ScoringKey
from serving.batcher import ScoreBatcher
from serving.context import read_context
from serving.deps import ModelDep, SettingsDep
from serving.routers._responses import AUTH, BODY, NO_MODEL
from serving.schemas import BatchScoreRequest, BatchScoreResponse, ScoreRequest, ScoreResponse
from serving.service import RequestProblem, decision_counts, model_ref, score_records

router = APIRouter(prefix="/v1/score", tags=["scoring"], responses={**AUTH, **BODY, **NO_MODEL})


def _json(body: BaseModel) -> Response:
    """Serialise a response model we just built and validated, skipping FastAPI's second validation pass
    (for a 1,000-listing batch that pass costs as much as the JSON itself). The declared `response_model`
    still documents the schema, and the fuzz test checks responses against it."""
    return Response(content=body.model_dump_json(), media_type="application/json")


def _as_single(e: RequestProblem) -> RequestProblem:
    """Name fields as the single-listing body does: `listing.x`, `merchant.x`, not `listings[0].x`."""
    loc = list(e.loc)
    if len(loc) >= 3 and loc[1] in ("listings", "merchants") and loc[2] == 0:
        loc = [loc[0], str(loc[1])[:-1], *loc[3:]]
    return RequestProblem(loc, e.msg, status_code=e.status_code)


@router.post("/listing", response_model=ScoreResponse, summary="评分单个商品 — score one listing")
async def score_listing(_: ScoringKey, body: ScoreRequest, model: ModelDep, request: Request) -> Response:
    """Calibrated risks per type, an accept/review/block decision, reasons and evidence spans for one listing.

    When the market store knows the merchant, its stored listings, reviews and lab results are scored with the
    listing (`context` says which; the body wins where it contradicts the store; `CHOUJIAN_SCORE_WITH_STORE`).

    Requests arriving while another is being scored are scored together with it (`serving.batcher`):
    the same scores, one pipeline pass."""
    batcher: ScoreBatcher = request.app.state.batcher
    try:
        result = await batcher.score_one(
            model, merchant=body.merchant, listing=body.listing, reviews=body.reviews, lab_results=body.lab_results
        )
    except RequestProblem as e:
        raise _as_single(e) from e
    request.app.state.metrics.scores.labels(endpoint="listing", decision=result.decision.value).inc()
    return _json(ScoreResponse(model=model_ref(model), result=result))


@router.post("/batch", response_model=BatchScoreResponse, summary="批量评分 — score up to 1,000 listings")
def score_batch(
    _: ScoringKey, body: BatchScoreRequest, model: ModelDep, settings: SettingsDep, request: Request
) -> Response:
    """Score a batch; listings reference the request's merchants, reviews reference its listings. Merchants the
    market store knows are scored with their stored records, as for one listing (`context` on each result)."""
    if len(body.listings) > settings.max_batch:
        raise RequestProblem(
            ["body", "listings"], f"at most {settings.max_batch} listings per call, got {len(body.listings)}"
        )
    m, ls, rs, labs = body.merchants, body.listings, body.reviews, body.lab_results
    context = read_context(
        request.app.state.readers, enabled=settings.score_with_store, merchants=m, listings=ls, reviews=rs,
        lab_results=labs,
    )  # fmt: skip
    results = score_records(model, settings, merchants=m, listings=ls, reviews=rs, lab_results=labs, context=context)
    counts = decision_counts(results)
    for decision, n in counts.items():
        if n:
            request.app.state.metrics.scores.labels(endpoint="batch", decision=decision.value).inc(n)
    return _json(BatchScoreResponse(model=model_ref(model), results=results, decisions=counts))
