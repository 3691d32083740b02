"""Budgeted mystery-buyer (神秘买家) sampling plans whose inclusion probabilities are known exactly.

Pure domain code: no I/O. The CLI (`choujian plan`), the API and the round simulation all call
`make_plan(candidates, config)`; results recorded against the plan go to `sampling.estimation`.

Design
------
A plan has two arms and a top-up that together never spend more than the budget ``B`` on any possible draw.

1. **Random arm (双随机), designed first, over every candidate.** Candidates are put in a fixed order:
   stratum (the *primary category* of the listing's merchant or linked identity, i.e. the category in
   which it has most listings), then merchant groups, then the listings inside each group, both in
   an order fixed by a salted hash of their ids (so the order carries no information about risk or
   cost). Each reachable candidate gets
   ``pi_R = min(lambda, 1 / n_g)`` where ``n_g`` is its merchant group's number of reachable listings,
   and one *systematic* sample is drawn along that order with a single random start ``u``: candidate
   ``i`` is chosen when ``u`` falls in an arc of length ``pi_R[i]`` on the unit circle. This is
   systematic πps sampling with implicit stratification: ``pi_R`` is exact by construction, each
   stratum gets the floor or ceiling of its expected number of draws, and because a merchant group is
   one contiguous block of length at most 1, the random arm can buy at most one listing per merchant.
   Probabilities are held as integers in units of 2^-40, so every arc and every draw is exact.

   Because the whole arm is a function of the one number ``u``, its worst case over *all* draws is
   computed exactly by a sweep over the arc end points: the largest total cost, the largest and
   smallest number of purchases and yuan per category. ``lambda`` is the largest value found by
   bisection for which the worst-case cost is at most ``epsilon * B`` and no category maximum can be
   broken (the chosen ``lambda`` is always checked exactly). Listings that cost more than the random
   arm's budget, or more than their category's yuan cap, cannot be bought by any random draw: they
   get ``pi_R = 0`` and are reported as unreachable (the estimators then speak for the rest).

2. **Targeted arm, deterministic (certainty units, pi = 1).** Candidates are ranked by expected
   failures found per yuan, ``p_fail / cost``, and taken greedily while they fit: the budget left
   after the random arm's *worst case* (``B - W``, so at least ``(1 - epsilon) * B``), the per-merchant
   cap minus the random arm's worst case for that merchant (at most one), and each category's
   maximum minus the random arm's worst case there. Category minimums are filled first, counting only
   what every random draw is sure to deliver there. A random draw that lands on a targeted listing
   costs nothing extra: it is bought once.

3. **Top-up, after the draw (arm ``topup``).** The targeted arm had to leave room for the random arm's
   worst case, but a drawn random arm usually costs much less (in the demo about 16,000 of a 40,000 yuan
   worst case). The top-up spends that on the next listings of the same ranking: the *top-up list*
   continues the targeted greedy under the same caps and quotas, as if all its members were bought, and
   skips listings that no draw could afford. Member ``j`` is bought when ``C(u) <= B - T - cum_j``: ``C(u)``
   is the drawn random arm's cost (its listings not already targeted), ``T`` the targets' cost, ``cum_j``
   the list's running cost up to ``j``. So each draw buys a head of the list that fits the budget, and the
   caps and quotas hold because they held for the whole list. ``C(u)`` is a step function of ``u`` (the
   same sweep over arc end points), so a member's inclusion probability is the exact measure of the ``u``
   that either leave it room or draw it at random.

So every candidate's inclusion probability is ``1`` if targeted, exact for top-up list members, else
``pi_R`` (exact, and > 0 for every affordable listing when ``epsilon > 0``); their sum is the expected
number of distinct purchases; the same seed gives the same ``u`` and the same plan; and the budget, the
caps and the quotas hold for every draw, not merely on average. The estimators (`sampling.estimation`)
use the targets and the random draws only: a top-up purchase is a listing the random arm did not draw,
so leaving its result out keeps them design-unbiased. Training, which weights lab results by ``1 / pi``,
reads the exact ``pi``.

Without the top-up the gap between the random arm's worst case and its drawn cost would be budget left
unspent (`PlanSummary.random_expected_cost` vs `random_worst_cost`). The random arm itself stays that
small: when ``epsilon * B`` is close to the dearest listing's cost it gets about one draw: raise
``epsilon`` or the budget, or cap the dear categories' yuan, to buy a useful random sample.

Store `Plan.frame` with the plan: `sampling.estimation.estimate` needs its order, ``pi_random``,
``targeted`` and ``drawn_random`` columns to turn lab results into honest rates.

Merchant cap scope: with ``cap_scope="plan"`` (default) the cap holds for the plan as a whole, so one
slot of each merchant's cap is left to the random arm; a cap of 1 would then forbid targeting any
merchant, so it is refused when ``epsilon > 0``. With ``cap_scope="targeted"`` the cap binds the
targeted picks and the random arm may add at most one more listing per merchant.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

logger = logging.getLogger(__name__)

#: probabilities and the random start are integers in units of 1 / SCALE, so cumulative sums are exact
SCALE = 1 << 40
_ORDER_SALT = b"choujian-planner-v1"
_BISECTION_STEPS = 48
Arm = Literal["targeted", "random", "topup"]


class PlanInfeasibleError(ValueError):
    """The constraints cannot all be met (e.g. a category minimum the budget cannot buy)."""


class Candidate(BaseModel):
    """One listing the planner may buy, with its calibrated failure probability."""

    model_config = ConfigDict(frozen=True)

    listing_id: str = Field(min_length=1)
    merchant_id: str = Field(min_length=1)
    identity_id: str | None = Field(
        default=None,
        description="seller group (shops under one credit code); the per-merchant cap binds on it when given",
    )
    category: str = Field(min_length=1)
    cost: float = Field(gt=0, description="yuan: purchase price + lab fee")
    p_fail: float = Field(ge=0, le=1, description="calibrated probability that the lab test fails")
    reasons: list[str] = Field(default_factory=list, description="top reasons, most important first")


class CategoryQuota(BaseModel):
    """Limits on one category's purchases over the whole plan (both arms, every draw)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_purchases: int = Field(default=0, ge=0)
    max_purchases: int | None = Field(default=None, ge=0)
    min_yuan: float = Field(default=0.0, ge=0)
    max_yuan: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> CategoryQuota:
        if self.max_purchases is not None and self.max_purchases < self.min_purchases:
            raise ValueError("max_purchases is below min_purchases")
        if self.max_yuan is not None and self.max_yuan < self.min_yuan:
            raise ValueError("max_yuan is below min_yuan")
        return self

    @classmethod
    def parse(cls, spec: str) -> tuple[str, CategoryQuota]:
        """`'CATEGORY:min_purchases=3,max_yuan=20000'` → (category, quota), as the CLI writes quotas.

        The keys are the quota's own field names (the API's too); an unknown key, a missing category or a
        value that is not a number is refused with a message naming it.
        """
        cat, sep, body = spec.partition(":")
        cat = cat.strip()
        if not cat or not sep:
            raise ValueError(f"{spec!r}: write CATEGORY:KEY=VALUE[,KEY=VALUE...], e.g. '智能手机:min_purchases=3'")
        values: dict[str, float] = {}
        for part in (p.strip() for p in body.split(",")):
            if not part:
                continue
            key, eq, raw = (x.strip() for x in part.partition("="))
            if key not in cls.model_fields:
                raise ValueError(f"{spec!r}: unknown key {key!r}; use {', '.join(cls.model_fields)}")
            if not eq:
                raise ValueError(f"{spec!r}: {key} needs a value ({key}=...)")
            try:
                values[key] = float(raw)
            except ValueError:
                raise ValueError(f"{spec!r}: {key}={raw!r} is not a number") from None
        if not values:
            raise ValueError(f"{spec!r}: no limit given; use {', '.join(cls.model_fields)}")
        for key in ("min_purchases", "max_purchases"):
            if key in values and not float(values[key]).is_integer():
                raise ValueError(f"{spec!r}: {key} must be a whole number of purchases")
        return cat, cls.model_validate(values)


