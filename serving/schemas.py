"""Request and response models of the JSON API, with Chinese examples for the OpenAPI docs.

Records inside requests are the project's own record schemas (`features.records`), so the API accepts
exactly what the files and the batch scorer accept.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.records import (
    FailureType,
    LabResult,
    Listing,
    Merchant,
    Removal,
    Review,
    Verdict,
    check_credit_code,
    check_phone,
)
from models.contract import ListingScore, Reason
from sampling.plan_config import DEFAULT_EXPLORE, EXPLORE_HELP
from serving.decisions import Decision, Grade, GradeReason, MerchantEvidence, Onboarding, OnboardingReason, Trigger
from serving.drift import DriftOut
from serving.runtime import ModelInfo

# --- examples -----------------------------------------------------------------------------------------
# a shampoo listing with the claims false-advertising checks catch; 洗发水 and 儿童玩具 are categories of the
# shipped lab-fee table (data/reference/lab_fees.csv), so every request example works on the demo market
# (tests/serving/test_serving_examples.py posts each one to the running app)
MERCHANT_EXAMPLE: dict[str, Any] = {
    "merchant_id": "M00042",
    "platform": "淘宝",
    "shop_name": "康美日化旗舰店",
    "credit_code": "91330106MA2GL5XX1D",
    "phone": "0571-88886666",
    "region": "浙江省杭州市",
    "opened_date": "2023-05-12",
    "registry_status": "normal",
    "removals_elsewhere": 0,
}
LISTING_EXAMPLE: dict[str, Any] = {
    "listing_id": "L0012345",
    "merchant_id": "M00042",
    "platform": "淘宝",
    "category": "洗发水",
    "brand": "霸王",
    "title": "国家级专利 生姜防脱洗发水 根治脱发 7天长出新发 500ml",
    "description": "纯天然无添加，三天见效，最好的防脱洗发水，假一赔十。执行标准：GB/T 29679-2013。",
    "price": 39.9,
    "sales": 1520,
    "ccc_cert": None,
    "listed_date": "2026-10-01",
}
REVIEW_EXAMPLE: dict[str, Any] = {
    "listing_id": "L0012345",
    "text": "用了一个月头发还是掉，客服也不理人，感觉是假货。",
    "rating": 1,
    "review_date": "2026-11-02",
}
PLAN_EXAMPLE: dict[str, Any] = {
    "name": "2026年第四季度 洗发水 专项抽检",
    "budget": 50000,
    "epsilon": 0.2,
    "explore": 0.1,
    "per_merchant_cap": 2,
    "quotas": {"洗发水": {"min_purchases": 3}, "儿童玩具": {"max_yuan": 8000}},
    "seed": 7,
}
RESULT_EXAMPLE: dict[str, Any] = {
    "listing_id": "L0012345",
    "sampled_date": "2026-11-20",
    "verdict": "fail",
    "failure_types": ["false_advertising"],
    "cost": 168.0,
}


# --- errors -------------------------------------------------------------------------------------------
class ErrorItem(BaseModel):
    """One problem with a request, located by its path in the body."""

    loc: list[str | int] = Field(examples=[["body", "listings", 3, "price"]])
    msg: str = Field(examples=["Input should be greater than 0"])
    type: str = Field(default="value_error", examples=["greater_than"])


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: `message` is one readable line, `detail` the structured problems."""

    detail: list[ErrorItem] | str
    message: str = Field(examples=["listings[3].price: Input should be greater than 0 (listing_id=L0012345)"])


# --- scoring ------------------------------------------------------------------------------------------
class ModelRef(BaseModel):
    name: str = Field(examples=["choujian-listing"])
    version: str = Field(examples=["3"])


