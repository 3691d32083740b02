"""The scorer bundle: save/load gives identical scores, a listing alone scores as in a batch, reasons and
evidence are well-formed, and training sees no held-out label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.market import Market
from models.bundle import ScorerBundle, as_matrix
from models.contract import RISKS
from models.union import union_transform
from tests.support.tiny import TINY_CONFIG
from training.config import load_config
from training.labels import holdout_mask


@pytest.fixture(scope="module")
def trained(tiny_market: Market, tiny_bundle: ScorerBundle) -> tuple[Market, ScorerBundle]:
    """The session's tiny market and the bundle fitted on it (tests/conftest.py)."""
    return tiny_market, tiny_bundle


def _some(market: Market, n: int) -> Market:
    return market.subset(market.listings["listing_id"].astype(str).head(n).tolist())


def test_score_frame_has_every_listing_and_risk(trained: tuple[Market, ScorerBundle]) -> None:
    market, bundle = trained
    frame = bundle.score_frame(market)
    assert frame["listing_id"].tolist() == market.listings["listing_id"].tolist()
    for risk in RISKS:
        p = frame[f"p_{risk}"].to_numpy()
        assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
        assert p.std() > 0, f"{risk} scores are constant"


def test_save_and_load_give_identical_scores(trained: tuple[Market, ScorerBundle], tmp_path: Path) -> None:
    market, bundle = trained
    path = bundle.save(tmp_path / "bundle")
    loaded = ScorerBundle.load(path)
    pd.testing.assert_frame_equal(bundle.score_frame(market), loaded.score_frame(market))
    sub = _some(market, 40)
    assert [s.model_dump() for s in bundle.score_listings(sub)] == [s.model_dump() for s in loaded.score_listings(sub)]
    assert loaded.thresholds == bundle.thresholds
    assert (path / "metadata.json").is_file()


def test_explainer_cache_is_reused_and_never_saved(trained: tuple[Market, ScorerBundle], tmp_path: Path) -> None:
    import pickle

    market, bundle = trained
    bundle.score_listings(_some(market, 5))  # builds and caches the explainers
    assert bundle.__dict__.get("_explainers"), "explainers are cached on the bundle after scoring"
    model = next(iter(bundle.listing_models.values()))
    assert bundle.explainer(model) is bundle.explainer(model)
    assert "_explainers" not in pickle.loads(pickle.dumps(bundle)).__dict__
    assert "_explainers" not in ScorerBundle.load(bundle.save(tmp_path / "b")).__dict__


def test_direct_feature_union_equals_transform(trained: tuple[Market, ScorerBundle]) -> None:
    from features.frames import listing_frame, merchant_frame

    market, bundle = trained
    for pipe, frame in (
        (bundle.listing_pipeline, listing_frame(market)),
        (bundle.merchant_pipeline, merchant_frame(market)),
    ):
        assert np.array_equal(as_matrix(union_transform(pipe, frame)), as_matrix(pipe.transform(frame)), equal_nan=True)


def test_load_refuses_other_pickles(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "bundle.pkl").write_bytes(pickle.dumps({"format": 99}))
    with pytest.raises(ValueError, match="not a choujian scorer bundle"):
        ScorerBundle.load(tmp_path)


def test_one_listing_alone_scores_as_inside_the_batch(trained: tuple[Market, ScorerBundle]) -> None:
    market, bundle = trained
    batch = bundle.score_frame(market).set_index("listing_id")
    ids = market.listings["listing_id"].sample(8, random_state=0).tolist()
    for lid in ids:
        alone = bundle.score_frame(market.subset([lid])).set_index("listing_id")
        assert alone.index.tolist() == [lid]
        for risk in RISKS:
            assert alone.loc[lid, f"p_{risk}"] == pytest.approx(batch.loc[lid, f"p_{risk}"], abs=1e-12), (lid, risk)


def test_reasons_and_evidence(trained: tuple[Market, ScorerBundle]) -> None:
    market, bundle = trained
    sub = _some(market, 300)
    scores = bundle.score_listings(sub, top_reasons=3)
    frame = bundle.score_frame(sub)
    assert [s.listing_id for s in scores] == frame["listing_id"].tolist()
    with_reasons = 0
    for s, (_, row) in zip(scores, frame.iterrows(), strict=True):
        assert set(s.risks) == set(RISKS)
        for risk, rs in s.risks.items():
            assert rs.probability == pytest.approx(row[f"p_{risk}"])
            assert len(rs.reasons) <= 3
            contribs = [r.contribution for r in rs.reasons]
            assert contribs == sorted(contribs, reverse=True) and all(c > 0 for c in contribs)
            for r in rs.reasons:
                assert r.code and r.zh and r.en
            with_reasons += bool(rs.reasons)
    assert with_reasons > len(scores)  # most listings get reasons for at least two risks
    listings = sub.listings.set_index("listing_id")
    spans = [(s.listing_id, e) for s in scores for e in s.evidence]
    assert spans, "no lexicon evidence in 300 simulated listings"
    for lid, e in spans:
        text = listings.loc[lid, e.field]
        assert text[e.start : e.end] == e.text


def test_training_never_sees_held_out_labels(trained: tuple[Market, ScorerBundle]) -> None:
    market, bundle = trained
    config = load_config(TINY_CONFIG)
    ids = market.listings["listing_id"].astype(str)
    held = set(ids[holdout_mask(ids, config.split)])
    tested_held = market.lab_results["listing_id"].astype(str).isin(held).sum()
    assert tested_held > 0
    n_labelled = bundle.metadata["summary"]["n_lab_labelled"]
    assert n_labelled == market.lab_results["listing_id"].astype(str).pipe(lambda s: s[~s.isin(held)]).nunique()
