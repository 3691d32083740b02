"""Merchant complaint risk and the red/yellow/green credit grade."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import ScoringKey
from serving.deps import ModelDep, SettingsDep
from serving.routers._responses import AUTH, BODY, NO_MODEL
from serving.schemas import MerchantRiskRequest, MerchantRiskResponse
from serving.service import merchant_risk, model_ref

router = APIRouter(prefix="/v1/merchants", tags=["merchants"], responses={**AUTH, **BODY, **NO_MODEL})


@router.post("/risk", response_model=MerchantRiskResponse, summary="商家风险与红黄绿分级 — merchant risk and grade")
def score_merchant(
    _: ScoringKey, body: MerchantRiskRequest, model: ModelDep, settings: SettingsDep
) -> MerchantRiskResponse:
    """Complaint-prone probability of a merchant (from its record, listings and reviews) and its credit grade."""
    result = merchant_risk(
        model,
        settings,
        merchant=body.merchant,
        listings=body.listings,
        reviews=body.reviews,
        lab_results=body.lab_results,
    )
    return MerchantRiskResponse(model=model_ref(model), result=result)
