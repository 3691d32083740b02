"""Candidates as the planner reads them: a checked frame, and the risk-blind order its random arm runs along.

`candidate_frame` normalises typed `Candidate` rows or a DataFrame with their columns; `order_frame` puts
them in the systematic order (stratum, then merchant groups and their listings in a salted-hash order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

_ORDER_SALT = b"choujian-planner-v1"


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
    n_labels: int = Field(default=0, ge=0, description="lab results its seller group already has")


#: pseudo lab results of a seller group the model knows nothing about, in `uncertainty`
PRIOR_LABELS = 1.0


def uncertainty(p_fail: NDArray[np.float64], n_labels: NDArray[np.float64]) -> NDArray[np.float64]:
    """How unsure the model is of a candidate: the variance p(1 - p) of its lab outcome, divided by one plus the
    lab results its seller group already has (a seller never tested is where the model knows least)."""
    return p_fail * (1.0 - p_fail) / (PRIOR_LABELS + n_labels)


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
    if "n_labels" not in df.columns:
        df["n_labels"] = 0
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
    df["n_labels"] = pd.to_numeric(df["n_labels"], errors="coerce")
    if not (np.isfinite(df["n_labels"]).all() and (df["n_labels"] >= 0).all()):
        raise ValueError("every n_labels must be a count of lab results (>= 0)")
    df["n_labels"] = df["n_labels"].astype(int)
    df["uncertainty"] = uncertainty(df["p_fail"].to_numpy(float), df["n_labels"].to_numpy(float))
    ident = df["identity_id"].astype(object)
    blank = ident.isna() | (ident.astype(str).str.strip() == "")
    df["group_id"] = np.where(blank, df["merchant_id"], ident.astype(str))
    cols = ["listing_id", "merchant_id", "group_id", "category", "cost", "p_fail", "n_labels", "uncertainty", "reasons"]
    return df[cols]


def _as_reasons(r: Any) -> list[str]:
    # the common cases on every plan (a scorer's lists of str, or arrays of them read from Parquet): no rebuild
    if type(r) is np.ndarray:
        r = r.tolist()
    if type(r) is list and all(type(x) is str for x in r):
        return r
    if r is None or (isinstance(r, float) and r != r):
        return []
    if isinstance(r, str):
        return [p.strip() for p in r.split("|") if p.strip()]
    return [str(x) for x in r]


def group_rank(ids: Iterable[str]) -> dict[str, str]:
    """A fixed, risk-blind order of ids: a salted hash of each."""
    return {g: hashlib.blake2b(g.encode() + _ORDER_SALT, digest_size=8).hexdigest() for g in ids}


def order_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The systematic order: primary-category stratum, then seller groups, then their listings, each group and
    listing in a salted-hash order that carries no information about risk or cost."""
    counts = df.groupby(["group_id", "category"]).size().reset_index(name="n")
    counts = counts.sort_values(["group_id", "n", "category"], ascending=[True, False, True])
    primary = counts.drop_duplicates("group_id").set_index("group_id")["category"]
    df = df.assign(stratum=df["group_id"].map(primary))
    df["_g"] = df["group_id"].map(group_rank(df["group_id"].unique()))
    # listings within a merchant in hashed order too: sorting them (by cost, say) would line up every
    # merchant's dearest listing at the same random start, which inflates the worst-case cost and makes
    # the draws of different merchants move together (a variance the estimators could not see)
    df["_l"] = df["listing_id"].map(group_rank(df["listing_id"]))
    df = df.sort_values(["stratum", "_g", "group_id", "_l", "listing_id"], kind="mergesort")
    return df.drop(columns=["_g", "_l"]).reset_index(drop=True)
