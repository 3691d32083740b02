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


#: fewer reviews than this and the complaint score alone never grades a merchant red: the same minimum the
#: training label asks of a merchant (training.config's `min_reviews`), since one 1-star review is a 100%
#: complaint rate and says almost nothing
MIN_MERCHANT_REVIEWS = 5


class MerchantEvidence(BaseModel):
    """What the complaint score rests on, and whether that is too little to grade red on the score alone."""

    n_listings: int = Field(ge=0, description="listings in the request")
    n_reviews: int = Field(ge=0, description="reviews of those listings in the request")
    min_reviews: int = Field(ge=0, description="fewer reviews than this is too little evidence")
    too_little_evidence: bool = Field(
        description="fewer reviews than min_reviews: the complaint score is indicative only, and on its own it "
        "grades the merchant at most yellow (registry records still grade red)"
    )


def merchant_evidence(*, n_listings: int, n_reviews: int, min_reviews: int = MIN_MERCHANT_REVIEWS) -> MerchantEvidence:
    """How much a merchant's complaint score rests on: reviews are the complaint evidence, listings are context."""
    return MerchantEvidence(
        n_listings=n_listings, n_reviews=n_reviews, min_reviews=min_reviews, too_little_evidence=n_reviews < min_reviews
    )


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
    evidence: MerchantEvidence | None = None,
) -> tuple[Grade, list[GradeReason]]:
    """Grade a merchant from its complaint-prone probability and its public registry record.

    The worst of: the probability band (red ≥ `red_at`, yellow ≥ `yellow_at`), the registry status
    (serious violation or revoked → red, abnormal operations → yellow) and removals from other platforms
    (two or more → yellow). With too little evidence (`evidence.too_little_evidence`) the probability band
    grades at most yellow, and a reason says the score is indicative only. Reasons list every rule that
    raised the grade.
    """
    if not 0 <= yellow_at <= red_at <= 1:
        raise ValueError("need 0 <= yellow_at <= red_at <= 1")
    p = complaint_prob
    thin = evidence if evidence is not None and evidence.too_little_evidence else None
    raised = [
        *_score_band(p, yellow_at=yellow_at, red_at=red_at, thin=thin),
        *_record(registry_status, removals_elsewhere),
    ]
    grade = max((g for g, _ in raised), key=_RANK.__getitem__, default=Grade.green)
    reasons = [r for _, r in raised]
    if not reasons:
        reasons.append(
            GradeReason(
                code="LOW_RISK",
                zh=f"投诉风险低 ({p:.2f} < {yellow_at:.2f})",
                en=f"complaint risk low ({p:.2f} < {yellow_at:.2f})",
            )
        )
    if thin is not None and p < red_at:
        n, k = thin.n_reviews, thin.min_reviews
        reasons.append(
            GradeReason(
                code="LITTLE_EVIDENCE",
                zh=f"仅有 {n} 条评价（少于 {k} 条），投诉风险评分仅供参考",
                en=f"only {n} review(s) (fewer than {k}): the complaint score is indicative only",
            )
        )
    return grade, reasons


def _score_band(
    p: float, *, yellow_at: float, red_at: float, thin: MerchantEvidence | None
) -> list[tuple[Grade, GradeReason]]:
    """The grade the complaint probability alone raises to, if any: red only on enough evidence (`thin`: the
    merchant's evidence when it is too little)."""
    if p >= red_at and thin is not None:
        n, k = thin.n_reviews, thin.min_reviews
        reason = GradeReason(
            code="COMPLAINT_RISK_HIGH_LITTLE_EVIDENCE",
            zh=f"投诉风险高 ({p:.2f} ≥ {red_at:.2f})，但仅有 {n} 条评价（少于 {k} 条），证据不足，不单凭评分评为红色",
            en=f"complaint risk high ({p:.2f} ≥ {red_at:.2f}) but only {n} review(s) (fewer than {k}): too little "
            "evidence to grade red on the score alone",
        )
        return [(Grade.yellow, reason)]
    if p >= red_at:
        grade, code, zh, en, at = Grade.red, "COMPLAINT_RISK_HIGH", "投诉风险高", "complaint risk high", red_at
    elif p >= yellow_at:
        grade, code, zh, en, at = (
            Grade.yellow,
            "COMPLAINT_RISK_ELEVATED",
            "投诉风险偏高",
            "complaint risk elevated",
            yellow_at,
        )
    else:
        return []
    return [(grade, GradeReason(code=code, zh=f"{zh} ({p:.2f} ≥ {at:.2f})", en=f"{en} ({p:.2f} ≥ {at:.2f})"))]


#: registry statuses that raise a merchant's grade: the grade and the reason's code, zh, en
_REGISTRY_RULES = {
    "serious_violation": (Grade.red, "SERIOUS_VIOLATION_LIST", "列入严重违法失信名单", "on the serious-violation list"),
    "revoked": (Grade.red, "LICENCE_REVOKED", "营业执照已吊销或注销", "business licence revoked or cancelled"),
    "abnormal_operations": (Grade.yellow, "ABNORMAL_OPERATIONS", "列入经营异常名录", "on the abnormal-operations list"),
}


def _record(registry_status: str, removals_elsewhere: int) -> list[tuple[Grade, GradeReason]]:
    """The grades the public registry record and removals from other platforms raise to."""
    out = []
    if registry_status in _REGISTRY_RULES:
        grade, code, zh, en = _REGISTRY_RULES[registry_status]
        out.append((grade, GradeReason(code=code, zh=zh, en=en)))
    if removals_elsewhere >= 2:
        reason = GradeReason(
            code="REMOVED_ELSEWHERE",
            zh=f"曾被其他平台下架 {removals_elsewhere} 次",
            en=f"removed from other platforms {removals_elsewhere} times",
        )
        out.append((Grade.yellow, reason))
    return out