class PlanConfig(BaseModel):
    """What the user asks for: budget, exploration share, caps, quotas and the seed."""

    model_config = ConfigDict(frozen=True)

    budget: float = Field(gt=0, description="yuan, purchases plus lab fees")
    epsilon: float = Field(default=0.2, ge=0, lt=1, description="share of the budget for the random arm (ε)")
    per_merchant_cap: int | None = Field(default=None, ge=1, description="max purchases per merchant or identity")
    cap_scope: Literal["plan", "targeted"] = "plan"
    quotas: dict[str, CategoryQuota] = Field(default_factory=dict)
    seed: int = Field(default=0, ge=0)
    plan_id: str | None = None

    @model_validator(mode="after")
    def _cap_leaves_room(self) -> PlanConfig:
        if self.epsilon > 0 and self.cap_scope == "plan" and self.per_merchant_cap == 1:
            raise ValueError(
                "per_merchant_cap=1 with a random arm: the random arm may need that one slot for any merchant, "
                "so nothing could be targeted; use per_merchant_cap >= 2, cap_scope='targeted', or epsilon=0"
            )
        return self


class PlannedPurchase(BaseModel):
    """One row of a plan: what to buy, why, and with what probability it was chosen."""

    rank: int
    listing_id: str
    merchant_id: str
    category: str
    cost: float
    p_fail: float = Field(description="expected yield: expected failures from this purchase")
    arm: Arm
    inclusion_prob: float
    also_drawn_random: bool = Field(description="a targeted listing the random draw also chose (bought once)")
    reasons: list[str]