class ScoreRequest(BaseModel):
    """One listing to score before approval, with its merchant and (optionally) its reviews."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"listing": LISTING_EXAMPLE, "merchant": MERCHANT_EXAMPLE, "reviews": [REVIEW_EXAMPLE]}]
        }
    )

    listing: Listing
    merchant: Merchant
    reviews: list[Review] = Field(default_factory=list, max_length=5_000)
    lab_results: list[LabResult] = Field(
        default_factory=list, max_length=1_000, description="the listing's lab history, if the caller has it"
    )

    @model_validator(mode="after")
    def _linked(self) -> ScoreRequest:
        if self.listing.merchant_id != self.merchant.merchant_id:
            raise ValueError(
                f"listing.merchant_id {self.listing.merchant_id!r} does not match merchant.merchant_id "
                f"{self.merchant.merchant_id!r}"
            )
        others: list[tuple[str, Review | LabResult]] = [
            *((f"reviews[{i}]", r) for i, r in enumerate(self.reviews)),
            *((f"lab_results[{i}]", r) for i, r in enumerate(self.lab_results)),
        ]
        for where, r in others:
            if r.listing_id != self.listing.listing_id:
                raise ValueError(f"{where}.listing_id {r.listing_id!r} is not the listing {self.listing.listing_id!r}")
        return self


class BatchScoreRequest(BaseModel):
    """Up to 1,000 listings, the merchants they reference, and their reviews (optional)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"listings": [LISTING_EXAMPLE], "merchants": [MERCHANT_EXAMPLE], "reviews": [REVIEW_EXAMPLE]}]
        }
    )

    listings: Annotated[list[Listing], Field(min_length=1, max_length=1000)]
    merchants: Annotated[list[Merchant], Field(min_length=1, max_length=1000)]
    reviews: Annotated[list[Review], Field(max_length=100_000)] = Field(default_factory=list)
    lab_results: Annotated[list[LabResult], Field(max_length=100_000)] = Field(
        default_factory=list, description="lab history of these listings, if the caller has it"
    )


#: what every risk probability means (the README's "What a score means" says the same)
RISK_MEANING = (
    "Each `risks.<type>.probability` is a calibrated probability that a lab test (or check) of this listing "
    "would find that failure: `lab_fail` any failure, `counterfeit`, `false_advertising` that failure type. The "
    "models learn from the training market's recorded lab results, each weighted by the inverse of the "
    "probability its plan had of choosing it, and are calibrated on held-out listings, so among listings scored "
    "0.3 about 30% would fail such a test. `merchant_complaint` is the merchant's probability of being "
    "complaint-prone (see the merchant-risk endpoint). Scores rank and estimate; they are not verdicts."
)


class StoredRemoval(BaseModel):
    merchant_id: str = Field(examples=["M00042"])
    platform: str = Field(examples=["拼多多"])
    removed_date: date
    reason: str = Field(examples=["售假被清退"])


class StoredContext(BaseModel):
    """What the market store added to the request before scoring (scoring with memory,
    `CHOUJIAN_SCORE_WITH_STORE`).

    The features use the merchant's stored listings, their reviews and lab results (recorded through the API
    included), through the same pipeline as training and `choujian score-batch`: a listing scored with only its
    own record gets the score `score-batch` gives it on `choujian export` of the store plus that record. The
    merchant's record is always the body's. Where the body contradicts the store, the body wins for that record:
    a listing it sends replaces the stored one, and reviews (lab results) it sends for a listing replace the
    stored reviews (lab results) of that listing. Lab results newer than the model count in the merchant's
    identity history (`merchant__lab_*`, `pool__identity_*`); the linked shops and removals are reported here
    (and answer `POST /v1/merchants/check`) but only reach the features through the model's fitted state.
    """

    merchant_known: bool = Field(description="the store holds this merchant id")
    identity_id: int | None = Field(default=None, description="its identity in the store's registry")
    linked_shops: list[str] = Field(
        default_factory=list, description="other shops of that identity (same credit code, phone or shop name)"
    )
    registry_status: str | None = Field(default=None, description="the status the store last saw")
    stored_listings: int = Field(default=0, ge=0, description="stored listings of the merchant added")
    stored_reviews: int = Field(default=0, ge=0, description="stored reviews added")
    stored_lab_results: int = Field(default=0, ge=0, description="stored lab results added (ingested or recorded)")
    stored_lab_failures: int = Field(default=0, ge=0, description="of which failed")
    removals: list[StoredRemoval] = Field(default_factory=list, description="removals of the identity's shops")


