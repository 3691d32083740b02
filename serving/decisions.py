"""Decision rules as pure functions: listing accept / review / block, and the merchant credit grade.

Kept apart from the routes so they can be tested exhaustively and changed by configuration alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, Field


class Decision(StrEnum):
    """What a platform should do with a listing before approval."""

    accept = "accept"  # 通过
    review = "review"  # 人工复核
    block = "block"  # 拦截


class Grade(StrEnum):
    """Three-colour merchant credit grade, in the style regulators publish (红黄绿 分级分类监管)."""

    green = "green"  # 绿: 低风险
    yellow = "yellow"  # 黄: 一般风险, 加强抽检
    red = "red"  # 红: 高风险, 重点监管


class Trigger(BaseModel):
    """A threshold a score reached."""

    risk: str = Field(examples=["false_advertising"])
    probability: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    level: Decision


class GradeReason(BaseModel):
    """Why a merchant got its grade."""

    code: str = Field(examples=["COMPLAINT_RISK_HIGH"])
    zh: str = Field(examples=["投诉风险高 (0.72 ≥ 0.60)"])
    en: str = Field(examples=["complaint risk high (0.72 ≥ 0.60)"])


def decide(
    probabilities: Mapping[str, float], *, review: Mapping[str, float], block: Mapping[str, float]
) -> tuple[Decision, list[Trigger]]:
    """Block if any risk reaches its block threshold, else review if any reaches its review threshold.

    Risks without a threshold never trigger. Returns the decision and every threshold reached (the most
    severe first), so the caller can say why.
    """
    triggers: list[Trigger] = []
    for risk, p in probabilities.items():
        b, r = block.get(risk), review.get(risk)
        if b is not None and p >= b:
            triggers.append(Trigger(risk=risk, probability=p, threshold=b, level=Decision.block))
        elif r is not None and p >= r:
            triggers.append(Trigger(risk=risk, probability=p, threshold=r, level=Decision.review))
    triggers.sort(key=lambda t: (t.level is not Decision.block, -t.probability))
    if any(t.level is Decision.block for t in triggers):
        return Decision.block, triggers
    if triggers:
        return Decision.review, triggers
    return Decision.accept, triggers


_RANK = {Grade.green: 0, Grade.yellow: 1, Grade.red: 2}


def merchant_grade(
    complaint_prob: float,
    *,
    registry_status: str = "normal",
    removals_elsewhere: int = 0,
    yellow_at: float = 0.3,
    red_at: float = 0.6,
) -> tuple[Grade, list[GradeReason]]:
    """Grade a merchant from its complaint-prone probability and its public registry record.

    The worst of: the probability band (red ≥ `red_at`, yellow ≥ `yellow_at`), the registry status
    (serious violation or revoked → red, abnormal operations → yellow) and removals from other platforms
    (two or more → yellow). Reasons list every rule that raised the grade.
    """
    if not 0 <= yellow_at <= red_at <= 1:
        raise ValueError("need 0 <= yellow_at <= red_at <= 1")
    grade = Grade.green
    reasons: list[GradeReason] = []

    def raise_to(g: Grade, code: str, zh: str, en: str) -> None:
        nonlocal grade
        if _RANK[g] > _RANK[grade]:
            grade = g
        reasons.append(GradeReason(code=code, zh=zh, en=en))

    p = complaint_prob
    if p >= red_at:
        raise_to(
            Grade.red,
            "COMPLAINT_RISK_HIGH",
            f"投诉风险高 ({p:.2f} ≥ {red_at:.2f})",
            f"complaint risk high ({p:.2f} ≥ {red_at:.2f})",
        )
    elif p >= yellow_at:
        raise_to(
            Grade.yellow,
            "COMPLAINT_RISK_ELEVATED",
            f"投诉风险偏高 ({p:.2f} ≥ {yellow_at:.2f})",
            f"complaint risk elevated ({p:.2f} ≥ {yellow_at:.2f})",
        )
    if registry_status == "serious_violation":
        raise_to(Grade.red, "SERIOUS_VIOLATION_LIST", "列入严重违法失信名单", "on the serious-violation list")
    elif registry_status == "revoked":
        raise_to(Grade.red, "LICENCE_REVOKED", "营业执照已吊销或注销", "business licence revoked or cancelled")
    elif registry_status == "abnormal_operations":
        raise_to(Grade.yellow, "ABNORMAL_OPERATIONS", "列入经营异常名录", "on the abnormal-operations list")
    if removals_elsewhere >= 2:
        raise_to(
            Grade.yellow,
            "REMOVED_ELSEWHERE",
            f"曾被其他平台下架 {removals_elsewhere} 次",
            f"removed from other platforms {removals_elsewhere} times",
        )
    if not reasons:
        reasons.append(
            GradeReason(
                code="LOW_RISK",
                zh=f"投诉风险低 ({p:.2f} < {yellow_at:.2f})",
                en=f"complaint risk low ({p:.2f} < {yellow_at:.2f})",
            )
        )
    return grade, reasons
