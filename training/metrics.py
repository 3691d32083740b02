"""Ranking and probability metrics for budgeted sampling, and the plots that show them.

A sampling budget is a share of the listings a regulator can buy and test. The hit rate at a budget is
the failure rate among the top-ranked listings of that share; random sampling's hit rate is the base
rate (its expectation, not one random draw) and the oracle ranks by the true failure probability.
`captured_lift = (model − random) / (oracle − random)`: the share of the achievable improvement over
random sampling that a model captures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, precision_recall_curve

BUDGETS = (0.01, 0.05, 0.1)
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Source Han Sans SC", "SimHei"]


def budget_key(share: float) -> str:
    """JSON key of a budget share: 0.01 -> "0.01", 0.1 -> "0.1"."""
    return f"{share:g}"


def top_k(share: float, n: int) -> int:
    """Listings bought at a budget share of `n` (at least one)."""
    return max(1, math.ceil(share * n))


def rank_order(scores: ArrayLike, *, seed: int = 0) -> NDArray[np.int64]:
    """Indices from highest to lowest score; ties broken by a seeded shuffle, not by input order."""
    s = np.asarray(scores, dtype=np.float64)
    perm = np.random.default_rng(seed).permutation(len(s))
    order = np.argsort(-s[perm], kind="stable")
    return perm[order]


def hit_rate(scores: ArrayLike, y: ArrayLike, share: float, *, seed: int = 0) -> float:
    """Failure rate among the top `share` of listings by score."""
    y_arr = np.asarray(y, dtype=np.float64)
    k = top_k(share, len(y_arr))
    return float(y_arr[rank_order(scores, seed=seed)[:k]].mean())


def captured_lift(model: float, random: float, oracle: float) -> float | None:
    """(model − random) / (oracle − random); None when the oracle is no better than random."""
    gap = oracle - random
    return None if gap <= 1e-12 else (model - random) / gap


def expected_captured_lift(score: ArrayLike, p_fail: ArrayLike, share: float) -> float:
    """`captured_lift` with hit rates measured by the *true* failure probabilities (a simulator's ground
    truth), at the top `share` by score (ties kept in input order); NaN when the oracle is no better."""
    s, p = np.asarray(score, dtype=np.float64), np.asarray(p_fail, dtype=np.float64)
    k = max(1, int(round(share * len(p))))
    hit = float(np.mean(p[np.argsort(-s, kind="stable")[:k]]))
    lift = captured_lift(hit, float(np.mean(p)), float(np.mean(np.sort(p)[::-1][:k])))
    return float("nan") if lift is None else lift


def pr_auc(scores: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float | None:
    """Average precision (area under the precision-recall curve); None with a single class."""
    y_arr = np.asarray(y)
    if len(np.unique(y_arr)) < 2:
        return None
    return float(average_precision_score(y_arr, np.asarray(scores), sample_weight=sample_weight))


def brier(p: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    p_arr, y_arr = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return float(np.average((p_arr - y_arr) ** 2, weights=w))


def calibration_table(p: ArrayLike, y: ArrayLike, *, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted vs observed rate in quantile bins of the prediction."""
    p_arr, y_arr = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    order = np.argsort(p_arr, kind="stable")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            rows.append(
                {
                    "predicted": float(p_arr[chunk].mean()),
                    "observed": float(y_arr[chunk].mean()),
                    "n": float(len(chunk)),
                }
            )
    return rows


def lift_curve(scores: ArrayLike, y: ArrayLike, shares: Sequence[float], *, seed: int = 0) -> list[float]:
    """Hit rate at each budget share (one pass over the ranking)."""
    y_arr = np.asarray(y, dtype=np.float64)
    cum = np.cumsum(y_arr[rank_order(scores, seed=seed)])
    return [float(cum[top_k(s, len(y_arr)) - 1] / top_k(s, len(y_arr))) for s in shares]


def pyplot() -> Any:
    """pyplot on the Agg backend, with a CJK-capable font first when one is installed (labels hold 中文)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if plt.rcParams["font.sans-serif"][: len(CJK_FONTS)] != CJK_FONTS:
        plt.rcParams["font.sans-serif"] = [*CJK_FONTS, *plt.rcParams["font.sans-serif"]]
    plt.rcParams["axes.unicode_minus"] = False
    # without any CJK font the labels show boxes; that is not worth a warning per glyph
    warnings.filterwarnings("ignore", message="Glyph .* missing from font")
    return plt


def plot_pr_curves(curves: Mapping[str, tuple[NDArray[np.float64], NDArray[np.int64]]], path: Path) -> Path:
    """Precision-recall curves of several scorers on the same labels."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (scores, y) in curves.items():
        if len(np.unique(y)) < 2:
            continue
        prec, rec, _ = precision_recall_curve(y, scores)
        ax.plot(rec, prec, label=f"{name} (AP {average_precision_score(y, scores):.3f})", lw=1.4)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Lab failure: precision-recall on held-out listings")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lift(curves: Mapping[str, Sequence[float]], shares: Sequence[float], path: Path) -> Path:
    """Hit rate against budget share for each scorer."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, rates in curves.items():
        ax.plot([100 * s for s in shares], rates, label=name, lw=1.4)
    for b in BUDGETS:
        ax.axvline(100 * b, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("budget (% of listings bought)")
    ax.set_ylabel("hit rate (share failing the lab test)")
    ax.set_title("Lift: hit rate by sampling budget")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_calibration(tables: Mapping[str, list[dict[str, float]]], path: Path) -> Path:
    """Reliability diagram: predicted probability against observed failure rate."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, rows in tables.items():
        xs, ys = [r["predicted"] for r in rows], [r["observed"] for r in rows]
        top = max(top, *xs, *ys)
        ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=name)
    ax.plot([0, top], [0, top], color="grey", ls="--", lw=0.8, label="perfect")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed failure rate")
    ax.set_title("Calibration on held-out listings")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
