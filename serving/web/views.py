"""What the planner pages show, as plain typed rows: the templates depend on these and nothing else.

`serving.web.backend` fills them from the service's store, planner and estimation code; keeping the
templates off the service's own models means a change there breaks one adapter, not every page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from sampling.plan_config import DEFAULT_EXPLORE
from serving.web.charts import BarRow

#: failure types as a planner reads them, in the order the form offers them
FAILURE_TYPES_ZH: dict[str, str] = {
    "counterfeit": "假冒",
    "false_advertising": "虚假标注/宣传",
    "quality": "质量不合格",
    "three_no": "三无产品",
}
#: what "failing" means for the lexicon suggestions, as the page offers it
TARGETS_ZH: dict[str, str] = {"lab_fail": "全部不合格", **FAILURE_TYPES_ZH}
ROLES_ZH = {"planner": "抽检规划员", "admin": "管理员", "platform": "平台"}
#: how a page names a zone; any other zone is shown by its UTC offset
ZONE_NAMES_ZH = {"Asia/Shanghai": "北京时间", "Asia/Chongqing": "北京时间", "Asia/Hong_Kong": "香港时间", "UTC": "UTC"}


def local_time(t: datetime, zone: str) -> str:
    """A stored (UTC) time as a planner reads it: `2026-11-23 09:30 北京时间`."""
    here = t.astimezone(ZoneInfo(zone))
    if zone in ZONE_NAMES_ZH:
        label = ZONE_NAMES_ZH[zone]
    else:
        offset = here.strftime("%z")
        label = f"UTC{offset[:3]}:{offset[3:]}"
    return f"{here:%Y-%m-%d %H:%M} {label}"


def local_date(t: datetime, zone: str) -> date:
    return t.astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True)
class Principal:
    """Who a key belongs to: its id (safe to show and to keep in a cookie) and its role."""

    key_id: str
    role: str
    # the stored hash, server side only: sessions are bound to it (serving/security.py), never rendered
    key_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class TopListing:
    listing_id: str
    title: str
    category: str
    platform: str
    price: float
    probability: float
    reasons: list[str]


@dataclass(frozen=True)
class MarketOverview:
    """The current market as the champion model sees it."""

    n_listings: int
    n_merchants: int
    mean_risk: float
    n_high: int
    by_category: list[BarRow]
    by_platform: list[BarRow]
    top: list[TopListing] = field(default_factory=list)
    category_chart: Markup = Markup("")
    platform_chart: Markup = Markup("")


@dataclass
class PlanForm:
    """The plan builder's fields as typed (strings), so a rejected form comes back as the user left it."""

    name: str = ""
    budget: str = "20000"
    epsilon: str = "0.2"
    explore: str = f"{DEFAULT_EXPLORE:g}"
    per_merchant_cap: str = "2"
    seed: str = "7"
    quota_min: dict[str, str] = field(default_factory=dict)
    quota_max: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanRequest:
    """A validated plan request, in the units the planner takes."""

    budget: float
    epsilon: float
    per_merchant_cap: int | None
    seed: int
    quotas: dict[str, tuple[int | None, int | None]]  # category -> (min purchases, max purchases)
    explore: float = DEFAULT_EXPLORE
    # the planner saw that the random arm is too small to estimate from, and wants the plan anyway
    confirm_small: bool = False
    name: str = ""


@dataclass(frozen=True)
class PlanView:
    plan_id: str
    created: str  # local time, with its zone
    budget: float
    spent: float
    epsilon: float
    per_merchant_cap: int | None
    seed: int
    n_targets: int
    n_targeted: int
    n_random: int
    n_topup: int
    n_results: int
    expected_failures: float
    model: str = ""
    name: str = ""
    explore: float = 0.0
    n_explored: int = 0


@dataclass(frozen=True)
class TargetRow:
    rank: int
    listing_id: str
    merchant_id: str
    category: str
    platform: str
    title: str
    cost: float
    probability: float  # predicted failure probability
    inclusion_prob: float
    arm: str  # "targeted" | "random" | "topup"
    reasons: list[str]
    result: str | None = None  # "pass" | "fail" once a lab result is recorded
    failure_types: list[str] = field(default_factory=list)  # in Chinese


@dataclass(frozen=True)
class EstimateRow:
    """A pass-rate estimate with its 95% interval (pass rate = 1 − failure rate).

    `pass_rate` is None while no random-arm purchase has a result: the targeted picks alone say nothing
    about the rest of the market, and the interval is then only the logical bounds.
    """

    plan_id: str
    date: date | None
    n: int
    n_fail: int
    pass_rate: float | None
    low: float
    high: float
    three_no: float | None = None
    method: str = "hajek"  # "ht" once every purchase has a result
    by_category: list[CategoryRate] = field(default_factory=list)
    n_random: int = 0  # random draws with results outside the targets: what the estimate rests on
    n_eff: float | None = None  # effective random sample size
    design_effect: float | None = None
    too_few_draws: bool = False  # fewer than min_random_draws: shown as indicative, with a warning
    min_random_draws: int = 30


@dataclass(frozen=True)
class CategoryRate:
    """One category's pass-rate estimate within a plan (None where its random draws have no results yet)."""

    category: str
    population: int
    n: int
    pass_rate: float | None  # None: no data (no random draw with a result in the category)
    low: float
    high: float
    n_random: int = 0
    too_few_draws: bool = False


@dataclass(frozen=True)
class CueEvidenceRow:
    """A failing listing a suggested phrase occurs in: its text cut around the phrase, which is `hit`."""

    listing_id: str
    field: str  # 标题 or 描述
    before: str
    hit: str
    after: str


@dataclass(frozen=True)
class SuggestionRow:
    """One lexicon suggestion: a phrase in no lexicon that separates failing from passing lab-tested listings."""

    phrase: str
    suggested_kind: str  # "" when no lexicon fits (quality, 三无)
    n_fail: int
    n_pass: int
    share_fail: float
    share_pass: float
    lift: float
    z: float
    background: int
    evidence: list[CueEvidenceRow] = field(default_factory=list)


@dataclass(frozen=True)
class LexiconChangeRow:
    """One analyst decision from the lexicon folder's history."""

    at: str
    action: str  # 采纳 or 驳回
    phrase: str
    kind: str
    by: str
    version: str  # the kind's version after an acceptance
    n_fail: int | None
    n_pass: int | None
    note: str


@dataclass(frozen=True)
class LexiconPage:
    """The lexicon folder today, what the model in service was trained with, and the suggestions."""

    target: str
    version: str
    model_version: str | None  # the lexicon version of the model in service
    sizes: dict[str, int]
    kinds: list[tuple[str, str]]  # (kind, Chinese name) an analyst may accept into
    n_failing: int
    n_passing: int
    suggestions: list[SuggestionRow]
    history: list[LexiconChangeRow]
