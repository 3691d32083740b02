"""`build_pipeline`: one path for training, batch and online scoring.

The invariant that matters most: a listing's feature row depends only on its own record, its
merchant's record, its own reviews and the fitted state — never on the other rows of the batch — so
scoring one listing alone gives the same row as scoring it in a batch. And a pipeline saved with
joblib and loaded in a fresh process gives identical matrices.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import features
from features.market import Market
from models.explain import Meaning, resolve_meanings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fitted(feature_market: Market) -> tuple[object, pd.DataFrame, np.ndarray]:
    frame = features.listing_frame(feature_market)
    pipe = features.build_pipeline(features.FeatureConfig(text_min_df=1))
    X = pipe.fit(frame).transform(frame)
    return pipe, frame, X


def test_listing_frame_is_one_row_per_listing_with_its_own_lists(feature_market: Market) -> None:
    frame = features.listing_frame(feature_market)
    assert frame["listing_id"].tolist() == feature_market.listings["listing_id"].tolist()
    row = frame.set_index("listing_id").loc["L2"]
    assert row["shop_name"] == "鑫源数码专营店" and row["merchant_platform"] == "淘宝"
    assert len(row["review_texts"]) == 3 and sorted(row["review_ratings"]) == [1, 1, 3]
    assert frame.set_index("listing_id").loc["L3", "lab_verdicts"] == ["fail"]
    assert frame.set_index("listing_id").loc["L6", "review_texts"] == []


def test_matrix_names_and_meanings(fitted: tuple[object, pd.DataFrame, np.ndarray]) -> None:
    pipe, frame, X = fitted
    names = list(pipe.get_feature_names_out())  # type: ignore[attr-defined]
    assert X.shape == (len(frame), len(names)) and X.dtype == np.float64
    assert len(set(names)) == len(names)
    meanings = {k: Meaning(*v) for k, v in features.feature_meanings().items()}
    resolved = resolve_meanings(names, meanings)
    unmapped = [n for n, m in zip(names, resolved, strict=True) if m.zh.startswith("特征 ")]
    assert unmapped == []
    for m in features.feature_meanings().values():
        assert m.code.isupper() and m.zh and m.en


def test_one_listing_alone_scores_as_in_the_batch(
    fitted: tuple[object, pd.DataFrame, np.ndarray], feature_market: Market
) -> None:
    pipe, frame, X = fitted
    for i, lid in enumerate(frame["listing_id"]):
        alone = pipe.transform(features.listing_frame(feature_market.subset([lid])))  # type: ignore[attr-defined]
        np.testing.assert_array_equal(alone[0], X[i], err_msg=lid)


def test_batch_order_and_company_do_not_matter(fitted: tuple[object, pd.DataFrame, np.ndarray]) -> None:
    pipe, frame, X = fitted
    order = np.random.default_rng(0).permutation(len(frame))
    shuffled = pipe.transform(frame.iloc[order].reset_index(drop=True))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(shuffled, X[order])
    half = pipe.transform(frame.iloc[:3].reset_index(drop=True))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(half, X[:3])


def test_merchant_pipeline_is_per_merchant(feature_market: Market) -> None:
    mframe = features.merchant_frame(feature_market)
    assert mframe["merchant_id"].tolist() == ["M1", "M2", "M3", "M4"]
    assert mframe.set_index("merchant_id").loc["M1", "n_listings"] == 3
    pipe = features.build_merchant_pipeline()
    MX = pipe.fit(mframe).transform(mframe)
    assert MX.shape == (4, len(pipe.get_feature_names_out()))
    for i in range(len(mframe)):
        np.testing.assert_array_equal(pipe.transform(mframe.iloc[[i]].reset_index(drop=True))[0], MX[i])
    names = list(pipe.get_feature_names_out())
    meanings = {k: Meaning(*v) for k, v in features.feature_meanings().items()}
    assert not [m for m in resolve_meanings(names, meanings) if m.zh.startswith("特征 ")]


def test_config_from_yaml_and_validation(tmp_path: Path) -> None:
    p = tmp_path / "f.yaml"
    p.write_text("features:\n  text_mode: hashing\n  hashing_features: 64\n  smoothing: 2.5\n", encoding="utf-8")
    c = features.FeatureConfig.from_yaml(p)
    assert (c.text_mode, c.hashing_features, c.smoothing) == ("hashing", 64, 2.5)
    with pytest.raises(ValidationError):
        features.FeatureConfig(text_mode="bag")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        features.FeatureConfig(no_such_field=1)  # type: ignore[call-arg]
    assert features.FeatureConfig() == features.FeatureConfig.model_validate({})


def test_evidence_spans_point_at_the_original_text(feature_market: Market) -> None:
    ev = features.evidence(feature_market)
    assert list(ev) == feature_market.listings["listing_id"].tolist()
    titles = feature_market.listings.set_index("listing_id")["title"]
    descs = feature_market.listings.set_index("listing_id")["description"]
    l2 = [e for e in ev["L2"] if e.phrase == "国家级"]
    assert l2 and l2[0].field == "title" and l2[0].text == "國 家 級"
    for lid, items in ev.items():
        for e in items:
            src = titles[lid] if e.field == "title" else descs[lid]
            assert src[e.start : e.end] == e.text
    assert ev["L1"] == []
    assert {e.kind for e in ev["L4"]} == {"counterfeit_cue"}


_CHILD = """
import sys, joblib, numpy as np
import features
from features.market import load_market
pipe = joblib.load(sys.argv[1])
market = load_market(sys.argv[2])
frame = features.merchant_frame(market) if sys.argv[4] == "merchant" else features.listing_frame(market)
np.save(sys.argv[3], pipe.transform(frame))
"""


def _fresh_process_transform(pipe: object, market: Market, tmp: Path, kind: str) -> np.ndarray:
    joblib.dump(pipe, tmp / f"{kind}.joblib")
    market.write(tmp / "market")
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(tmp / f"{kind}.joblib"), str(tmp / "market"),
         str(tmp / f"{kind}.npy"), kind],
        check=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    return np.load(tmp / f"{kind}.npy")


def test_saved_pipeline_gives_identical_matrices_in_a_fresh_process(
    fitted: tuple[object, pd.DataFrame, np.ndarray], feature_market: Market, tmp_path: Path
) -> None:
    pipe, frame, X = fitted
    got = _fresh_process_transform(pipe, feature_market, tmp_path, "listing")
    np.testing.assert_array_equal(got, X)
    mframe = features.merchant_frame(feature_market)
    mpipe = features.build_merchant_pipeline().fit(mframe)
    got_m = _fresh_process_transform(mpipe, feature_market, tmp_path, "merchant")
    np.testing.assert_array_equal(got_m, mpipe.transform(mframe))


@pytest.mark.slow
def test_simulated_market_round_trip_and_invariance(tmp_path: Path) -> None:
    from training.simulator import simulate

    market = simulate(120, 1500, seed=11).market
    frame = features.listing_frame(market)
    pipe = features.build_pipeline()
    X = pipe.fit(frame).transform(frame)
    assert np.isfinite(X[:, [not n.startswith("reviews__") for n in pipe.get_feature_names_out()]]).all()
    for i in (0, 7, 700, 1499):
        lid = frame["listing_id"].iat[i]
        alone = pipe.transform(features.listing_frame(market.subset([lid])))
        np.testing.assert_array_equal(alone[0], X[i])
    np.testing.assert_array_equal(_fresh_process_transform(pipe, market, tmp_path, "listing"), X)