class ScoredListing(ListingScore):
    """A listing's calibrated risks, reasons and evidence, and what to do with it.

    Each `risks.<type>.probability` is a calibrated probability that a lab test (or check) of this listing would
    find that failure, learnt from the training market's lab results (see the response's description).
    """

    decision: Decision = Field(description="accept 通过 / review 人工复核 / block 拦截")
    triggers: list[Trigger] = Field(default_factory=list, description="thresholds reached, most severe first")
    context: StoredContext | None = Field(
        default=None,
        description="what the market store added before scoring; null when scoring with the store is off",
    )


class ScoreResponse(BaseModel):
    model: ModelRef
    result: ScoredListing = Field(description=RISK_MEANING)


class BatchScoreResponse(BaseModel):
    model: ModelRef
    results: list[ScoredListing] = Field(description="in the order of the request's listings. " + RISK_MEANING)
    decisions: dict[Decision, int] = Field(description="how many listings got each decision")


# --- merchants ----------------------------------------------------------------------------------------
class MerchantRiskRequest(BaseModel):
    """A merchant with its listings (at least one) and their reviews."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"merchant": MERCHANT_EXAMPLE, "listings": [LISTING_EXAMPLE], "reviews": []}]}
    )

    merchant: Merchant
    listings: Annotated[list[Listing], Field(min_length=1, max_length=1000)]
    reviews: Annotated[list[Review], Field(max_length=100_000)] = Field(default_factory=list)
    lab_results: Annotated[list[LabResult], Field(max_length=100_000)] = Field(default_factory=list)


class MerchantRisk(BaseModel):
    """Complaint-prone score and the three-colour credit grade (红/黄/绿) with reasons, and how much evidence
    the score rests on: with fewer reviews than `evidence.min_reviews` the score alone grades yellow at most."""

    merchant_id: str = Field(examples=["M00042"])
    shop_name: str = Field(examples=["康美日化旗舰店"])
    platform: str = Field(examples=["淘宝"])
    complaint_prob: float = Field(
        ge=0,
        le=1,
        description="calibrated probability that the merchant is complaint-prone: that at least 30% of its coming "
        "reviews will be complaints (rating ≤ 2), learnt from how merchants' later reviews followed their record, "
        "listings and earlier reviews in the training market",
    )
    grade: Grade = Field(
        description="red ≥ CHOUJIAN_GRADE_RED_AT, yellow ≥ CHOUJIAN_GRADE_YELLOW_AT, or the registry's record, "
        "whichever is worse; with too little evidence the complaint score alone gives yellow at most"
    )
    grade_reasons: list[GradeReason]
    model_reasons: list[Reason] = Field(description="top contributions to the complaint score")
    n_listings: int = Field(ge=0)
    evidence: MerchantEvidence = Field(description="how much the complaint score rests on")
    context: StoredContext | None = Field(
        default=None, description="what the market store added before scoring; null when scoring with the store is off"
    )


class MerchantRiskResponse(BaseModel):
    model: ModelRef
    result: MerchantRisk


# --- plans --------------------------------------------------------------------------------------------
class QuotaIn(BaseModel):
    """Limits on one category over the whole plan: purchases and/or yuan."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_purchases: int = Field(default=0, ge=0, le=1_000_000)
    max_purchases: int | None = Field(default=None, ge=0, le=1_000_000)
    min_yuan: float = Field(default=0.0, ge=0, le=1e12)
    max_yuan: float | None = Field(default=None, ge=0, le=1e12)


