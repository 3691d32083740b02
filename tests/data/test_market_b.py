"""Market B, the evaluation world: schema, its own vocabulary, its mechanisms, and exact inclusion probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.market import load_market
from training import sim_vocab as V
from training.corpus import load_shopping_reviews
from training.simulator import Simulation, write_simulation
from training.worlds.market_b import (
    CLAIMS_B,
    CUES_B,
    ROUNDS,
    eligible,
    inclusion_probabilities,
    simulate_b,
)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate_b(400, 6000, seed=3)


def test_same_schema_as_the_first_world(sim: Simulation, tmp_path: Path) -> None:
    write_simulation(sim, tmp_path)
    m = load_market(tmp_path)  # validates every row against features/records.py
    assert len(m.listings) == 6000 and len(m.merchants) == 400
    assert len(m.reviews) > 0 and len(m.lab_results) > 0
    truth = pd.read_parquet(tmp_path / "ground_truth_listings.parquet")
    assert {"listing_id", "p_fail", "fails", "failure_types", "p_counterfeit", "p_false_advertising"} <= set(truth)


def test_deterministic_per_seed() -> None:
    a, b = simulate_b(50, 500, seed=1), simulate_b(50, 500, seed=1)
    pd.testing.assert_frame_equal(a.market.listings, b.market.listings)
    pd.testing.assert_frame_equal(a.truth_listings, b.truth_listings)


def test_reviews_are_real_train_split_texts(sim: Simulation) -> None:
    train = set(load_shopping_reviews("train")["review"])
    assert set(sim.market.reviews["text"]) <= train


def test_phrases_are_its_own() -> None:
    assert not set(CUES_B) & set(V.COUNTERFEIT_CUES)
    assert not set(CLAIMS_B) & set(V.ABSOLUTE_CLAIMS)
    assert not set(CUES_B) & set(V.INNOCENT_CUES)


def test_counterfeits_priced_close_to_genuine_and_cheap_unbranded_goods_are_honest(sim: Simulation) -> None:
    lst = sim.market.listings.merge(sim.truth_listings, on="listing_id")
    branded = lst[lst["brand"].ne("") & lst["brand"].ne("无")]
    # price relative to the median of the same brand in the category
    med = branded.groupby(["category", "brand"])["price"].transform("median")
    ratio = np.log(branded["price"] / med)
    fakes = ratio[branded["fake_stock"]]
    assert len(fakes) > 50
    # most fakes sit within the brand's usual price range (its tiers span 3-6x)
    assert (fakes > np.log(0.5)).mean() > 0.6
    unbranded = lst[lst["brand"].isin(["", "无"])]
    assert unbranded["p_counterfeit"].max() == 0.0
    assert unbranded["price"].median() < branded["price"].median()


def test_inclusion_probabilities_are_the_designs(sim: Simulation) -> None:
    m = sim.market
    plan, when = ROUNDS[0]
    elig = eligible(m.listings, when)
    pi = inclusion_probabilities(m.listings, m.reviews, elig, when)
    lab = m.lab_results[m.lab_results["plan_id"] == plan]
    pos = pd.Series(np.arange(len(m.listings)), index=m.listings["listing_id"]).reindex(lab["listing_id"]).to_numpy()
    np.testing.assert_allclose(lab["inclusion_prob"].to_numpy(), pi[pos], atol=1e-8)
    assert (pi[~elig] == 0).all() and (pi <= 0.9).all()
    # Horvitz-Thompson: the bought listings, weighted by 1/pi, estimate the number of eligible listings
    ht = float((1.0 / lab["inclusion_prob"]).sum())
    assert abs(ht / elig.sum() - 1.0) < 0.2