# --- onboarding: 一处清退、处处关店 ------------------------------------------------------------------------
class Onboarding(StrEnum):
    """What a platform should do with a shop application."""

    accept = "accept"  # 准入
    review = "review"  # 人工审核
    refuse = "refuse"  # 拒绝入驻


class LinkedFacts(BaseModel):
    """What the onboarding rules need about one known shop linked to the applicant."""

    merchant_id: str
    platform: str
    shop_name: str
    via: list[str] = Field(description="keys it shares with the applicant (code, phone, name); empty: via its identity")
    registry_status: str = "normal"
    removals: list[str] = Field(default_factory=list, description="each removal as one line: platform, date, reason")
    removals_elsewhere: int = 0
    lab_failures: int = 0


class OnboardingReason(BaseModel):
    """Why an application got its decision, naming the shop it rests on."""

    code: str = Field(examples=["LINKED_SHOP_REMOVED"])
    zh: str = Field(examples=["关联店铺 M00017（拼多多 康美日化专营店）已被清退：拼多多 2026-03-02 售假"])
    en: str = Field(examples=["linked shop M00017 (拼多多 康美日化专营店) was removed: 拼多多 2026-03-02 售假"])
    merchant_id: str | None = Field(default=None, examples=["M00017"])


#: keys strong enough to refuse on: the business licence and the phone; a shop name alone only asks for review
STRONG_KEYS = frozenset({"code", "phone"})
_KEY_ZH = {"code": "统一社会信用代码", "phone": "电话", "name": "店铺名称"}
_KEY_EN = {"code": "credit code", "phone": "phone", "name": "shop name"}


def onboarding_decision(
    shops: list[LinkedFacts], *, refuse_at_lab_failures: int = 3
) -> tuple[Onboarding, list[OnboardingReason]]:
    """Accept, review or refuse a shop application from the known shops it is linked to.

    Refuse when a shop sharing the applicant's credit code or phone was removed from a platform (explicit
    removals or reported ones), is on the serious-violation list or revoked, or failed `refuse_at_lab_failures`
    lab tests or more. The same facts reached only through the shop name or through the identity (a chain of
    other shops) ask for review, as do abnormal operations and any lab failure. Nothing found: accept.
    Reasons name every shop a rule fired on, the refusing ones first.
    """
    refuse: list[OnboardingReason] = []
    review: list[OnboardingReason] = []
    for s in shops:
        strong = bool(STRONG_KEYS & set(s.via))
        how_zh = "、".join(_KEY_ZH.get(k, k) for k in s.via) or "关联身份"
        how_en = ", ".join(_KEY_EN.get(k, k) for k in s.via) or "its linked identity"
        who_zh = f"关联店铺 {s.merchant_id}（{s.platform} {s.shop_name}，经{how_zh}关联）"
        who_en = f"linked shop {s.merchant_id} ({s.platform} {s.shop_name}, via {how_en})"

        def add(severe: bool, code: str, zh: str, en: str, *, shop: LinkedFacts = s) -> None:
            (refuse if severe else review).append(
                OnboardingReason(code=code, zh=zh, en=en, merchant_id=shop.merchant_id)
            )

        n_removed = len(s.removals) + s.removals_elsewhere
        if n_removed:
            detail = "; ".join(s.removals) if s.removals else f"{s.removals_elsewhere}"
            add(
                strong,
                "LINKED_SHOP_REMOVED",
                f"{who_zh}曾被平台清退：{detail}" if s.removals else f"{who_zh}曾被其他平台清退 {detail} 次",
                f"{who_en} was removed: {detail}" if s.removals else f"{who_en} was removed elsewhere {detail} time(s)",
            )
        if s.registry_status in ("serious_violation", "revoked"):
            zh = "列入严重违法失信名单" if s.registry_status == "serious_violation" else "营业执照已吊销或注销"
            add(strong, f"LINKED_SHOP_{s.registry_status.upper()}", f"{who_zh}{zh}", f"{who_en} is {s.registry_status}")
        elif s.registry_status == "abnormal_operations":
            add(
                False,
                "LINKED_SHOP_ABNORMAL_OPERATIONS",
                f"{who_zh}列入经营异常名录",
                f"{who_en} is on the abnormal-operations list",
            )
        if s.lab_failures:
            add(
                strong and s.lab_failures >= refuse_at_lab_failures,
                "LINKED_SHOP_LAB_FAILURES",
                f"{who_zh}抽检不合格 {s.lab_failures} 次",
                f"{who_en} failed {s.lab_failures} lab test(s)",
            )
    if refuse:
        return Onboarding.refuse, refuse + review
    if review:
        return Onboarding.review, review
    if shops:
        names = ", ".join(s.merchant_id for s in shops[:5])
        return Onboarding.accept, [
            OnboardingReason(
                code="LINKED_SHOPS_CLEAN",
                zh=f"关联店铺（{names}）无清退、失信或抽检不合格记录",
                en=f"linked shops ({names}) have no removals, registry violations or lab failures",
            )
        ]
    return Onboarding.accept, [
        OnboardingReason(
            code="NO_LINKED_SHOP", zh="未发现关联的已知店铺", en="no known shop is linked to this application"
        )
    ]
