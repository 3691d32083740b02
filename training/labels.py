"""Splits and labels: stable hash splits of listings and merchants, and the labels a regulator has.

- listing risks: the recorded lab results, one label row per tested listing (fail if any test failed; a
  failure type if any failure named it), with its probability of having been tested and the capped `1/π`;
- merchant complaint-proneness: whether the merchant's reviews after a cut-off date show a complaint rate of at
  least `complaint_rate`, with the market as it stood at the cut-off for the features.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.market import Market, failure_type_flags
from training.config import MerchantLabelConfig, SplitConfig

logger = logging.getLogger(__name__)


def _hash_unit(ids: pd.Series, salt: str) -> NDArray[np.float64]:
    """A stable number in [0, 1) per id."""
    return np.array(
        [int(hashlib.md5(f"{salt}:{i}".encode()).hexdigest()[:12], 16) / 16**12 for i in ids.astype(str)],
        dtype=np.float64,
    )


def holdout_mask(listing_ids: pd.Series, split: SplitConfig) -> NDArray[np.bool_]:
    """True for held-out listings."""
    return _hash_unit(listing_ids, split.salt) < split.holdout_share


def part_of(ids: pd.Series, split: SplitConfig, *, kind: str) -> NDArray[np.str_]:
    """'fit', 'valid' or 'calib' for labelled training rows, by a second stable hash."""
    u = _hash_unit(ids, f"{split.salt}:{kind}:parts")
    out = np.full(len(ids), "fit", dtype=object)
    out[u < split.valid_share] = "valid"
    out[(u >= split.valid_share) & (u < split.valid_share + split.calib_share)] = "calib"
    return out.astype(str)


def listing_labels(lab_results: pd.DataFrame, *, ipw_cap: float) -> pd.DataFrame:
    """One row per tested listing: 0/1 `lab_fail`, `counterfeit`, `false_advertising`, `pi`, `ipw`."""
    if lab_results.empty:
        return pd.DataFrame(columns=["lab_fail", "counterfeit", "false_advertising", "pi", "ipw"])
    lab = lab_results.copy()
    lab["lab_fail"] = (lab["verdict"].astype(str) == "fail").astype(float)
    flags = failure_type_flags(lab["failure_types"], ("counterfeit", "false_advertising"))
    lab[["counterfeit", "false_advertising"]] = flags
    pi = pd.to_numeric(lab["inclusion_prob"], errors="coerce")
    # a result without a recorded probability: assume it was as likely to be picked as a typical one
    lab["pi"] = pi.fillna(pi.median() if pi.notna().any() else 1.0).clip(1e-6, 1.0)
    lab["log_not"] = np.log1p(-lab["pi"].clip(upper=1 - 1e-9))
    g = lab.groupby(lab["listing_id"].astype(str))
    out = g[["lab_fail", "counterfeit", "false_advertising"]].max()
    # probability of having been tested at least once over all the plans that could pick it
    out["pi"] = 1.0 - np.exp(g["log_not"].sum())
    out["ipw"] = (1.0 / out["pi"].clip(lower=1e-6)).clip(upper=ipw_cap)
    return out


def merchant_training_data(market: Market, cfg: MerchantLabelConfig) -> tuple[Market, pd.Series]:
    """The market as it stood at the cut-off (for features) and each merchant's later-complaint label."""
    rev = market.reviews
    if rev.empty:
        return market, pd.Series(dtype=float)
    dates = pd.to_datetime(rev["review_date"])
    cutoff = pd.Timestamp(np.quantile(dates.to_numpy(dtype="datetime64[ns]").astype("int64"), cfg.cutoff_quantile))
    before = rev[dates <= cutoff]
    after = rev[dates > cutoff]
    lab = market.lab_results
    lab_before = lab[pd.to_datetime(lab["sampled_date"]) <= cutoff] if not lab.empty else lab
    listings = market.listings
    past = Market(
        merchants=market.merchants,
        listings=listings,
        reviews=before.reset_index(drop=True),
        lab_results=lab_before.reset_index(drop=True),
    )
    later = after.merge(listings[["listing_id", "merchant_id"]], on="listing_id", how="left")
    later["complaint"] = (later["rating"].astype(int) <= cfg.complaint_rating_max).astype(float)
    g = later.groupby("merchant_id")["complaint"].agg(["mean", "size"])
    g = g[g["size"] >= cfg.min_reviews]
    labels = (g["mean"] >= cfg.complaint_rate).astype(float)
    logger.info(
        "merchant label: cut-off %s, %d labelled merchants, %.1f%% complaint-prone",
        cutoff.date(),
        len(labels),
        100 * float(labels.mean()) if len(labels) else 0.0,
    )
    return past, labels
