"""Merchant complaint risk and the red/yellow/green credit grade."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving import identities
from serving.auth import ScoringKey
from serving.context import read_context
from serving.deps import ModelDep, SessionDep, SettingsDep
from serving.routers._responses import AUTH, BODY, NO_MODEL
from serving.schemas import MerchantCheckRequest, MerchantCheckResponse, MerchantRiskRequest, MerchantRiskResponse
from serving.service import merchant_risk, model_ref

router = APIRouter(prefix="/v1/merchants", tags=["merchants"], responses={**AUTH, **BODY})


@router.post(
    "/risk",
    response_model=MerchantRiskResponse,
    responses=NO_MODEL,
    summary="商家风险与红黄绿分级 — merchant risk and grade",
)
def score_merchant(
    _: ScoringKey, body: MerchantRiskRequest, model: ModelDep, settings: SettingsDep, request: Request
) -> MerchantRiskResponse:
    """Complaint-prone probability of a merchant (from its record, listings and reviews) and its credit grade.
    A merchant the market store knows is scored with its stored listings, reviews and lab results too
    (`context`; the body wins where it contradicts the store)."""
    context = read_context(
        request.app.state.readers,
        enabled=settings.score_with_store,
        merchants=[body.merchant],
        listings=body.listings,
        reviews=body.reviews,
        lab_results=body.lab_results,
    )
    result = merchant_risk(
        model,
        settings,
        merchant=body.merchant,
        listings=body.listings,
        reviews=body.reviews,
        lab_results=body.lab_results,
        context=context,
    )
    return MerchantRiskResponse(model=model_ref(model), result=result)


@router.post(
    "/check", response_model=MerchantCheckResponse, summary="入驻核验 一处清退、处处关店 — check a shop application"
)
def check_merchant(
    _: ScoringKey, body: MerchantCheckRequest, session: SessionDep, settings: SettingsDep
) -> MerchantCheckResponse:
    """The known shops on any platform linked to an applicant by credit code, phone or shop name (the store's
    identity registry, kept up to date by ingest), with their removals, registry status and lab failures, and a
    decision: refuse when a shop sharing the credit code or phone was removed, is on the serious-violation list
    or failed lab tests repeatedly; review for weaker links or lesser records; accept otherwise."""
    result = identities.check_application(session, body, refuse_at_lab_failures=settings.onboarding_refuse_lab_failures)
    session.rollback()  # read only: end the transaction (SQLite's would hold the write lock)
    return result
