"""What model is serving, and how far today's market has drifted from its training market."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import AnyKey
from serving.deps import DriftDep, MarketDep, ModelDep, SettingsDep
from serving.routers._responses import NO_MODEL, UNAUTHORIZED
from serving.schemas import ModelInfoOut

router = APIRouter(prefix="/v1/model", tags=["model"], responses={**UNAUTHORIZED, **NO_MODEL})


@router.get("", response_model=ModelInfoOut, summary="模型信息 — model in service")
def model_info(_: AnyKey, model: ModelDep, settings: SettingsDep, market: MarketDep, drift: DriftDep) -> ModelInfoOut:
    """Name, version, alias, training date and holdout metrics of the model, the decision thresholds, and the
    drift of the market the service holds from the model's training market (PSI per score and key feature,
    the categories that moved most, a warning at `CHOUJIAN_DRIFT_PSI_WARN`). Drift is computed once per model
    version and market, in the background (`computing` until it is ready); before the market is scored by this
    model it says so rather than scoring it here."""
    return ModelInfoOut(
        **model.info.model_dump(),
        review_thresholds=settings.review_thresholds,
        block_thresholds=settings.block_thresholds,
        drift=drift.get(model, market.peek(model), settings, wait=False),
    )
