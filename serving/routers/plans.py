"""Sampling plans: create, fetch, list; lab results against a plan; pass-rate estimates (planner keys)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving import limits, service, store
from serving.auth import PlannerKey
from serving.db import PlanRow
from serving.deps import MarketDep, ModelDep, SessionDep, SettingsDep
from serving.routers._responses import AUTH, BODY, BUSY, CONFLICT, NO_MODEL, NOT_FOUND
from serving.schemas import EstimateOut, PlanCreate, PlanList, PlanOut, ResultList, ResultsIn, ResultsOut

router = APIRouter(prefix="/v1/plans", tags=["plans"], responses=AUTH)


def _links(**targets: str) -> dict[str, dict[str, object]]:
    """OpenAPI links from a response's `plan_id` to the operations that take it (clients and fuzzers follow them)."""
    return {
        name: {"operationId": op, "parameters": {"plan_id": "$response.body#/plan_id"}} for name, op in targets.items()
    }


_PLAN_LINKS = _links(
    GetPlan="get_plan_v1_plans__plan_id__get",
    RecordResults="record_results_v1_plans__plan_id__results_post",
    ListResults="list_results_v1_plans__plan_id__results_get",
    Estimate="estimate_v1_plans__plan_id__estimate_get",
)

PlanId = Annotated[str, Path(min_length=1, max_length=64, description="plan id", examples=["plan-20261123-1a2b3c4d"])]


def _plan(session: Session, plan_id: str) -> PlanRow:
    row = store.get_plan(session, plan_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan {plan_id!r}")
    return row


def _n_results(session: Session, plan_id: str) -> int:
    return store.result_counts(session, [plan_id])[plan_id]


@router.post(
    "",
    response_model=PlanOut,
    status_code=201,
    responses={
        200: {"model": PlanOut, "description": "a retry with the same Idempotency-Key: the plan it made"},
        201: {"description": "the stored plan", "links": _PLAN_LINKS},
        **BODY,
        **BUSY,
        **NO_MODEL,
    },
    summary="生成抽检计划 — create a sampling plan",
)
def create_plan(
    who: PlannerKey,
    body: PlanCreate,
    session: SessionDep,
    model: ModelDep,
    market: MarketDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            pattern=r"^[\x21-\x7e]+$",
            description="any unique string (e.g. a UUID) per plan: a retry with the same key returns the plan the "
            "first request made instead of drawing a second one",
        ),
    ] = None,
) -> PlanOut:
    """Score the current market, then spend ε of the budget on a stratified random arm and the rest on the
    listings with the most expected failures per yuan, within quotas and the per-merchant cap. Every
    candidate's inclusion probability is recorded; the same seed on the same market and model gives the
    same plan. One plan is drawn at a time (429 with Retry-After while another is), and a plan may not exceed
    the service's budget and purchase limits."""
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None:
        done = _replay(session, who.key_id, idempotency_key, digest)
        if done is not None:
            response.status_code = status.HTTP_200_OK
            return done
    gate: limits.Gate = request.app.state.plan_gate
    try:
        with gate.slot():
            row = service.create_plan(
                session,
                model,
                market,
                settings,
                body,
                created_by=who.key_id,
                idempotency=None if idempotency_key is None else (idempotency_key, digest),
            )
    except limits.Busy as e:
        headers = {"Retry-After": str(limits.RETRY_AFTER_S)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(e), headers) from e
    except service.Unavailable as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(e)) from e
    except IntegrityError:  # the same key's first request committed while this one drew: answer with its plan
        session.rollback()
        done = None if idempotency_key is None else _replay(session, who.key_id, idempotency_key, digest)
        if done is None:
            raise
        response.status_code = status.HTTP_200_OK
        return done
    return service.plan_out(row, 0)


def _replay(session: Session, key_id: str, idempotency_key: str, digest: str) -> PlanOut | None:
    """The stored plan for a retried Idempotency-Key; 422 when the key was used for a different request."""
    row = store.find_idempotent_plan(session, created_by=key_id, idempotency_key=idempotency_key)
    if row is None:
        return None
    if row.request_hash != digest:
        raise service.RequestProblem(
            ["header", "Idempotency-Key"],
            f"this key already made plan {row.plan_id} from a different request; use a new key for a new plan",
        )
    return service.plan_out(row, _n_results(session, row.plan_id))


@router.get("", response_model=PlanList, summary="计划列表 — list plans")
def list_plans(
    session: SessionDep,
    _: PlannerKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PlanList:
    """Plans, newest first."""
    rows, total = store.list_plans(session, limit=limit, offset=offset)
    counts = store.result_counts(session, [r.plan_id for r in rows])
    return PlanList(
        total=total,
        limit=limit,
        offset=offset,
        plans=[service.plan_summary(r, counts[r.plan_id]) for r in rows],
    )


@router.get("/{plan_id}", response_model=PlanOut, responses=NOT_FOUND, summary="查看计划 — fetch a plan")
def get_plan(_: PlannerKey, plan_id: PlanId, session: SessionDep) -> PlanOut:
    """A stored plan with its ranked targets, their costs, arms, inclusion probabilities and reasons."""
    row = _plan(session, plan_id)
    return service.plan_out(row, _n_results(session, plan_id))


@router.post(
    "/{plan_id}/results",
    response_model=ResultsOut,
    responses={200: {"description": "what was stored", "links": _PLAN_LINKS}, **NOT_FOUND, **CONFLICT, **BODY},
    summary="录入检测结果 — record lab results",
)
def record_results(who: PlannerKey, plan_id: PlanId, body: ResultsIn, session: SessionDep) -> ResultsOut:
    """Record lab verdicts for the plan's purchases, all or nothing. Idempotent: a result sent again is stored
    once (`status: unchanged`); a different verdict for a listing that already has one is refused with 409."""
    row = _plan(session, plan_id)
    return service.record_results(session, row, body.results, recorded_by=who.key_id)


@router.get(
    "/{plan_id}/results", response_model=ResultList, responses=NOT_FOUND, summary="检测结果 — results of a plan"
)
def list_results(_: PlannerKey, plan_id: PlanId, session: SessionDep) -> ResultList:
    """All lab results recorded against the plan."""
    _plan(session, plan_id)
    return ResultList(plan_id=plan_id, results=[service.result_out(r) for r in store.list_results(session, plan_id)])


@router.get(
    "/{plan_id}/estimate",
    response_model=EstimateOut,
    responses={**NOT_FOUND, **NO_MODEL},
    summary="合格率估计 — pass-rate estimates with intervals",
)
def estimate(
    plan_id: PlanId,
    session: SessionDep,
    _: PlannerKey,
    confidence: Annotated[float, Query(gt=0.5, lt=1, description="interval coverage")] = 0.95,
) -> EstimateOut:
    """Horvitz–Thompson / Hájek estimates of the market failure, pass and three-no (三无) rates, overall and per
    category, with confidence intervals, from the targeted and random arms together."""
    row = _plan(session, plan_id)
    try:
        return service.estimate_plan(session, row, confidence=confidence)
    except service.Unavailable as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(e)) from e
