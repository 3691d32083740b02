"""Drift you can see: a model's training profile and the population stability index against today's market.

At training (`training.fit.fit_bundle`) the scores `p_<risk>` of every training listing and a handful of
key features are summarised as quantile bins (`training_profile`), overall and per category, and stored in
the bundle's metadata, so the profile travels with the registered model. The service compares the market
it holds with it (`compare`): a PSI per score and feature, the categories that moved most, and a warning
when a PSI reaches the threshold. Everything here is pure: frames in, plain values out.

PSI = Σ (a − e) · ln(a / e) over the bins, e the training share and a today's share of a bin; by the usual
rule of thumb < 0.1 is stable, 0.1–0.25 a moderate shift and > 0.25 a large one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from features.market import Market

#: the metadata key of a bundle's training profile
PROFILE_KEY = "training_profile"
PROFILE_VERSION = 1
#: key features: raw facts about a listing that the scores lean on and that a market can drift in
KEY_FEATURES: dict[str, str] = {
    "price": "listing price (yuan)",
    "sales": "listing sales",
    "review_count": "reviews of the listing",
    "merchant_age_days": "days since the shop opened, at the market's latest listing date",
    "claim_hits": "claim and counterfeit-cue lexicon hits in title and description (text risk)",
}
#: floor on a bin's share, so an empty bin gives a large but finite PSI
_EPS = 1e-4


def _claim_hits(listings: pd.DataFrame) -> NDArray[np.float64]:
    """Hits of the claim and counterfeit-cue lexicons in normalised title + description."""
    from features.lexicon import Lexicon
    from features.normalize import normalize_many

    lex = Lexicon.load()
    text = listings["title"].fillna("").astype(str) + " " + listings["description"].fillna("").astype(str)
    counts = lex.counts_many(n.text for n in normalize_many(text.tolist()))
    kinds = [i for i, k in enumerate(lex.kinds) if k in ("absolute_claim", "efficacy_claim", "counterfeit_cue")]
    return counts[:, kinds].sum(axis=1) if kinds else np.zeros(len(listings))


def drift_frame(market: Market, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per listing: its category, every `p_<risk>` score and the key features.

    Args:
        market: the market the scores are of.
        scores: `RiskScorer.score_frame(market)`.
    """
    lst = market.listings.reset_index(drop=True)
    ids = lst["listing_id"].astype(str)
    out = pd.DataFrame({"listing_id": ids, "category": lst["category"].astype(str)})
    out["price"] = pd.to_numeric(lst["price"], errors="coerce").to_numpy(float)
    out["sales"] = pd.to_numeric(lst["sales"], errors="coerce").to_numpy(float)
    per_listing = market.reviews["listing_id"].astype(str).value_counts() if len(market.reviews) else pd.Series()
    out["review_count"] = ids.map(per_listing).fillna(0).to_numpy(float)
    today = pd.to_datetime(lst["listed_date"]).max()
    merchants = market.merchants.drop_duplicates("merchant_id")
    opened = pd.Series(pd.to_datetime(merchants["opened_date"]).to_numpy(), index=merchants["merchant_id"].astype(str))
    out["merchant_age_days"] = (today - lst["merchant_id"].astype(str).map(opened)).dt.days.to_numpy(float)
    out["claim_hits"] = _claim_hits(lst)
    s = scores.drop_duplicates("listing_id").set_index(scores["listing_id"].drop_duplicates().astype(str))
    for c in sorted(c for c in scores.columns if c.startswith("p_")):
        out[c] = s[c].reindex(ids).to_numpy(float)
    return out


def _columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("p_")] + [c for c in KEY_FEATURES if c in frame.columns]


def _edges(values: NDArray[np.float64], bins: int) -> list[float]:
    """Inner quantile edges (distinct), so each bin holds about 1/bins of the training values."""
    v = values[np.isfinite(values)]
    if not len(v):
        return []
    return [float(x) for x in np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))]