class PlanSummary(BaseModel):
    """The design's numbers: what was asked, what the worst and the expected draw cost."""

    plan_id: str
    seed: int
    random_start: float = Field(description="u in [0, 1): the plan's one random number")
    budget: float
    epsilon: float
    random_budget: float
    random_lambda: float = Field(description="inclusion probability of a typical listing in the random arm")
    random_worst_cost: float
    random_expected_cost: float
    targeted_budget: float
    targeted_cost: float
    total_cost: float
    expected_total_cost: float
    n_candidates: int
    n_targeted: int
    n_random: int = Field(description="random draws that were not already targeted")
    n_random_draws: int = Field(description="all random draws, including those that hit targeted listings")
    n_unreachable: int = Field(description="listings no draw can buy (too expensive for the random arm)")
    n_topup: int = Field(default=0, description="top-up purchases: what this draw of the random arm left unspent")
    topup_cost: float = Field(default=0.0, description="yuan spent on the top-up at this draw")
    default_fee_categories: list[str] = Field(
        default_factory=list, description="categories without a lab fee in the reference table: costed at the default"
    )
    expected_random_draws: float | None = Field(
        default=None, description="random draws the design expects outside the targets (what an estimate rests on)"
    )
    warnings: list[str] = Field(default_factory=list, description="what the planner should know before buying")
    expected_sample_size: float
    expected_failures: float


#: columns of `Plan.frame`, one row per candidate in the systematic order
FRAME_COLUMNS = (
    "listing_id",
    "merchant_id",
    "group_id",
    "category",
    "stratum",
    "cost",
    "p_fail",
    "reasons",
    "pi_random",
    "arc_start",
    "arc_len",
    "targeted",
    "topup_limit",
    "drawn_random",
    "topup",
    "selected",
    "arm",
    "rank",
    "pi",
)


@dataclass(frozen=True)
class PlanDesign:
    """Everything about a plan except its random start: reusable across seeds (simulations)."""

    config: PlanConfig
    frame: pd.DataFrame
    random_lambda: float
    random_worst_cost: float
    targeted_budget: float

    def draw(self, seed: int | None = None, *, plan_id: str | None = None) -> Plan:
        """Draw the random arm with `seed` (default: the config's) and return the plan."""
        seed = self.config.seed if seed is None else seed
        u = int(np.random.default_rng(seed).integers(0, SCALE))
        return _realise(self, u=u, seed=seed, plan_id=plan_id or self.config.plan_id or f"plan-{seed}")


