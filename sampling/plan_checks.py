"""Checks on a plan's design before its random arm is drawn: will the draw support an estimate?

A plan's pass-rate estimate rests on its random draws outside the targets. A design whose random arm is
expected to draw only a handful (a 50,000-yuan plan with ε 0.2 on a market of expensive listings drew
one) buys its targets well but cannot estimate the market; the planner should hear that before drawing,
with the budget or ε that would fix it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sampling.estimation import MIN_RANDOM_DRAWS
from sampling.planner import PlanDesign

#: suggestions stay below this share of the budget for the random arm (ε must be below 1)
_MAX_EPSILON = 0.9


class SmallRandomArmError(ValueError):
    """The random arm would be too small to estimate from, and the caller asked to be told before drawing."""

    def __init__(self, check: RandomArmCheck):
        self.check = check
        super().__init__(check.message())


@dataclass(frozen=True)
class RandomArmCheck:
    """The random arm's expected draws outside the targets, and what would reach `minimum`."""

    expected_draws: float
    minimum: int
    budget: float
    epsilon: float
    budget_needed: float | None  # at the same ε; None when ε is 0 (no budget helps)
    epsilon_needed: float | None  # at the same budget; None when even ε 0.9 would not do

    @property
    def too_small(self) -> bool:
        return self.expected_draws < self.minimum

    def message(self) -> str:
        """One line for the API."""
        fixes = []
        if self.budget_needed is not None:
            fixes.append(f"a budget of about {self.budget_needed:,.0f} yuan at ε {self.epsilon:g}")
        if self.epsilon_needed is not None:
            fixes.append(f"ε about {self.epsilon_needed:.2f} at this budget")
        if not fixes:
            fix = "the random arm already reaches every listing as often as the design allows; only a larger market "
            fix += "(more merchants) or fewer targets gives it more draws"
        else:
            fix = " or ".join(fixes) + " would give it about that many (an approximation: see the new plan's design)"
        return (
            f"the random arm is expected to draw {self.expected_draws:.1f} listing(s) outside the targets; an "
            f"estimate of the pass rate needs at least {self.minimum}: {fix}"
        )

    def message_zh(self) -> str:
        """The same for the planner pages."""
        fixes = []
        if self.budget_needed is not None:
            fixes.append(f"预算提高到约 {self.budget_needed:,.0f} 元（ε 不变）")
        if self.epsilon_needed is not None:
            fixes.append(f"随机抽样比例 ε 提高到约 {self.epsilon_needed:.2f}（预算不变）")
        if fixes:
            fix = "可以" + "，或".join(fixes) + "（估算值，以新计划的设计为准）"
        else:
            fix = (
                "随机抽样已让每件可抽商品达到设计允许的最大概率，只有更大的市场（更多商家）或更少的定向目标才能增加抽样"
            )
        return (
            f"按当前参数，随机抽样预计只抽到 {self.expected_draws:.1f} 件定向以外的商品，"
            f"而估计市场合格率至少需要 {self.minimum} 件。{fix}。"
        )


def check_random_arm(design: PlanDesign, *, minimum: int = MIN_RANDOM_DRAWS) -> RandomArmCheck:
    """How many estimate-bearing draws the design's random arm expects, and the budget or ε that would do."""
    f = design.frame
    untargeted = ~f["targeted"].to_numpy(bool)
    expected = float(f["pi_random"].to_numpy(float)[untargeted].sum())
    budget, eps = design.config.budget, design.config.epsilon
    if design.random_lambda >= 1.0:
        # every affordable listing already has the most chance the design allows (one draw per merchant):
        # neither more budget nor more ε adds draws; only a larger market (or fewer targets) does
        return RandomArmCheck(expected, minimum, budget, eps, budget_needed=None, epsilon_needed=None)
    if expected > 0:
        # draws grow about in proportion to the random arm's budget (each listing's inclusion probability
        # is its share of that budget), so scale it by the shortfall
        factor = minimum / expected
        random_needed = budget * eps * factor
    else:
        # nothing affordable at all: the random arm needs about `minimum` typical listings' worth
        costs = f["cost"].to_numpy(float)
        random_needed = minimum * float(np.median(costs)) if len(costs) else math.inf
    budget_needed = _round_up(random_needed / eps, 1000) if eps > 0 and math.isfinite(random_needed) else None
    eps_needed = random_needed / budget if budget > 0 else math.inf
    return RandomArmCheck(
        expected_draws=expected,
        minimum=minimum,
        budget=budget,
        epsilon=eps,
        budget_needed=budget_needed,
        epsilon_needed=math.ceil(eps_needed * 20) / 20 if eps_needed <= _MAX_EPSILON else None,
    )


def _round_up(x: float, step: float) -> float:
    return math.ceil(x / step) * step
