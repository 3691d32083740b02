"""Plan candidates: every listing of a market with its cost, its failure probability and its seller group.

`plan_candidates` is the one way a listing becomes a candidate, for the CLI, the API, the planner pages
and the round simulation alike: cost is the purchase price plus the category's lab fee, and shops registered
under one credit code are one seller for the per-merchant cap (`seller_groups`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from features.identity import link
from sampling.plan_checks import SmallRandomArmError, check_random_arm
from sampling.planner import Plan, PlanConfig, design_plan

logger = logging.getLogger(__name__)


class UnknownCategoryError(ValueError):
    """A quota names a category the market does not have."""

    def __init__(self, category: str, known: list[str]):
        self.category, self.known = category, known
        super().__init__(f"no category {category!r} in the market; known: {', '.join(known)}")


@dataclass(frozen=True)
class LabFees:
    """Lab fee per category (yuan) and the fee of a category the table lacks."""

    by_category: Mapping[str, float]
    default: float = 800.0

    def of(self, categories: pd.Series) -> np.ndarray:
        """The fee of each category, the default for those the table lacks."""
        return categories.map(lambda c: float(self.by_category.get(c, self.default))).to_numpy(float)


@dataclass(frozen=True)
class Candidates:
    """The candidate frame (`sampling.planner.Candidate` columns) and what it had to assume."""

    frame: pd.DataFrame
    default_fee_categories: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return sorted(set(self.frame["category"]))

    def check_quotas(self, quota_categories: list[str]) -> None:
        """Refuse a quota on a category the market has no listing in (it could never bind)."""
        known = self.categories
        for cat in quota_categories:
            if cat not in known:
                raise UnknownCategoryError(cat, known)


def seller_groups(merchants: pd.DataFrame) -> dict[str, str]:
    """merchant_id → seller group for the per-merchant cap: shops registered under one unified social credit
    code (统一社会信用代码) are one business, so one seller; a shop without a code is its own.

    The cap binds on the legal entity, as the service's API always did. Linking further, by phone or shop
    name (`features.identity`, which the risk features use), would spread purchases over more sellers but
    find fewer failures: in `choujian simulate-rounds --plans 200` the targeted hit rate was 0.63 per shop,
    0.59-0.60 per credit code and 0.52 per phone-or-name-linked seller.
    """
    codes = merchants["credit_code"].tolist() if "credit_code" in merchants else [None] * len(merchants)
    ids = link([(code, None, None) for code in codes])
    return {str(m): f"seller-{k}" for m, k in zip(merchants["merchant_id"].astype(str), ids, strict=True)}


def plan_candidates(
    listings: pd.DataFrame,
    merchants: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    lab_fees: LabFees,
    lab_results: pd.DataFrame,
) -> Candidates:
    """Join listings (price, category, merchant) with scores (`listing_id`, `p_lab_fail` or `p_fail`,
    optional `reasons`) into candidates; cost = price + the category's lab fee, and `n_labels` = the lab
    results (`listing_id` rows) of the listing's seller group so far, which the exploration arm reads."""
    col = next((c for c in ("p_lab_fail", "p_fail") if c in scores.columns), None)
    if col is None:
        raise ValueError("scores need a p_lab_fail (or p_fail) column")
    s = scores.drop_duplicates("listing_id").set_index(scores["listing_id"].astype(str).to_numpy())
    ids = listings["listing_id"].astype(str)
    missing = ~ids.isin(s.index)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} listing(s) have no score, e.g. {ids[missing].iat[0]!r}")
    cats = listings["category"].astype(str)
    groups = seller_groups(merchants)
    merchant_ids = listings["merchant_id"].astype(str)
    group_ids = merchant_ids.map(groups)
    frame = pd.DataFrame(
        {
            "listing_id": ids.to_numpy(),
            "merchant_id": merchant_ids.to_numpy(),
            "identity_id": group_ids.to_numpy(),
            "category": cats.to_numpy(),
            "cost": np.round(listings["price"].to_numpy(float) + lab_fees.of(cats), 2),
            "p_fail": s[col].reindex(ids.to_numpy()).to_numpy(float),
            "n_labels": _group_labels(ids, group_ids, lab_results),
            "reasons": (
                list(s["reasons"].reindex(ids.to_numpy())) if "reasons" in s.columns else [[] for _ in range(len(ids))]
            ),
        }
    )
    unknown = sorted(set(cats) - set(lab_fees.by_category))
    if unknown:
        logger.warning("no lab fee for %s: costed at the default %.0f yuan", ", ".join(unknown), lab_fees.default)
    return Candidates(frame=frame, default_fee_categories=unknown)


def _group_labels(ids: pd.Series, group_ids: pd.Series, lab_results: pd.DataFrame) -> np.ndarray:
    """Per listing, how many lab results its seller group has (results of listings not in the market skipped)."""
    group_of = pd.Series(group_ids.to_numpy(), index=ids.to_numpy())
    tested = lab_results["listing_id"].astype(str) if len(lab_results) else pd.Series([], dtype=str)
    per_group = group_of.reindex(tested.to_numpy()).dropna().value_counts()
    return group_ids.map(per_group).fillna(0).to_numpy(int)


def draw_plan(candidates: Candidates, config: PlanConfig, *, require_estimate: bool = False) -> Plan:
    """Design and draw the plan over these candidates: what the CLI, the API and the planner pages all call.

    Before the draw, the design's random arm is checked (`sampling.plan_checks`): too small to estimate
    the pass rate from, it is a warning in the summary, or `SmallRandomArmError` with `require_estimate`.
    Raises `UnknownCategoryError` for a quota on a category the market lacks and `PlanInfeasibleError`
    when the constraints cannot all hold; the summary names the categories costed at the default fee.
    """
    candidates.check_quotas(list(config.quotas))
    design = design_plan(candidates.frame, config)
    arm = check_random_arm(design)
    if arm.too_small and require_estimate:
        raise SmallRandomArmError(arm)
    plan = design.draw(config.seed, plan_id=config.plan_id)
    summary = plan.summary.model_copy(
        update={
            "default_fee_categories": candidates.default_fee_categories,
            "expected_random_draws": arm.expected_draws,
            "warnings": [arm.message()] if arm.too_small else [],
        }
    )
    return replace(plan, summary=summary)