@dataclass(frozen=True)
class Plan:
    """A drawn plan: one row per candidate in `frame` (see FRAME_COLUMNS) and the design summary.

    `frame.pi` is each candidate's inclusion probability (1 for targeted, `pi_random` otherwise);
    `frame.selected` marks the purchases; `selected()` gives them in rank order.
    """

    plan_id: str
    config: PlanConfig
    summary: PlanSummary
    frame: pd.DataFrame
    design: PlanDesign = field(repr=False)

    def selected(self) -> pd.DataFrame:
        """The purchases, best first: targeted by expected failures per yuan, then random draws."""
        return self.frame[self.frame["selected"]].sort_values("rank").reset_index(drop=True)

    def purchases(self) -> list[PlannedPurchase]:
        """The purchases as typed rows (for the API)."""
        return [
            PlannedPurchase(
                rank=int(r["rank"]),
                listing_id=r["listing_id"],
                merchant_id=r["merchant_id"],
                category=r["category"],
                cost=float(r["cost"]),
                p_fail=float(r["p_fail"]),
                arm=r["arm"],
                inclusion_prob=float(r["pi"]),
                also_drawn_random=bool(r["targeted"] and r["drawn_random"]),
                reasons=list(r["reasons"]),
            )
            for r in self.selected().to_dict("records")
        ]

    def enumerate_random_draws(self) -> list[tuple[float, NDArray[np.bool_]]]:
        """Every possible random-arm draw with its exact probability (O(n^2): small frames, tests)."""
        return enumerate_draws(self.frame["arc_start"].to_numpy(), self.frame["arc_len"].to_numpy())


# --- candidates -------------------------------------------------------------------------------------


def candidate_frame(candidates: Sequence[Candidate] | pd.DataFrame) -> pd.DataFrame:
    """Normalise candidates (typed rows or a DataFrame with the `Candidate` columns) to a checked frame."""
    if isinstance(candidates, pd.DataFrame):
        df = candidates.copy()
    else:
        df = pd.DataFrame([c.model_dump() for c in candidates], columns=list(Candidate.model_fields))
    missing = [c for c in ("listing_id", "merchant_id", "category", "cost", "p_fail") if c not in df.columns]
    if missing:
        raise ValueError(f"candidates lack column(s): {', '.join(missing)}")
    if df.empty:
        raise ValueError("no candidates")
    if "identity_id" not in df.columns:
        df["identity_id"] = None
    if "reasons" not in df.columns:
        df["reasons"] = [[] for _ in range(len(df))]
    df["reasons"] = [_as_reasons(r) for r in df["reasons"]]
    for c in ("listing_id", "merchant_id", "category"):
        df[c] = df[c].astype(str)
    df["cost"] = df["cost"].astype(float)
    df["p_fail"] = df["p_fail"].astype(float)
    if df["listing_id"].duplicated().any():
        raise ValueError(f"duplicate listing_id {df.loc[df['listing_id'].duplicated(), 'listing_id'].iat[0]!r}")
    if not (np.isfinite(df["cost"]).all() and (df["cost"] > 0).all()):
        raise ValueError("every cost must be a positive number of yuan")
    if not (df["p_fail"].between(0, 1).all()):
        raise ValueError("every p_fail must be a probability in [0, 1]")
    ident = df["identity_id"].astype(object)
    blank = ident.isna() | (ident.astype(str).str.strip() == "")
    df["group_id"] = np.where(blank, df["merchant_id"], ident.astype(str))
    return df[["listing_id", "merchant_id", "group_id", "category", "cost", "p_fail", "reasons"]]


def _as_reasons(r: Any) -> list[str]:
    if r is None or (isinstance(r, float) and r != r):
        return []
    if isinstance(r, str):
        return [p.strip() for p in r.split("|") if p.strip()]
    return [str(x) for x in r]


def _group_rank(ids: Iterable[str]) -> dict[str, str]:
    """A fixed, risk-blind order of ids: a salted hash of each."""
    return {g: hashlib.blake2b(g.encode() + _ORDER_SALT, digest_size=8).hexdigest() for g in ids}


