"""Simulated markets the cue-mining and lexicon tests share: every listing lab-tested (a census), and a cue
phrase of our own, in no lexicon and in no simulator vocabulary, planted in the titles of counterfeit failures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.market import Market
from training.simulator import simulate

#: 海关罚没渠道 ("customs-confiscated channel"): a cue phrase no lexicon and no simulator phrase list has
NEW_CUE = "海关罚没渠道"


def census(merchants: int, listings: int, *, seed: int) -> Market:
    """A simulated market in which every listing was lab-tested (verdicts are the simulator's outcomes)."""
    sim = simulate(merchants, listings, seed=seed)
    t = sim.truth_listings
    lab = pd.DataFrame(
        {
            "listing_id": t["listing_id"],
            "sampled_date": pd.Timestamp("2025-01-01"),
            "plan_id": "census",
            "verdict": t["fails"].map({True: "fail", False: "pass"}),
            "failure_types": t["failure_types"],
            "cost": 0.0,
            "inclusion_prob": 1.0,
        }
    )
    m = sim.market
    return Market(merchants=m.merchants, listings=m.listings, reviews=m.reviews, lab_results=lab)


def with_cue(
    market: Market, *, phrase: str = NEW_CUE, share: float = 0.6, noise: float = 0.01, seed: int = 0
) -> Market:
    """`market` with `phrase` appended to the titles of `share` of its counterfeit failures and of `noise` of the
    rest; every other planting is spaced out (海 关 罚 没 渠 道), an evasion the normalisation folds."""
    rng = np.random.default_rng(seed)
    lab = market.lab_results
    fake = set(lab.loc[lab["failure_types"].astype(str).str.contains("counterfeit"), "listing_id"].astype(str))
    listings = market.listings.copy()
    ids = listings["listing_id"].astype(str)
    draw = rng.random(len(listings))
    plant = np.where(ids.isin(fake).to_numpy(), draw < share, draw < noise)
    spaced = " ".join(phrase)
    titles = listings["title"].astype(str).tolist()
    for n, i in enumerate(np.flatnonzero(plant)):
        titles[i] = f"{titles[i]} {spaced if n % 2 else phrase}"
    listings["title"] = titles
    return Market(merchants=market.merchants, listings=listings, reviews=market.reviews, lab_results=lab)