class PlanCreate(BaseModel):
    """What a planner asks for: budget (yuan, purchase + lab fee), ε, quotas, per-merchant cap and seed."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [PLAN_EXAMPLE]},
    )

    name: str = Field(default="", max_length=200)
    budget: float = Field(gt=0, le=1e10, description="yuan: purchase prices plus lab fees")
    epsilon: float = Field(default=0.2, ge=0, lt=1, description="share of the budget for the random arm (ε)")
    explore: float = Field(default=DEFAULT_EXPLORE, ge=0, le=1, description=EXPLORE_HELP)
    per_merchant_cap: int | None = Field(default=None, ge=1, le=1_000_000)
    cap_scope: Literal["plan", "targeted"] = "plan"
    quotas: dict[Annotated[str, Field(min_length=1, max_length=64)], QuotaIn] = Field(default_factory=dict)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    require_estimate: bool = Field(
        default=False,
        description="refuse (422, before drawing) when the random arm is expected to draw fewer listings outside "
        "the targets than an estimate needs (min_random_draws); the message names the budget or ε that would do",
    )


class PlanTargetOut(BaseModel):
    """A listing to buy: rank, expected yield, cost, the arm that chose it, its inclusion probability."""

    rank: int = Field(ge=1)
    listing_id: str
    merchant_id: str
    category: str = Field(examples=["洗发水"])
    arm: Literal["targeted", "explore", "random", "topup"] = Field(
        description="targeted: chosen for its risk per yuan (π = 1); explore: chosen because the model is least sure "
        "of it (the plan's explore share, π = 1); random: the 双随机 draw; topup: the next-ranked listings bought with "
        "what this draw of the random arm left of the budget (π exact)"
    )
    cost: float = Field(description="yuan")
    p_fail: float = Field(ge=0, le=1, description="calibrated failure probability")
    expected_yield: float = Field(description="expected failures found by this purchase")
    inclusion_prob: float = Field(gt=0, le=1, description="probability the design had of choosing it")
    reasons: list[str] = Field(examples=[["绝对化用语: 国家级", "价格远低于品牌均价"]])


class PlanSummaryOut(BaseModel):
    plan_id: str
    name: str
    created_at: datetime
    created_by: str | None
    budget: float
    epsilon: float
    explore: float = Field(default=0.0, description="share of the targeted budget the plan spent on exploration")
    per_merchant_cap: int | None
    seed: int
    model: ModelRef
    market_fingerprint: str
    n_candidates: int
    n_targets: int
    spent: float = Field(description="yuan the plan's purchases cost")
    n_results: int = Field(default=0, description="lab results recorded so far")


class PlanOut(PlanSummaryOut):
    quotas: dict[str, QuotaIn]
    design: dict[str, Any] = Field(description="the planner's design numbers (random arm λ, worst-case cost, …)")
    warnings: list[str] = Field(
        default_factory=list, description="e.g. a random arm too small to estimate the pass rate from"
    )
    targets: list[PlanTargetOut]


class PlanList(BaseModel):
    total: int
    limit: int
    offset: int
    plans: list[PlanSummaryOut]


# --- results and estimates ----------------------------------------------------------------------------
class ResultIn(BaseModel):
    """A lab verdict on a purchased sample of one of the plan's targets."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [RESULT_EXAMPLE]},
    )

    listing_id: Annotated[str, Field(min_length=1, max_length=64)]
    sampled_date: date
    verdict: Verdict
    failure_types: list[FailureType] = Field(default_factory=list, max_length=4)
    cost: float = Field(default=0.0, ge=0, le=1e9)

    @field_validator("sampled_date")
    @classmethod
    def _not_future(cls, v: date) -> date:
        # a day of slack, as on the web page: the lab's clock and the server's may sit either side of midnight
        if v > date.today() + timedelta(days=1):
            raise ValueError(f"{v.isoformat()} is in the future")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ResultIn:
        # the same rule as the record schema, so the API and files agree
        LabResult(
            listing_id=self.listing_id,
            sampled_date=self.sampled_date,
            plan_id="p",
            verdict=self.verdict,
            failure_types=self.failure_types,
            cost=self.cost,
        )
        return self


