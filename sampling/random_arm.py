"""The random arm (双随机): one systematic πps sample over every candidate, as large as its budget allows.

Each reachable candidate gets ``pi_R = min(lambda, 1 / n_g)`` (``n_g``: its seller group's reachable
listings); ``lambda`` is the largest value found by bisection whose exact worst case over every random start
costs at most ``epsilon * B`` and breaks no category maximum (`sampling.planner` explains the design).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sampling.arcs import SCALE, arc_extremes, arcs
from sampling.plan_config import PlanConfig, PlanInfeasibleError

_BISECTION_STEPS = 48


@dataclass(frozen=True)
class RandomArm:
    """The designed random arm: its lambda, its worst-case cost, and each candidate's arc (integer units)."""

    lam: float
    worst: float
    pi_int: NDArray[np.int64]
    start: NDArray[np.int64]


def _random_pi(lam: float, reach: NDArray[np.bool_], group_cap: NDArray[np.float64]) -> NDArray[np.int64]:
    pi = np.where(reach, np.minimum(lam, group_cap), 0.0)
    return np.floor(pi * SCALE).astype(np.int64)


def _random_ok(
    pi_int: NDArray[np.int64], cost: NDArray[np.float64], cats: pd.Series, config: PlanConfig, budget_r: float
) -> tuple[bool, float]:
    start = arcs(pi_int)
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


def _reachable(df: pd.DataFrame, config: PlanConfig, budget_r: float) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Who a random draw can buy (affordable within the arm's budget and the category's caps), and each
    candidate's group cap 1 / n_g (so the arm buys at most one listing per seller group)."""
    n = len(df)
    cost = df["cost"].to_numpy(float)
    cats = df["category"]
    reach = cost <= budget_r
    for cat, q in config.quotas.items():
        m = (cats == cat).to_numpy()
        if q.max_purchases == 0:
            reach &= ~m
        if q.max_yuan is not None:
            reach &= ~(m & (cost > q.max_yuan))
    n_reach_group = pd.Series(reach).groupby(df["group_id"].to_numpy()).transform("sum").to_numpy(float)
    group_cap = np.divide(1.0, n_reach_group, out=np.zeros(n), where=n_reach_group > 0)
    return reach, group_cap


def design_random_arm(df: pd.DataFrame, config: PlanConfig) -> RandomArm:
    """The largest random arm whose worst case fits ``epsilon * B`` and the category maxima (frame in order)."""
    n = len(df)
    cost = df["cost"].to_numpy(float)
    cats = df["category"]
    budget_r = config.budget * config.epsilon
    reach, group_cap = _reachable(df, config, budget_r)
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
    return RandomArm(lam=lam, worst=worst, pi_int=pi_int, start=arcs(pi_int))
