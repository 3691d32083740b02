"""Behavioural tests of the trained risk models (invariance, directional, minimum functionality).

One model is trained on a small simulated market; every test edits the text or fields of real
simulated listings and checks how the scores move, as a reviewer of the model would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features
from features.market import Market
from models.bundle import ScorerBundle
from training import metrics as M
from training.config import load_config
from training.fit import fit_bundle
from training.simulator import simulate

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train-tiny.yaml"


@pytest.fixture(scope="module")
def model() -> tuple[Market, ScorerBundle, pd.DataFrame, list[str]]:
    # its own fit, not the session's tiny bundle: behavioural checks need a model that learnt the market's
    # patterns (a larger market, slower learning, more trees) and the ground truth of its held-out listings
    sim = simulate(300, 8000, seed=21)
    config = load_config(CONFIG)
    config = config.model_copy(
        update={
            "split": config.split.model_copy(update={"holdout_share": 0.15}),
            "lightgbm": config.lightgbm.model_copy(
                update={"learning_rate": 0.05, "min_data_in_leaf": 5, "max_rounds": 1000, "early_stopping_rounds": 50}
            ),
        }
    )
    result = fit_bundle(sim.market, config)
    return sim.market, result.bundle, sim.truth_listings, result.holdout_ids


def _clean(market: Market, n: int = 400) -> Market:
    """Listings with no lexicon evidence at all (no claims, no counterfeit cues)."""
    ev = features.evidence(market)
    ids = [lid for lid, hits in ev.items() if not hits][:n]
    return market.subset(ids)


def _with_titles(market: Market, titles: pd.Series) -> Market:
    listings = market.listings.assign(title=titles.to_numpy())
    return Market(merchants=market.merchants, listings=listings, reviews=market.reviews, lab_results=market.lab_results)


# -- minimum functionality --------------------------------------------------------------------------
def test_ranks_held_out_listings_far_better_than_random(model: tuple) -> None:
    market, bundle, truth, holdout = model
    scores = bundle.score_frame(market.subset(holdout)).set_index("listing_id").reindex(holdout)
    t = truth.set_index("listing_id").reindex(holdout)
    y, oracle = t["fails"].to_numpy(dtype=float), t["p_fail"].to_numpy()
    model_hit = M.hit_rate(scores["p_lab_fail"].to_numpy(), y, 0.1)
    lift = M.captured_lift(model_hit, float(y.mean()), M.hit_rate(oracle, y, 0.1))
    assert lift is not None and lift > 0.4, f"captured lift at 10% is {lift}"


def test_scores_listing_without_description_reviews_or_brand(model: tuple) -> None:
    market, bundle, _, _ = model
    one = market.subset([str(market.listings["listing_id"].iloc[0])])
    bare = Market(
        merchants=one.merchants,
        listings=one.listings.assign(description="", brand=""),
        reviews=one.reviews.iloc[0:0],
        lab_results=one.lab_results.iloc[0:0],
    )
    row = bundle.score_frame(bare).iloc[0]
    for c in ("p_lab_fail", "p_counterfeit", "p_false_advertising", "p_merchant_complaint"):
        assert 0.0 <= row[c] <= 1.0


def test_counterfeit_cues_at_a_knock_off_price_raise_counterfeit_risk(model: tuple) -> None:
    market, bundle, _, _ = model
    clean = _clean(market)
    branded = clean.listings["brand"].fillna("").str.len() > 0
    sub = clean.subset(clean.listings.loc[branded, "listing_id"].astype(str).tolist())
    assert len(sub.listings) >= 30
    base = bundle.score_frame(sub)["p_counterfeit"].to_numpy()
    fake = sub.listings.assign(title=sub.listings["title"] + " 高仿 原单 1:1", price=sub.listings["price"] * 0.2)
    alt = bundle.score_frame(
        Market(merchants=sub.merchants, listings=fake, reviews=sub.reviews, lab_results=sub.lab_results)
    )["p_counterfeit"].to_numpy()
    assert alt.mean() > 1.5 * base.mean()
    assert (alt >= base - 1e-9).mean() > 0.95


# -- directional ------------------------------------------------------------------------------------
# absolute claims (国家级, 最好) are learnt only weakly from a few hundred lab labels; efficacy claims strongly
@pytest.mark.parametrize(
    ("claim", "min_rise", "share_up"),
    [("国家级", 1.01, 0.1), ("最好", 1.01, 0.1), ("根治", 1.2, 0.5), ("国家级 最好 根治", 1.3, 0.5)],
)
def test_adding_claims_raises_false_advertising_risk(
    model: tuple, claim: str, min_rise: float, share_up: float
) -> None:
    market, bundle, _, _ = model
    clean = _clean(market)
    base = bundle.score_frame(clean)["p_false_advertising"].to_numpy()
    # the seller writes the claim into the listing: its title and its description
    listings = clean.listings.assign(
        title=clean.listings["title"] + " " + claim, description=clean.listings["description"] + "。" + claim
    )
    edited = Market(merchants=clean.merchants, listings=listings, reviews=clean.reviews, lab_results=clean.lab_results)
    alt = bundle.score_frame(edited)["p_false_advertising"].to_numpy()
    # claim features are monotone-constrained; only unconstrained text length may move a listing down a little
    assert (alt >= base - 0.03).all(), (claim, float((base - alt).max()))
    assert (alt >= base - 1e-9).mean() > 0.9
    assert (alt > base).mean() > share_up
    assert alt.mean() > base.mean() * min_rise, (claim, base.mean(), alt.mean())


def test_evidence_points_at_the_added_claim(model: tuple) -> None:
    market, bundle, _, _ = model
    clean = _clean(market, 5).subset(_clean(market, 5).listings["listing_id"].astype(str).tolist())
    titles = "【国家级】" + clean.listings["title"]
    scores = bundle.score_listings(_with_titles(clean, titles))
    for s, title in zip(scores, titles, strict=True):
        hits = [e for e in s.evidence if e.phrase == "国家级" and e.field == "title"]
        assert hits and title[hits[0].start : hits[0].end] == "国家级"


# -- invariance -------------------------------------------------------------------------------------
def test_swapping_phone_for_earphones_does_not_flip_a_clean_listing(model: tuple) -> None:
    market, bundle, _, _ = model
    clean = _clean(market, n=3000)
    has_phone = clean.listings["title"].str.contains("手机")
    sub = clean.subset(clean.listings.loc[has_phone, "listing_id"].astype(str).tolist())
    assert len(sub.listings) >= 20, "too few clean listings mention 手机"
    base = bundle.score_frame(sub)
    swapped = bundle.score_frame(_with_titles(sub, sub.listings["title"].str.replace("手机", "耳机")))
    for risk in ("lab_fail", "counterfeit", "false_advertising"):
        t = bundle.thresholds[risk]
        a, b = base[f"p_{risk}"].to_numpy(), swapped[f"p_{risk}"].to_numpy()
        # clean for this risk: no lexicon evidence and not flagged (with a small margin below the threshold)
        clean_rows = a < t - 0.02
        assert clean_rows.sum() >= 10
        flipped = clean_rows & (b >= t)
        assert flipped.sum() == 0, (risk, np.flatnonzero(flipped), a[flipped], b[flipped], t)
        assert np.abs(a - b).mean() < 0.03