class ResultsIn(BaseModel):
    """Lab verdicts on purchases of one plan; each `listing_id` must be one of the plan's targets."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"results": [RESULT_EXAMPLE]}]})

    results: Annotated[list[ResultIn], Field(min_length=1, max_length=10_000)]


class ResultOut(BaseModel):
    listing_id: str
    verdict: Verdict
    failure_types: list[FailureType]
    sampled_date: date
    cost: float
    inclusion_prob: float
    recorded_at: datetime
    status: Literal["created", "unchanged"] | None = Field(
        default=None, description="on POST: stored now, or already stored identically (idempotent re-send)"
    )


class ResultsOut(BaseModel):
    plan_id: str
    created: int
    unchanged: int
    results: list[ResultOut]


class ResultList(BaseModel):
    plan_id: str
    results: list[ResultOut]


class RateOut(BaseModel):
    """One rate over one domain: the primary estimate with its interval, and both estimators' numbers."""

    outcome: Literal["fail", "three_no"]
    domain: str = Field(description="'all' or a category", examples=["洗发水"])
    population: int = Field(description="candidate listings in the domain (non-zero inclusion probability)")
    n_sampled: int = Field(description="purchases with results in the domain")
    n_random: int = Field(description="random draws in the domain that were not targeted")
    estimate: float | None
    lower: float
    upper: float
    se: float | None
    ht: float | None = Field(description="None only when no listing had a chance of selection")
    ht_low: float
    ht_high: float
    hajek: float | None
    hajek_low: float
    hajek_high: float
    naive: float | None = Field(description="mean over purchases: biased upwards by targeting, for comparison")
    n_eff: float | None = Field(
        default=None,
        description="effective random sample size of the primary estimate, p(1−p) / its variance; null where the "
        "draws do not vary (all pass or all fail) or the domain is a census",
    )
    design_effect: float | None = Field(
        default=None, description="n_random / n_eff: the variance relative to a simple random sample of that size"
    )
    no_data: bool = Field(
        default=False,
        description="no random draw with a result covers the untargeted part of the domain: the estimate is null, "
        "never 0 failures",
    )
    too_few_draws: bool = Field(
        default=False, description="resting on fewer random draws than min_random_draws: indicative only"
    )


class PassRate(BaseModel):
    """The market pass rate (1 − failure rate) with its interval, and how much evidence it rests on."""

    estimate: float | None = Field(examples=[0.87])
    lower: float = Field(examples=[0.82])
    upper: float = Field(examples=[0.91])
    n_random: int = Field(default=0, description="random draws with results outside the targets")
    n_eff: float | None = Field(default=None, description="effective random sample size (see RateOut)")
    design_effect: float | None = None
    no_data: bool = False
    too_few_draws: bool = Field(default=False, description="fewer random draws than min_random_draws")


class EstimateOut(BaseModel):
    """Design-based estimates of the market's pass, failure and three-no (三无) rates from one plan."""

    plan_id: str
    complete: bool = Field(description="every purchase of the plan has a lab result")
    n_purchases: int
    n_results: int
    confidence: float = Field(examples=[0.95])
    method: Literal["ht", "hajek"] = Field(description="primary estimator: Horvitz–Thompson when complete, else Hájek")
    pass_rate: PassRate
    fail_rate: RateOut
    three_no_rate: RateOut
    by_category: list[RateOut] = Field(description="failure and three-no rates per category")
    min_random_draws: int = Field(
        default=30, description="an estimate resting on fewer random draws is flagged too_few_draws"
    )
    notes: list[str] = Field(default_factory=list)


# --- admin --------------------------------------------------------------------------------------------
class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "planner", "name": "浙江省市场监管局 抽检科"}]}
    )

    role: Literal["platform", "planner", "ingest", "admin"]
    name: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="none: the key never expires")


class KeyOut(BaseModel):
    key_id: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(default=None, description="after this the key is refused; none: never")


class KeyCreated(KeyOut):
    key: str = Field(description="the secret key: shown once, store it now")


class KeyList(BaseModel):
    keys: list[KeyOut]


class ModelInfoOut(ModelInfo):
    review_thresholds: dict[str, float]
    block_thresholds: dict[str, float]
    drift: DriftOut | None = Field(
        default=None, description="how the market the service holds differs from the model's training market"
    )


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    model_loaded: bool
    database: bool
    model_version: str | None = None
    problems: list[str] = Field(default_factory=list)


# --- the market store: pushes and the onboarding check -------------------------------------------------
REMOVAL_EXAMPLE: dict[str, Any] = {
    "merchant_id": "M00042",
    "platform": "淘宝",
    "removed_date": "2026-11-15",
    "reason": "售假：抽检不合格且拒不整改",
}
#: the most records of one table a push may hold: `CHOUJIAN_MAX_INGEST_RECORDS` bounds the whole push below it
_MAX_PUSH = 1_000_000


