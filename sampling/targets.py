"""The planner's own picks: the targeted and exploration arms (certainty units, pi = 1) and the top-up list.

The targeted arm and the top-up take candidates in one order, expected failures per yuan; the exploration arm
takes the most uncertain per yuan (`sampling.frame.uncertainty`). All of them take what fits under what the
random arm's *worst case* leaves of the budget, of each seller's cap and of each category's limits
(`_Ledger`); category minimums are filled first. The top-up list continues the risk greedy as if all its
members were bought, each member with the largest random-arm cost at which a draw still leaves room for it
(`sampling.planner` explains why this keeps every inclusion probability exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sampling.arcs import SCALE, arc_extremes, steps
from sampling.plan_config import PlanConfig, PlanInfeasibleError


class _Ledger:
    """What the planner's picks may still spend: budget, seller caps and category limits left by the random
    arm's worst case, and what category minimums still need beyond what every random draw delivers."""

    def __init__(
        self,
        df: pd.DataFrame,
        config: PlanConfig,
        *,
        start: NDArray[np.int64],
        pi_int: NDArray[np.int64],
        budget: float,
    ):
        self.cost = df["cost"].to_numpy(float)
        self.groups = df["group_id"].to_numpy()
        self.cats = df["category"].to_numpy()
        self.chosen = np.zeros(len(df), bool)
        self.left = budget
        # the random arm buys at most one listing per merchant group (contiguous block of length <= 1)
        in_random = pd.Series(pi_int > 0).groupby(self.groups).any()
        reserve = in_random.astype(int) if config.cap_scope == "plan" else in_random * 0
        self.cap_left: dict[str, float] = {
            str(g): (np.inf if config.per_merchant_cap is None else config.per_merchant_cap - int(r))
            for g, r in reserve.items()
        }
        self.count_left: dict[str, float] = {}
        self.yuan_left: dict[str, float] = {}
        self.need_count: dict[str, float] = {}
        self.need_yuan: dict[str, float] = {}
        cost, cats = self.cost, self.cats
        for cat, q in config.quotas.items():
            m = cats == cat
            rmax, rmin = arc_extremes(start[m], pi_int[m], np.ones(int(m.sum()))) if m.any() else (0.0, 0.0)
            wmax, wmin = arc_extremes(start[m], pi_int[m], cost[m]) if m.any() else (0.0, 0.0)
            self.count_left[cat] = np.inf if q.max_purchases is None else q.max_purchases - rmax
            self.yuan_left[cat] = np.inf if q.max_yuan is None else q.max_yuan - wmax
            self.need_count[cat] = max(0.0, q.min_purchases - rmin)
            self.need_yuan[cat] = max(0.0, q.min_yuan - wmin)

    def take(self, i: int) -> bool:
        """Buy candidate `i` if it fits the budget, its seller's cap and its category's limits."""
        c, g, k = self.cost[i], self.groups[i], self.cats[i]
        if self.chosen[i] or c > self.left + 1e-9 or self.cap_left[g] < 1:
            return False
        if self.count_left.get(k, np.inf) < 1 or c > self.yuan_left.get(k, np.inf) + 1e-9:
            return False
        self.chosen[i] = True
        self.left -= c
        self.cap_left[g] -= 1
        if k in self.count_left:
            self.count_left[k] -= 1
            self.yuan_left[k] -= c
            self.need_count[k] -= 1
            self.need_yuan[k] -= c
        return True

    def fill_minimums(self, order: NDArray[np.int64]) -> None:
        """Meet each category's minimum with its best candidates first, or say which cannot be met."""
        need_count, need_yuan, cats = self.need_count, self.need_yuan, self.cats
        for cat in sorted(need_count):
            for i in order[cats[order] == cat]:
                if need_count[cat] <= 0 and need_yuan[cat] <= 1e-9:
                    break
                self.take(int(i))
            if need_count[cat] > 0 or need_yuan[cat] > 1e-9:
                raise PlanInfeasibleError(
                    f"category {cat!r}: its minimum cannot be met within the budget, caps and maxima "
                    f"(short by {max(need_count[cat], 0):.0f} purchase(s) / {max(need_yuan[cat], 0):.0f} yuan)"
                )

    def greedy(self, order: NDArray[np.int64]) -> None:
        """Take candidates in `order` while anything still fits the budget."""
        cheapest = float(self.cost.min())
        for i in order:
            if self.left < cheapest - 1e-9:
                break
            self.take(int(i))


def risk_order(df: pd.DataFrame) -> NDArray[np.int64]:
    """Candidates by expected failures per yuan, then by p_fail, then by listing id (a total order)."""
    p, cost = df["p_fail"].to_numpy(float), df["cost"].to_numpy(float)
    return np.lexsort((df["listing_id"].to_numpy(), -p, -(p / cost)))


