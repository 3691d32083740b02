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

3. **Exploration, deterministic too (arm ``explore``, pi = 1).** With ``explore > 0`` the targeted greedy
   stops short of the last ``explore`` share of its budget ``B - W`` (category minimums come first, from
   the whole of it), and that share buys the listings the model is least sure of: greedy by uncertainty
   per yuan, ``p(1 - p) / (1 + n_labels) / cost`` (`sampling.frame.uncertainty`: the outcome's variance,
   discounted by the lab results the listing's seller group already has), under the same caps and quotas.
   Explored listings are certainty units like the targets: the frame's ``targeted`` column holds both (the
   certainty set), ``explored`` marks these. They are chosen from the scores alone, not from the random
   start, and after the random arm is designed: the random arm's ``lambda`` and every ``pi_R`` are the same
   with or without exploration, a random draw that lands on an explored listing costs nothing extra, and
   the estimators stay design-unbiased: the explored listings' failures are known exactly, like the
   targets', and the random arm speaks for the rest with its exact ``pi_R``. Exploration changes *which*
   listings the certainty set holds (and so the remainder the random arm estimates), never the estimates'
   honesty; the risk-ranked targets simply get ``(1 - explore)`` of what they had.

4. **Top-up, after the draw (arm ``topup``).** The targeted arm had to leave room for the random arm's
   worst case, but a drawn random arm usually costs much less (in the demo about 16,000 of a 40,000 yuan
   worst case). The top-up spends that on the next listings of the same ranking: the *top-up list*
   continues the targeted greedy under the same caps and quotas, as if all its members were bought, and
   skips listings that no draw could afford. Member ``j`` is bought when ``C(u) <= B - T - cum_j``: ``C(u)``
   is the drawn random arm's cost (its listings not already targeted), ``T`` the targets' cost, ``cum_j``
   the list's running cost up to ``j``. So each draw buys a head of the list that fits the budget, and the
   caps and quotas hold because they held for the whole list. ``C(u)`` is a step function of ``u`` (the
   same sweep over arc end points), so a member's inclusion probability is the exact measure of the ``u``
   that either leave it room or draw it at random.

So every candidate's inclusion probability is ``1`` if targeted or explored, exact for top-up list members, else
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

Modules, one per stage: `sampling.plan_config` (the request), `sampling.frame` (candidates and their
systematic order), `sampling.random_arm` (1), `sampling.targets` (2 to 4), `sampling.arcs` (the circle's
exact sweeps); this module designs, draws and summarises.

Store `Plan.frame` with the plan: `sampling.estimation.estimate` needs its order, ``pi_random``,
``targeted`` and ``drawn_random`` columns to turn lab results into honest rates.

Merchant cap scope: with ``cap_scope="plan"`` (default) the cap holds for the plan as a whole, so one
slot of each merchant's cap is left to the random arm; a cap of 1 would then forbid targeting any
merchant, so it is refused when ``epsilon > 0``. With ``cap_scope="targeted"`` the cap binds the
targeted picks and the random arm may add at most one more listing per merchant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from sampling.arcs import SCALE, arc_extremes, draw_mask, enumerate_draws
from sampling.frame import Candidate, candidate_frame, order_frame
from sampling.plan_config import CategoryQuota, PlanConfig, PlanInfeasibleError
from sampling.random_arm import design_random_arm
from sampling.targets import choose_targets, inclusion, topup_mask

logger = logging.getLogger(__name__)

Arm = Literal["targeted", "explore", "random", "topup"]


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
    also_drawn_random: bool = Field(
        description="a targeted or explored listing the random draw also chose (bought once)"
    )
    reasons: list[str]


