"""Label-driven feature blocks (features/pooling.py): the scikit-learn contract, out-of-fold training values,
shrinkage, identity linking, price references and character n-grams that see through evasion."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import features
from features.market import Market
from features.pooling import PooledRisk, RelativePrice, TextRisk, labels_from_frame, prior_strength

BLOCKS = [PooledRisk, RelativePrice, TextRisk]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "merchant_id": "M0", "category": "洗发水", "brand": "海飞丝", "credit_code": None, "phone": None,
        "shop_name": "某店", "price": 50.0, "title": "海飞丝洗发水 400ml", "description": "",
        "lab_verdicts": [], "lab_failure_types": [],
    }  # fmt: skip
    return pd.DataFrame([{**base, "listing_id": f"L{i}", **r} for i, r in enumerate(rows)])


def _col(est: Any, X: np.ndarray, name: str) -> np.ndarray:
    return X[:, list(est.get_feature_names_out()).index(name)]


@pytest.fixture(scope="module")
def frame(feature_market: Market) -> pd.DataFrame:
    return features.listing_frame(feature_market)


@pytest.mark.parametrize("cls", BLOCKS)
def test_contract(cls: type, frame: pd.DataFrame) -> None:
    est = cls(min_df=1) if cls is TextRisk else cls()
    sig = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert set(vars(est)) == set(sig) and sorted(est.get_params()) == sorted(sig)
    with pytest.raises(NotFittedError):
        est.transform(frame)
    assert est.fit(frame) is est
    X = est.transform(frame)
    assert X.dtype == np.float64 and X.shape == (len(frame), len(est.get_feature_names_out()))
    assert not [k for k in vars(clone(est)) if k.endswith("_")]
    np.testing.assert_array_equal(clone(est).fit(frame).transform(frame), X)
    # out-of-fold values in training have the same shape; rows without labels get the full-fit values
    Xf = clone(est).fit_transform(frame)
    has, _ = labels_from_frame(frame)
    np.testing.assert_array_equal(Xf[~has], X[~has])


def test_prior_strength_follows_the_spread_between_groups() -> None:
    n = np.full(50, 20.0)
    same = np.full(50, 6.0)  # every group at 30%: no real differences, strongest pooling
    assert prior_strength(n, same) == 500.0
    rng = np.random.default_rng(0)
    spread = rng.binomial(20, rng.choice([0.05, 0.8], 50)).astype(float)
    assert prior_strength(n, spread) < 5.0


def test_a_rows_own_label_never_feeds_its_training_value() -> None:
    rows = [{"brand": "吕", "lab_verdicts": ["fail"], "lab_failure_types": ["counterfeit"]}]
    rows += [{"brand": "潘婷", "lab_verdicts": ["pass"], "lab_failure_types": [""]} for _ in range(40)]
    X = _frame(rows)
    est = PooledRisk(folds=5)
    train_values = est.fit_transform(X)
    served = est.transform(X)
    col = "brand_rate_counterfeit"
    # served (after training) the failing brand's rate is raised by its failure; in training it is not
    assert _col(est, served, col)[0] > _col(est, train_values, col)[0]
    assert _col(est, train_values, col)[0] <= _col(est, served, col)[1] + 1e-12


def test_a_new_shop_inherits_its_linked_sellers_record() -> None:
    bad = [{"merchant_id": "M1", "phone": "13900001111", "shop_name": "甲店", "lab_verdicts": ["fail"],
            "lab_failure_types": ["quality"]} for _ in range(6)]  # fmt: skip
    good = [{"merchant_id": f"G{i}", "phone": f"1370000{i:04d}", "shop_name": f"乙店{i}", "lab_verdicts": ["pass"],
             "lab_failure_types": [""]} for i in range(30)]  # fmt: skip
    est = PooledRisk().fit(_frame(bad + good))
    new = _frame(
        [
            {"merchant_id": "NEW1", "phone": "139-0000-1111", "shop_name": "全新名字"},  # the bad seller's phone
            {"merchant_id": "NEW2", "phone": "13611112222", "shop_name": "陌生店"},
        ]
    )
    rate = _col(est, est.transform(new), "identity_rate_lab_fail")
    assert rate[0] > rate[1]
    assert _col(est, est.transform(new), "identity_tested").tolist() == [6.0, 0.0]


def test_relative_price_tells_cheap_unbranded_from_cheap_branded() -> None:
    rows = [{"merchant_id": f"S{i}", "brand": "海飞丝", "price": 60.0 + i % 5} for i in range(20)]
    rows += [{"merchant_id": f"W{i}", "brand": b, "price": 15.0 + i % 3} for i, b in enumerate(["", "无品牌"] * 6)]
    rows += [{"merchant_id": "P1", "brand": "木槿家", "price": 16.0} for _ in range(3)]  # one shop's own brand
    est = RelativePrice().fit(_frame(rows))
    probe = _frame(
        [
            {"brand": "", "price": 16.0},  # cheap unbranded: normal for unbranded goods
            {"brand": "海飞丝", "price": 16.0},  # a famous brand at an unbranded price
            {"brand": "海飞丝", "price": 58.0},  # priced like the genuine article
            {"brand": "木槿家", "price": 16.0},
        ]
    )
    X = est.transform(probe)
    assert abs(_col(est, X, "z_category_unbranded")[0]) < 1.5
    assert _col(est, X, "z_brand")[1] < -3
    assert abs(_col(est, X, "z_brand")[2]) < 1.5
    assert _col(est, X, "unbranded_or_private").tolist() == [1.0, 0.0, 0.0, 1.0]
    assert np.isnan(_col(est, X, "z_brand")[0])


def test_text_risk_learns_a_cue_in_no_lexicon_and_sees_through_spacing() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(120):
        cue = i % 3 == 0
        fail = cue if rng.random() < 0.9 else not cue
        rows.append(
            {
                "title": f"海飞丝洗发水 {'撕标货 ' if cue else ''}{rng.integers(100, 999)}ml",
                "lab_verdicts": ["fail" if fail else "pass"],
                "lab_failure_types": ["counterfeit" if fail else ""],
            }
        )
    est = TextRisk(folds=3, min_df=2).fit(_frame(rows))
    probe = _frame([{"title": "海飞丝洗发水 撕 标 货 400ml"}, {"title": "海飞丝洗发水 400ml"}])
    logit = _col(est, est.transform(probe), "logit_counterfeit")
    assert logit[0] > logit[1] + 1.0


def test_pipeline_blocks_are_switched_by_config_and_row_independent(frame: pd.DataFrame) -> None:
    cfg = features.FeatureConfig(text_min_df=1, pooled=True, relative_price=True, text_risk=True)
    pipe = features.build_pipeline(cfg)
    X = pipe.fit(frame).transform(frame)
    names = list(pipe.get_feature_names_out())
    assert any(n.startswith("pool__") for n in names) and any(n.startswith("textrisk__") for n in names)
    meanings = features.feature_meanings()
    assert all(n in meanings for n in names if n.split("__")[0] in ("pool", "relprice", "textrisk"))
    half = pipe.transform(frame.iloc[::2].reset_index(drop=True))
    np.testing.assert_array_equal(half, X[::2])
    plain = features.build_pipeline(features.FeatureConfig(text_min_df=1)).fit(frame)
    assert not any(n.split("__")[0] in ("pool", "relprice", "textrisk") for n in plain.get_feature_names_out())


def test_merchant_lab_history_can_give_way_to_pooled_rates(frame: pd.DataFrame) -> None:
    from features.pooling import WithoutColumns
    from features.transformers import MerchantFeatures

    est = WithoutColumns(transformer=MerchantFeatures(), drop=("lab_",))
    assert set(vars(est)) == {"transformer", "drop"}
    with pytest.raises(NotFittedError):
        est.transform(frame)
    full = MerchantFeatures().fit(frame)
    X, names = est.fit(frame).transform(frame), list(est.get_feature_names_out())
    all_names = list(full.get_feature_names_out())
    assert names == [n for n in all_names if not n.startswith("lab_")] and "identity_shops" in names
    np.testing.assert_array_equal(X, full.transform(frame)[:, [all_names.index(n) for n in names]])
    np.testing.assert_array_equal(clone(est).fit_transform(frame), X)
    cfg = features.FeatureConfig(text_min_df=1, pooled=True, merchant_lab_history=False)
    piped = list(features.build_pipeline(cfg).fit(frame).get_feature_names_out())
    assert not [n for n in piped if n.startswith("merchant__lab_")] and "pool__identity_rate_lab_fail" in piped
