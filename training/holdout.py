"""Held-out metrics: what the training run, evaluation and promotion measure on the listings no model saw.

`observed_*` metrics use only the held-out lab results, weighted by `1/π` (what a regulator can measure);
`truth_*` metrics use a simulator's ground truth of every held-out listing, when the market has one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.market import Market
from models.contract import LISTING_RISKS
from training import metrics as M
from training.config import SplitConfig
from training.labels import holdout_mask, listing_labels

GROUND_TRUTH = "ground_truth_listings.parquet"


def holdout_scoring_market(market: Market, split: SplitConfig) -> tuple[Market, list[str]]:
    """The market a held-out evaluation scores (held-out lab results hidden) and the held-out ids."""
    ids = market.listings["listing_id"].astype(str)
    held = sorted(ids[holdout_mask(ids, split)])
    return market.without_lab_results(held), held


def load_ground_truth(data_dir: str | Path) -> pd.DataFrame | None:
    """The simulator's per-listing truth, if this market has one (evaluation only)."""
    p = Path(data_dir) / GROUND_TRUTH
    return pd.read_parquet(p) if p.exists() else None


def observed_holdout_metrics(
    scores: pd.DataFrame, market: Market, holdout_ids: list[str], *, ipw_cap: float
) -> dict[str, float]:
    """Metrics on held-out listings that have lab results, weighted by 1/π (what a regulator can measure)."""
    labels = listing_labels(
        market.lab_results[market.lab_results["listing_id"].astype(str).isin(set(holdout_ids))], ipw_cap=ipw_cap
    )
    s = scores.set_index(scores["listing_id"].astype(str)).reindex(labels.index)
    out: dict[str, float] = {"holdout_lab_n": float(len(labels))}
    for risk in LISTING_RISKS:
        if len(labels) == 0:
            continue
        y, p, w = labels[risk].to_numpy(), s[f"p_{risk}"].to_numpy(), labels["ipw"].to_numpy()
        ap = M.pr_auc(p, y, sample_weight=w)
        if ap is not None:
            out[f"holdout_{risk}_pr_auc"] = ap
        out[f"holdout_{risk}_brier"] = M.brier(p, y, sample_weight=w)
    return out


def truth_holdout_metrics(scores: pd.DataFrame, truth: pd.DataFrame, holdout_ids: list[str]) -> dict[str, float]:
    """Metrics against the simulator's realised failures of every held-out listing (evaluation only)."""
    t = truth.set_index(truth["listing_id"].astype(str)).reindex(holdout_ids)
    s = scores.set_index(scores["listing_id"].astype(str)).reindex(holdout_ids)
    y, p, oracle = t["fails"].to_numpy(dtype=float), s["p_lab_fail"].to_numpy(), t["p_fail"].to_numpy()
    out: dict[str, float] = {}
    rnd = float(y.mean())
    for share in M.BUDGETS:
        key = M.budget_key(share)
        model, orc = M.hit_rate(p, y, share), M.hit_rate(oracle, y, share)
        out[f"truth_hit_rate_{key}"] = model
        lift = M.captured_lift(model, rnd, orc)
        if lift is not None:
            out[f"truth_captured_lift_{key}"] = lift
    ap = M.pr_auc(p, y)
    if ap is not None:
        out["truth_pr_auc"] = ap
    out["truth_brier"] = M.brier(p, y)
    return out


def holdout_metrics(
    scores: pd.DataFrame, market: Market, holdout_ids: list[str], *, ipw_cap: float, truth: pd.DataFrame | None
) -> dict[str, float]:
    """The observed metrics, and the truth metrics too when the market has a ground truth."""
    out = observed_holdout_metrics(scores, market, holdout_ids, ipw_cap=ipw_cap)
    if truth is not None:
        out.update(truth_holdout_metrics(scores, truth, holdout_ids))
    return out