class PlanSummary(BaseModel):
    """The design's numbers: what was asked, what the worst and the expected draw cost."""

    plan_id: str
    seed: int
    random_start: float = Field(description="u in [0, 1): the plan's one random number")
    budget: float
    epsilon: float
    explore: float = Field(default=0.0, description="share of the targeted budget for the exploration arm")
    random_budget: float
    random_lambda: float = Field(description="inclusion probability of a typical listing in the random arm")
    random_worst_cost: float
    random_expected_cost: float
    targeted_budget: float
    targeted_cost: float
    total_cost: float
    expected_total_cost: float
    n_candidates: int
    n_targeted: int = Field(description="risk-ranked targets (the exploration arm's are n_explored)")
    n_explored: int = Field(default=0, description="purchases chosen for the model's uncertainty (arm 'explore')")
    explored_cost: float = Field(default=0.0, description="yuan spent on the exploration arm")
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
    "n_labels",
    "uncertainty",
    "reasons",
    "pi_random",
    "arc_start",
    "arc_len",
    "targeted",
    "explored",
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

    `frame.pi` is each candidate's inclusion probability (1 for targeted and explored, exact for the top-up
    list, `pi_random` otherwise);
    `frame.selected` marks the purchases; `selected()` gives them in rank order.
    """

    plan_id: str
    config: PlanConfig
    summary: PlanSummary
    frame: pd.DataFrame
    design: PlanDesign = field(repr=False)

    def selected(self) -> pd.DataFrame:
        """The purchases, best first: targeted, explored, top-up, then random draws (see `_realise`)."""
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


def design_plan(candidates: Sequence[Candidate] | pd.DataFrame, config: PlanConfig) -> PlanDesign:
    """Fix everything about a plan except its random start; `PlanDesign.draw(seed)` makes the plan."""
    df = order_frame(candidate_frame(candidates))
    arm = design_random_arm(df, config)
    df["pi_random"] = arm.pi_int / SCALE
    df["arc_start"] = arm.start
    df["arc_len"] = arm.pi_int

    targeted_budget = config.budget - arm.worst
    picks = choose_targets(df, config, start=arm.start, pi_int=arm.pi_int, budget=targeted_budget)
    df["targeted"] = picks.targeted
    df["explored"] = picks.explored
    df["topup_limit"] = picks.topup_limit
    df["pi"] = inclusion(df)
    logger.debug(
        "design: lambda=%.5f worst random cost=%.0f, %d targeted", arm.lam, arm.worst, int(df["targeted"].sum())
    )
    return PlanDesign(
        config=config, frame=df, random_lambda=arm.lam, random_worst_cost=arm.worst, targeted_budget=targeted_budget
    )


def _realise(design: PlanDesign, *, u: int, seed: int, plan_id: str) -> Plan:
    df = design.frame.copy()
    start, length = df["arc_start"].to_numpy(), df["arc_len"].to_numpy()
    drawn = draw_mask(start, length, u)
    targeted, explored = df["targeted"].to_numpy(bool), df["explored"].to_numpy(bool)
    topup = topup_mask(df, drawn) & ~drawn
    df["drawn_random"] = drawn
    df["topup"] = topup
    df["selected"] = targeted | drawn | topup
    arm_order = np.select([targeted & ~explored, explored, topup, drawn], [0, 1, 2, 3], 4)
    df["arm"] = np.array(["targeted", "explore", "topup", "random", ""])[arm_order]
    p, cost = df["p_fail"].to_numpy(), df["cost"].to_numpy()
    # rank: targeted first, then explored, the top-up and the random draws, each by expected failures per yuan
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
        explore=cfg.explore,
        random_budget=cfg.budget * cfg.epsilon,
        random_lambda=design.random_lambda,
        random_worst_cost=design.random_worst_cost,
        random_expected_cost=expected_random,
        targeted_budget=design.targeted_budget,
        targeted_cost=float(cost[targeted & ~explored].sum()),
        total_cost=total_cost,
        expected_total_cost=float((pi * cost).sum()),
        n_candidates=len(df),
        n_targeted=int((targeted & ~explored).sum()),
        n_explored=int(explored.sum()),
        explored_cost=float(cost[explored].sum()),
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