class IngestRequest(BaseModel):
    """Records a platform pushes into the store: the same record schemas as a market directory's files.

    Listings may name merchants pushed earlier, reviews and lab results listings pushed earlier. The push is
    written whole or not at all; re-sending it changes nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "merchants": [MERCHANT_EXAMPLE],
                    "listings": [LISTING_EXAMPLE],
                    "reviews": [REVIEW_EXAMPLE],
                    "removals": [REMOVAL_EXAMPLE],
                }
            ]
        },
    )

    merchants: Annotated[list[Merchant], Field(max_length=_MAX_PUSH)] = Field(default_factory=list)
    listings: Annotated[list[Listing], Field(max_length=_MAX_PUSH)] = Field(default_factory=list)
    reviews: Annotated[list[Review], Field(max_length=_MAX_PUSH)] = Field(default_factory=list)
    lab_results: Annotated[list[LabResult], Field(max_length=_MAX_PUSH)] = Field(default_factory=list)
    removals: Annotated[list[Removal], Field(max_length=_MAX_PUSH)] = Field(default_factory=list)


class TableCountsOut(BaseModel):
    inserted: int = Field(ge=0, examples=[1])
    updated: int = Field(ge=0, description="changed records; their previous versions are kept", examples=[0])
    unchanged: int = Field(ge=0, examples=[0])


class IngestResponse(BaseModel):
    """What a push changed, per table; `revision` is null when it changed nothing."""

    revision: int | None = Field(examples=[12])
    counts: dict[str, TableCountsOut]
    linked_merchants: int = Field(ge=0, description="merchants (re)linked in the identity registry", examples=[1])


class MerchantCheckRequest(BaseModel):
    """A shop applying to open on a platform (入驻申请)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "platform": "拼多多",
                    "shop_name": "康美日化专营店",
                    "credit_code": "91330106MA2GL5XX1D",
                    "phone": "0571-88886666",
                }
            ]
        },
    )

    platform: str = Field(min_length=1, max_length=64, examples=["拼多多"])
    shop_name: str = Field(min_length=1, max_length=200, examples=["康美日化专营店"])
    credit_code: str | None = Field(default=None, description="统一社会信用代码, 18 characters")
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("credit_code", "phone", mode="before")
    @classmethod
    def _blank(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("credit_code")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        return None if v is None else check_credit_code(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v is None else check_phone(v)


class RemovalOut(BaseModel):
    platform: str = Field(examples=["淘宝"])
    removed_date: date
    reason: str = Field(examples=["售假：抽检不合格且拒不整改"])


class StatusOut(BaseModel):
    registry_status: str = Field(examples=["serious_violation"])
    observed_at: datetime = Field(description="when an ingest first saw this status")


class LinkedShopOut(BaseModel):
    """A known shop linked to the applicant, on any platform, and its record."""

    merchant_id: str = Field(examples=["M00042"])
    platform: str = Field(examples=["淘宝"])
    shop_name: str = Field(examples=["康美日化旗舰店"])
    identity_id: int = Field(description="the linked identity (shops sharing a credit code, phone or name)")
    via: list[str] = Field(
        description="the applicant's keys this shop shares: code, phone, name; empty: linked through other shops",
        examples=[["code", "phone"]],
    )
    registry_status: str = Field(examples=["normal"])
    status_history: list[StatusOut] = Field(default_factory=list)
    removals: list[RemovalOut] = Field(default_factory=list)
    removals_elsewhere: int = Field(ge=0, description="removals the shop's own record reports")
    lab_tests: int = Field(ge=0)
    lab_failures: int = Field(ge=0)
    last_failure: date | None = None


class MerchantCheckResponse(BaseModel):
    """一处清退、处处关店: accept, review or refuse the application, with the linked shops and the reasons."""

    decision: Onboarding
    reasons: list[OnboardingReason]
    linked: list[LinkedShopOut]