def _order_frame(df: pd.DataFrame) -> pd.DataFrame:
    counts = df.groupby(["group_id", "category"]).size().reset_index(name="n")
    counts = counts.sort_values(["group_id", "n", "category"], ascending=[True, False, True])
    primary = counts.drop_duplicates("group_id").set_index("group_id")["category"]
    df = df.assign(stratum=df["group_id"].map(primary))
    df["_g"] = df["group_id"].map(_group_rank(df["group_id"].unique()))
    # listings within a merchant in hashed order too: sorting them (by cost, say) would line up every
    # merchant's dearest listing at the same random start, which inflates the worst-case cost and makes
    # the draws of different merchants move together (a variance the estimators could not see)
    df["_l"] = df["listing_id"].map(_group_rank(df["listing_id"]))
    df = df.sort_values(["stratum", "_g", "group_id", "_l", "listing_id"], kind="mergesort")
    return df.drop(columns=["_g", "_l"]).reset_index(drop=True)


# --- the circle: worst cases and draws of one systematic sample -------------------------------------


def _events(
    start: NDArray[np.int64], length: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    keep = length > 0
    s, ln, w = start[keep], length[keep], weight[keep]
    e = s + ln
    wrap = e > SCALE
    pos = np.concatenate([s, np.where(wrap, SCALE, e), np.zeros(int(wrap.sum()), np.int64), e[wrap] - SCALE, [0]])
    delta = np.concatenate([w, -w, w[wrap], -w[wrap], [0.0]])
    return pos.astype(np.int64), delta


def _steps(
    start: NDArray[np.int64], length: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The total weight of the arcs containing u as a step function: segments [lo, hi) of [0, SCALE) and
    their values (`arc_extremes` is its max and min)."""
    pos, delta = _events(start, length, weight)
    # at one position, arcs that end leave before arcs that start (pos < 2^41, so the key fits int64)
    order = np.argsort(pos * 2 + (delta > 0), kind="stable")
    pos, value = pos[order], np.cumsum(delta[order])
    last = np.r_[pos[1:] != pos[:-1], True] & (pos < SCALE)
    lo = pos[last]
    return lo, np.r_[lo[1:], SCALE], value[last]


def arc_extremes(
    start: NDArray[np.int64], length: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[float, float]:
    """Max and min over every random start u of the total weight of the arcs that contain u."""
    _, _, v = _steps(start, length, weight)
    return float(v.max()), float(v.min())


def draw_mask(start: NDArray[np.int64], length: NDArray[np.int64], u: int) -> NDArray[np.bool_]:
    """Which arcs contain the random start u (an integer in [0, SCALE))."""
    return ((u - start) % SCALE) < length


def enumerate_draws(start: NDArray[np.int64], length: NDArray[np.int64]) -> list[tuple[float, NDArray[np.bool_]]]:
    """All distinct samples of the systematic design with their exact probabilities."""
    pos, _ = _events(start, length, np.zeros(len(start)))
    cuts = np.unique(np.r_[pos[pos < SCALE], 0, SCALE])
    return [((hi - lo) / SCALE, draw_mask(start, length, int(lo))) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]


def _arcs(pi_int: NDArray[np.int64]) -> NDArray[np.int64]:
    return (np.cumsum(pi_int) - pi_int) % SCALE


# --- the design ---------------------------------------------------------------------------------------


def _random_pi(lam: float, reach: NDArray[np.bool_], group_cap: NDArray[np.float64]) -> NDArray[np.int64]:
    pi = np.where(reach, np.minimum(lam, group_cap), 0.0)
    return np.floor(pi * SCALE).astype(np.int64)


def _random_ok(
    pi_int: NDArray[np.int64], cost: NDArray[np.float64], cats: pd.Series, config: PlanConfig, budget_r: float
) -> tuple[bool, float]:
    start = _arcs(pi_int)
    worst, _ = arc_extremes(start, pi_int, cost)
    if worst > budget_r + 1e-9:
        return False, worst
    for cat, q in config.quotas.items():
        m = (cats == cat).to_numpy()
        if not m.any():
            continue
        # the random arm's worst case must leave the targeted arm room for what the minimum still needs
        if q.max_purchases is not None:
            rmax, rmin = arc_extremes(start[m], pi_int[m], np.ones(int(m.sum())))
            if rmax + max(0.0, q.min_purchases - rmin) > q.max_purchases:
                return False, worst
        if q.max_yuan is not None:
            wmax, wmin = arc_extremes(start[m], pi_int[m], cost[m])
            if wmax + max(0.0, q.min_yuan - wmin) > q.max_yuan + 1e-9:
                return False, worst
    return True, worst


def design_plan(candidates: Sequence[Candidate] | pd.DataFrame, config: PlanConfig) -> PlanDesign:
    """Fix everything about a plan except its random start; `PlanDesign.draw(seed)` makes the plan."""
    df = _order_frame(candidate_frame(candidates))
    n = len(df)
    cost = df["cost"].to_numpy(float)
    cats = df["category"]
    budget_r = config.budget * config.epsilon

    # reachable by the random arm: affordable within its budget and within the category's caps
    reach = cost <= budget_r
    for cat, q in config.quotas.items():
        m = (cats == cat).to_numpy()
        if q.max_purchases == 0:
            reach &= ~m
        if q.max_yuan is not None:
            reach &= ~(m & (cost > q.max_yuan))
    n_reach_group = pd.Series(reach).groupby(df["group_id"].to_numpy()).transform("sum").to_numpy(float)
    group_cap = np.divide(1.0, n_reach_group, out=np.zeros(n), where=n_reach_group > 0)

    lam, worst, pi_int = 0.0, 0.0, np.zeros(n, np.int64)
    if budget_r > 0 and reach.any():
        ok, w1 = _random_ok(_random_pi(1.0, reach, group_cap), cost, cats, config, budget_r)
        if ok:
            lam, worst = 1.0, w1
        else:
            lo, hi = 0.0, 1.0
            for _ in range(_BISECTION_STEPS):
                if hi - lo <= 1e-6 * hi:  # a millionth of lambda is far below any cost that matters
                    break
                mid = (lo + hi) / 2
                ok, w = _random_ok(_random_pi(mid, reach, group_cap), cost, cats, config, budget_r)
                if ok:
                    lo, lam, worst = mid, mid, w
                else:
                    hi = mid
        pi_int = _random_pi(lam, reach, group_cap)
        if lam == 0.0 or not pi_int[reach].all():
            raise PlanInfeasibleError("the random arm cannot give every affordable listing a chance: raise epsilon")
    start = _arcs(pi_int)
    df["pi_random"] = pi_int / SCALE
    df["arc_start"] = start
    df["arc_len"] = pi_int

    targeted_budget = config.budget - worst
    targeted, topup_limit = _choose_targets(df, config, start=start, pi_int=pi_int, budget=targeted_budget)
    df["targeted"] = targeted
    df["topup_limit"] = topup_limit
    df["pi"] = _inclusion(df)
    logger.debug("design: lambda=%.5f worst random cost=%.0f, %d targeted", lam, worst, int(df["targeted"].sum()))
    return PlanDesign(
        config=config, frame=df, random_lambda=lam, random_worst_cost=worst, targeted_budget=targeted_budget
    )


def _choose_targets(
    df: pd.DataFrame, config: PlanConfig, *, start: NDArray[np.int64], pi_int: NDArray[np.int64], budget: float
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Greedy by expected failures per yuan under budget, caps and quotas left by the random arm's worst case.

    Returns the targets and, for the top-up list, each member's limit: it is bought on a draw whose random arm
    costs at most that (NaN for everyone else)."""
    n = len(df)
    cost = df["cost"].to_numpy(float)
    p = df["p_fail"].to_numpy(float)
    groups = df["group_id"].to_numpy()
    cats = df["category"].to_numpy()

    # the random arm buys at most one listing per merchant group (contiguous block of length <= 1)
    in_random = pd.Series(pi_int > 0).groupby(groups).any()
    reserve = in_random.astype(int) if config.cap_scope == "plan" else in_random * 0
    cap_left: dict[str, float] = {
        str(g): (np.inf if config.per_merchant_cap is None else config.per_merchant_cap - int(r))
        for g, r in reserve.items()
    }
    count_left: dict[str, float] = {}
    yuan_left: dict[str, float] = {}
    need_count: dict[str, float] = {}
    need_yuan: dict[str, float] = {}
    for cat, q in config.quotas.items():
        m = cats == cat
        rmax, rmin = arc_extremes(start[m], pi_int[m], np.ones(int(m.sum()))) if m.any() else (0.0, 0.0)
        wmax, wmin = arc_extremes(start[m], pi_int[m], cost[m]) if m.any() else (0.0, 0.0)
        count_left[cat] = np.inf if q.max_purchases is None else q.max_purchases - rmax
        yuan_left[cat] = np.inf if q.max_yuan is None else q.max_yuan - wmax
        need_count[cat] = max(0.0, q.min_purchases - rmin)
        need_yuan[cat] = max(0.0, q.min_yuan - wmin)

    order = np.lexsort((df["listing_id"].to_numpy(), -p, -(p / cost)))
    chosen = np.zeros(n, bool)
    left = budget

    def take(i: int) -> bool:
        nonlocal left
        c, g, k = cost[i], groups[i], cats[i]
        if chosen[i] or c > left + 1e-9 or cap_left[g] < 1:
            return False
        if count_left.get(k, np.inf) < 1 or c > yuan_left.get(k, np.inf) + 1e-9:
            return False
        chosen[i] = True
        left -= c
        cap_left[g] -= 1
        if k in count_left:
            count_left[k] -= 1
            yuan_left[k] -= c
            need_count[k] -= 1
            need_yuan[k] -= c
        return True

    for cat in sorted(need_count):
        for i in order[cats[order] == cat]:
            if need_count[cat] <= 0 and need_yuan[cat] <= 1e-9:
                break
            take(int(i))
        if need_count[cat] > 0 or need_yuan[cat] > 1e-9:
            raise PlanInfeasibleError(
                f"category {cat!r}: its minimum cannot be met within the budget, caps and maxima "
                f"(short by {max(need_count[cat], 0):.0f} purchase(s) / {max(need_yuan[cat], 0):.0f} yuan)"
            )
    cheapest = float(cost.min())
    for i in order:
        if left < cheapest - 1e-9:
            break
        take(int(i))

    # the top-up list: the next candidates in the same order under the same caps, as if all were bought, each
    # with the largest random-arm cost C(u) at which it is still bought (prefix rule: C(u) <= its limit)
    targets_cost = float(cost[chosen].sum())
    _, c_min = arc_extremes(start, pi_int, np.where(chosen, 0.0, cost)) if pi_int.any() else (0.0, 0.0)
    slack = config.budget - targets_cost - c_min  # the most that any draw leaves unspent
    limit = np.full(n, np.nan)
    cum = 0.0
    left = np.inf  # from here the budget test is each member's limit, per draw
    for i in order:
        i = int(i)
        if chosen[i] or cum + cost[i] > slack + 1e-9:  # bought on no draw: skip it, as the greedy does
            continue
        if take(i):
            cum += cost[i]
            limit[i] = config.budget - targets_cost - cum
    return chosen & np.isnan(limit), limit


def topup_mask(frame: pd.DataFrame, drawn: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The top-up purchases when the random arm draws `drawn`: the members of the top-up list whose limit
    the drawn arm's cost (its listings not already targeted) does not exceed."""
    cost, targeted = frame["cost"].to_numpy(float), frame["targeted"].to_numpy(bool)
    spent = float(cost[drawn & ~targeted].sum())
    limit = frame["topup_limit"].to_numpy(float)
    return ~np.isnan(limit) & (spent <= limit + 1e-6)


def _inclusion(df: pd.DataFrame) -> NDArray[np.float64]:
    """Each candidate's exact inclusion probability: 1 if targeted; for a top-up list member, the measure of
    the random starts u that draw it or leave its limit unspent; otherwise `pi_random`."""
    pi = np.where(df["targeted"].to_numpy(bool), 1.0, df["pi_random"].to_numpy(float))
    limit = df["topup_limit"].to_numpy(float)
    members = np.flatnonzero(~np.isnan(limit))
    if not len(members):
        return pi
    start, length = df["arc_start"].to_numpy(np.int64), df["arc_len"].to_numpy(np.int64)
    new_cost = np.where(df["targeted"].to_numpy(bool), 0.0, df["cost"].to_numpy(float))
    lo, hi, spent = _steps(start, length, new_cost)
    width = hi - lo
    for i in members:
        bought = (spent <= limit[i] + 1e-6) | (((lo - start[i]) % SCALE) < length[i])
        pi[i] = int(width[bought].sum()) / SCALE
    return pi


def _realise(design: PlanDesign, *, u: int, seed: int, plan_id: str) -> Plan:
    df = design.frame.copy()
    start, length = df["arc_start"].to_numpy(), df["arc_len"].to_numpy()
    drawn = draw_mask(start, length, u)
    targeted = df["targeted"].to_numpy(bool)
    topup = topup_mask(df, drawn) & ~drawn
    df["drawn_random"] = drawn
    df["topup"] = topup
    df["selected"] = targeted | drawn | topup
    df["arm"] = np.where(targeted, "targeted", np.where(drawn, "random", np.where(topup, "topup", "")))
    p, cost = df["p_fail"].to_numpy(), df["cost"].to_numpy()
    # rank: targeted first by expected failures per yuan, then the top-up, then random draws, each by that key
    arm_order = np.where(targeted, 0, np.where(topup, 1, 2))
    key = np.lexsort((df["listing_id"].to_numpy(), -p, -(p / cost), arm_order))
    sel_sorted = key[df["selected"].to_numpy()[key]]
    rank = pd.array([pd.NA] * len(df), dtype="Int64")
    rank[sel_sorted] = np.arange(1, len(sel_sorted) + 1)
    df["rank"] = rank
    df = df[list(FRAME_COLUMNS)]

    cfg = design.config
    pi_r, pi = df["pi_random"].to_numpy(), df["pi"].to_numpy()
    new_random = drawn & ~targeted
    total_cost = float(cost[targeted].sum() + cost[new_random].sum() + cost[topup].sum())
    expected_random = float((pi_r * cost)[~targeted].sum())
    assert total_cost <= cfg.budget + 1e-6, "budget exceeded: the design's worst case is wrong"
    summary = PlanSummary(
        plan_id=plan_id,
        seed=seed,
        random_start=u / SCALE,
        budget=cfg.budget,
        epsilon=cfg.epsilon,
        random_budget=cfg.budget * cfg.epsilon,
        random_lambda=design.random_lambda,
        random_worst_cost=design.random_worst_cost,
        random_expected_cost=expected_random,
        targeted_budget=design.targeted_budget,
        targeted_cost=float(cost[targeted].sum()),
        total_cost=total_cost,
        expected_total_cost=float((pi * cost).sum()),
        n_candidates=len(df),
        n_targeted=int(targeted.sum()),
        n_random=int(new_random.sum()),
        n_random_draws=int(drawn.sum()),
        n_unreachable=int(((pi_r == 0) & ~targeted).sum()),
        n_topup=int(topup.sum()),
        topup_cost=float(cost[topup].sum()),
        expected_sample_size=float(pi.sum()),
        expected_failures=float((pi * p).sum()),
    )
    return Plan(plan_id=plan_id, config=cfg, summary=summary, frame=df, design=design)


def make_plan(candidates: Sequence[Candidate] | pd.DataFrame, config: PlanConfig) -> Plan:
    """Design and draw a plan (see the module docstring); the same inputs and seed give the same plan."""
    return design_plan(candidates, config).draw(config.seed, plan_id=config.plan_id)


__all__ = [
    "SCALE",
    "Candidate",
    "CategoryQuota",
    "PlanConfig",
    "PlanDesign",
    "Plan",
    "PlanInfeasibleError",
    "PlannedPurchase",
    "PlanSummary",
    "FRAME_COLUMNS",
    "candidate_frame",
    "design_plan",
    "make_plan",
    "arc_extremes",
    "draw_mask",
    "enumerate_draws",
    "topup_mask",
]