def proportions(values: NDArray[np.float64], edges: list[float]) -> list[float]:
    """Shares of `values` in the bins the inner `edges` cut, plus a last bin for missing values."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return [0.0] * (len(edges) + 2)
    finite = np.isfinite(v)
    idx = np.searchsorted(np.asarray(edges, dtype=float), v[finite], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, float((~finite).sum()))
    return [float(x) for x in counts / len(v)]


def _binned(values: NDArray[np.float64], bins: int) -> dict[str, list[float]]:
    edges = _edges(values, bins)
    return {"edges": edges, "proportions": proportions(values, edges)}


def training_profile(
    frame: pd.DataFrame, *, bins: int = 10, category_bins: int = 5, min_category: int = 30
) -> dict[str, Any]:
    """Quantile bins of every score and key feature of `drift_frame`, overall and per category.

    Args:
        frame: `drift_frame` of the training market.
        bins: quantile bins per column over the whole market (fewer where values tie).
        category_bins: quantile bins per column within a category (its own edges: a category's prices sit
            in a few of the market's bins, where a handful of listings would swing the PSI).
        min_category: categories with fewer training listings get no profile of their own.
    """
    cols = _columns(frame)
    columns = {c: _binned(frame[c].to_numpy(float), bins) for c in cols}
    categories: dict[str, Any] = {}
    for cat, part in frame.groupby("category", sort=True):
        if len(part) >= min_category:
            categories[str(cat)] = {
                "n": len(part),
                "columns": {c: _binned(part[c].to_numpy(float), category_bins) for c in cols},
            }
    return {
        "version": PROFILE_VERSION,
        "bins": bins,
        "category_bins": category_bins,
        "n_listings": len(frame),
        "features": {c: KEY_FEATURES[c] for c in KEY_FEATURES if c in columns},
        "columns": columns,
        "categories": categories,
    }


def psi(expected: list[float] | NDArray[np.float64], actual: list[float] | NDArray[np.float64]) -> float:
    """Population stability index of two distributions over the same bins (0 when they are identical)."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape} vs {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


class CategoryDrift(BaseModel):
    """The column of one category that moved most since training."""

    category: str
    column: str = Field(description="the score or feature with the largest PSI in this category")
    psi: float
    n_training: int
    n_today: int


class DriftReport(BaseModel):
    """How today's market differs from the model's training market."""

    threshold: float = Field(description="PSI at which a score or feature counts as drifted")
    psi: dict[str, float] = Field(description="PSI per score (p_<risk>) and key feature, whole market")
    drifted: list[str] = Field(description="scores and features whose PSI reaches the threshold")
    worst_categories: list[CategoryDrift] = Field(description="categories that moved most, worst first")
    warning: bool
    message: str
    n_training: int
    n_today: int


def compare(
    profile: dict[str, Any],
    frame: pd.DataFrame,
    *,
    threshold: float = 0.2,
    min_category: int = 200,
    top_categories: int = 5,
) -> DriftReport:
    """PSI of every profiled column between the training profile and `frame` (`drift_frame` of today's market).

    Args:
        profile: `training_profile` as stored in the bundle.
        frame: today's `drift_frame`.
        threshold: the PSI that counts as drift and raises the warning.
        min_category: a category is compared only when it has this many listings both at training and today
            (a PSI over 10 bins of a few dozen listings is mostly noise).
        top_categories: categories listed, worst first.
    """
    values: dict[str, float] = {}
    for c, spec in profile.get("columns", {}).items():
        if c in frame.columns:
            values[c] = round(psi(spec["proportions"], proportions(frame[c].to_numpy(float), spec["edges"])), 4)
    cats: list[CategoryDrift] = []
    groups = dict(tuple(frame.groupby("category", sort=True))) if len(frame) else {}
    for cat, spec in profile.get("categories", {}).items():
        part = groups.get(cat)
        if part is None or len(part) < min_category or int(spec["n"]) < min_category:
            continue
        per = {
            c: psi(b["proportions"], proportions(part[c].to_numpy(float), b["edges"]))
            for c, b in spec["columns"].items()
            if c in part.columns
        }
        if per:
            col = max(per, key=lambda k: per[k])
            cats.append(
                CategoryDrift(
                    category=cat, column=col, psi=round(per[col], 4), n_training=int(spec["n"]), n_today=len(part)
                )
            )
    cats.sort(key=lambda d: (-d.psi, d.category))
    drifted = sorted((c for c, v in values.items() if v >= threshold), key=lambda c: -values[c])
    bad_cats = [d for d in cats if d.psi >= threshold]
    warning = bool(drifted or bad_cats)
    if drifted:
        what = ", ".join(f"{c} {values[c]:.2f}" for c in drifted)
        message = f"the market has drifted from the model's training market: PSI {what} ≥ {threshold:g}"
    elif bad_cats:
        d = bad_cats[0]
        message = f"category {d.category} has drifted: PSI of {d.column} {d.psi:.2f} ≥ {threshold:g}"
    else:
        worst = max(values.values(), default=0.0)
        message = f"no drift: every PSI below {threshold:g} (largest {worst:.2f})"
    if warning:
        message += "; scores may be less reliable: retrain on the current market (`choujian round`)"
    return DriftReport(
        threshold=threshold,
        psi=values,
        drifted=drifted,
        worst_categories=cats[:top_categories],
        warning=warning,
        message=message,
        n_training=int(profile.get("n_listings", 0)),
        n_today=len(frame),
    )


def profile_of(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """The training profile a bundle's metadata carries, or None (models trained before profiles)."""
    p = (metadata or {}).get(PROFILE_KEY)
    return p if isinstance(p, dict) and p.get("columns") else None
