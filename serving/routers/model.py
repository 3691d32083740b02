"""What model is serving."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import AnyKey
from serving.deps import ModelDep, SettingsDep
from serving.routers._responses import NO_MODEL, UNAUTHORIZED
from serving.schemas import ModelInfoOut

router = APIRouter(prefix="/v1/model", tags=["model"], responses={**UNAUTHORIZED, **NO_MODEL})


@router.get("", response_model=ModelInfoOut, summary="模型信息 — model in service")
def model_info(_: AnyKey, model: ModelDep, settings: SettingsDep) -> ModelInfoOut:
    """Name, version, alias, training date and holdout metrics of the model, and the decision thresholds."""
    return ModelInfoOut(
        **model.info.model_dump(),
        review_thresholds=settings.review_thresholds,
        block_thresholds=settings.block_thresholds,
    )