def _topup_list(
    ledger: _Ledger,
    order: NDArray[np.int64],
    config: PlanConfig,
    *,
    start: NDArray[np.int64],
    pi_int: NDArray[np.int64],
) -> NDArray[np.float64]:
    """The next candidates in the same order under the same caps, as if all were bought, each with the largest
    random-arm cost C(u) at which it is still bought (prefix rule: C(u) <= its limit); NaN for the others."""
    cost, chosen = ledger.cost, ledger.chosen
    targets_cost = float(cost[chosen].sum())
    _, c_min = arc_extremes(start, pi_int, np.where(chosen, 0.0, cost)) if pi_int.any() else (0.0, 0.0)
    slack = config.budget - targets_cost - c_min  # the most that any draw leaves unspent
    limit = np.full(len(cost), np.nan)
    cum = 0.0
    ledger.left = np.inf  # from here the budget test is each member's limit, per draw
    for i in order:
        i = int(i)
        if chosen[i] or cum + cost[i] > slack + 1e-9:  # bought on no draw: skip it, as the greedy does
            continue
        if ledger.take(i):
            cum += cost[i]
            limit[i] = config.budget - targets_cost - cum
    return limit


def explore_order(df: pd.DataFrame) -> NDArray[np.int64]:
    """Candidates with any uncertainty, most uncertain per yuan first (then most uncertain, then by id)."""
    u, cost = df["uncertainty"].to_numpy(float), df["cost"].to_numpy(float)
    order = np.lexsort((df["listing_id"].to_numpy(), -u, -(u / cost)))
    return order[u[order] > 0]


@dataclass(frozen=True)
class Targets:
    """The planner's certainty units (pi = 1), those of them chosen for exploration, and the top-up limits."""

    targeted: NDArray[np.bool_]
    explored: NDArray[np.bool_]
    topup_limit: NDArray[np.float64]


def choose_targets(
    df: pd.DataFrame, config: PlanConfig, *, start: NDArray[np.int64], pi_int: NDArray[np.int64], budget: float
) -> Targets:
    """Greedy by expected failures per yuan under budget, caps and quotas left by the random arm's worst case;
    then, with the `explore` share of that budget, greedy by uncertainty per yuan (the `explore` arm).

    Category minimums come first, from the whole budget; the risk greedy stops short of the exploration
    share, and exploration spends all that is left, under the same caps and quotas. Returns the targets
    (both kinds), the explored ones, and for the top-up list each member's limit: it is bought on a draw whose
    random arm costs at most that (NaN for everyone else)."""
    ledger = _Ledger(df, config, start=start, pi_int=pi_int, budget=budget)
    order = risk_order(df)
    ledger.fill_minimums(order)
    reserve = config.explore * budget
    ledger.left -= reserve
    ledger.greedy(order)
    ledger.left += reserve
    by_risk = ledger.chosen.copy()
    if config.explore > 0:
        ledger.greedy(explore_order(df))
    targeted = ledger.chosen.copy()
    limit = _topup_list(ledger, order, config, start=start, pi_int=pi_int)
    return Targets(targeted=targeted, explored=targeted & ~by_risk, topup_limit=limit)


def topup_mask(frame: pd.DataFrame, drawn: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The top-up purchases when the random arm draws `drawn`: the members of the top-up list whose limit
    the drawn arm's cost (its listings not already targeted) does not exceed."""
    cost, targeted = frame["cost"].to_numpy(float), frame["targeted"].to_numpy(bool)
    spent = float(cost[drawn & ~targeted].sum())
    limit = frame["topup_limit"].to_numpy(float)
    return ~np.isnan(limit) & (spent <= limit + 1e-6)


def inclusion(df: pd.DataFrame) -> NDArray[np.float64]:
    """Each candidate's exact inclusion probability: 1 if targeted; for a top-up list member, the measure of
    the random starts u that draw it or leave its limit unspent; otherwise `pi_random`."""
    pi = np.where(df["targeted"].to_numpy(bool), 1.0, df["pi_random"].to_numpy(float))
    limit = df["topup_limit"].to_numpy(float)
    members = np.flatnonzero(~np.isnan(limit))
    if not len(members):
        return pi
    start, length = df["arc_start"].to_numpy(np.int64), df["arc_len"].to_numpy(np.int64)
    new_cost = np.where(df["targeted"].to_numpy(bool), 0.0, df["cost"].to_numpy(float))
    lo, hi, spent = steps(start, length, new_cost)
    width = hi - lo
    for i in members:
        bought = (spent <= limit[i] + 1e-6) | (((lo - start[i]) % SCALE) < length[i])
        pi[i] = int(width[bought].sum()) / SCALE
    return pi
