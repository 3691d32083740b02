"""Unit tests of the risk-model building blocks: calibration, LightGBM fitting, reasons, metrics, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.calibration import Calibrator, logit
from models.explain import Explainer, Meaning
from models.risk import Labelled, LightGBMParams, RiskModel
from training import metrics as M
from training.config import SplitConfig
from training.labels import holdout_mask, listing_labels, part_of


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(2.0 * X[:, 0] - 1.0 * X[:, 1] - 1.0)))
    return X, (rng.random(n) < p).astype(float)


def test_platt_fixes_overconfident_probabilities_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.05, 0.6, 5000)
    y = (rng.random(5000) < true_p).astype(float)
    raw = 1 / (1 + np.exp(-3 * logit(true_p)))  # far too confident
    cal = Calibrator("platt").fit(raw[:2500], y[:2500])
    p = cal.transform(raw[2500:])
    assert M.brier(p, y[2500:]) < M.brier(raw[2500:], y[2500:])
    assert np.array_equal(np.argsort(p, kind="stable"), np.argsort(raw[2500:], kind="stable"))
    assert abs(p.mean() - y[2500:].mean()) < 0.02


def test_weighted_calibration_describes_the_population_not_the_sample() -> None:
    # sample: positives over-represented 3x; weights 1/π undo it
    rng = np.random.default_rng(1)
    raw = rng.uniform(0.1, 0.9, 4000)
    y = (rng.random(4000) < raw * 0.5).astype(float)  # population rate is half the raw score
    pick = np.where(y == 1, 0.9, 0.3)
    keep = rng.random(4000) < pick
    w = 1 / pick[keep]
    plain = Calibrator("platt").fit(raw[keep], y[keep]).transform(raw)
    weighted = Calibrator("platt").fit(raw[keep], y[keep], w).transform(raw)
    assert abs(weighted.mean() - y.mean()) < abs(plain.mean() - y.mean())
    assert abs(weighted.mean() - y.mean()) < 0.03


def test_isotonic_and_degenerate_calibration() -> None:
    cal = Calibrator("isotonic").fit([0.1, 0.2, 0.8, 0.9] * 5, [0, 0, 1, 1] * 5)
    assert cal.transform([0.05, 0.95]).tolist() == [0.0, 1.0]
    one_class = Calibrator("platt").fit([0.1, 0.5, 0.7] * 5, [0] * 15)
    assert one_class.method_ == "none"
    assert one_class.transform([0.3]).tolist() == [0.3]


def test_risk_model_early_stops_calibrates_and_explains() -> None:
    X, y = _data(3000, 2)
    w = np.ones(len(y))
    parts = np.arange(len(y)) % 3
    params = LightGBMParams(max_rounds=400, early_stopping_rounds=20, learning_rate=0.1, num_threads=1)
    model = RiskModel.fit(
        "lab_fail",
        feature_names=["a", "b", "c", "d"],
        fit=Labelled(X[parts == 0], y[parts == 0], w[parts == 0]),
        valid=Labelled(X[parts == 1], y[parts == 1], w[parts == 1]),
        calib=Labelled(X[parts == 2], y[parts == 2], w[parts == 2]),
        params=params,
    )
    assert 1 <= model.best_iteration < 400
    p = model.predict_proba(X)
    assert ((p >= 0) & (p <= 1)).all()
    assert M.pr_auc(p, y) > y.mean() + 0.2
    contrib = model.contributions(X[:5])
    assert contrib.shape == (5, 5)
    # contributions sum to the raw log-odds of the booster (TreeSHAP is exact)
    np.testing.assert_allclose(contrib.sum(axis=1), logit(model.raw_proba(X[:5])), atol=1e-5)
    assert list(model.importance())[0] == "a"


def test_risk_model_falls_back_to_base_rate_without_positives() -> None:
    X, _ = _data(200, 3)
    y = np.zeros(200)
    y[:2] = 1
    lab = Labelled(X, y, np.ones(200))
    model = RiskModel.fit(
        "counterfeit", feature_names=list("abcd"), fit=lab, valid=lab, calib=lab, params=LightGBMParams()
    )
    assert model.booster is None and model.info["fallback"] == "base_rate"
    assert np.allclose(model.predict_proba(X), 0.01)


def test_explainer_groups_columns_by_meaning_and_keeps_only_positive_reasons() -> None:
    meanings = {
        "claims": Meaning("ABSOLUTE_CLAIM", "绝对化用语", "absolute claim"),
        "price": Meaning("PRICE_BELOW_BRAND", "价格远低于品牌价", "price far below brand level"),
    }
    ex = Explainer(["claims=国家级", "claims=最好", "price", "weird col"], meanings)
    contrib = np.array([[0.2, 0.3, -1.0, 0.1, -2.0], [-0.1, -0.1, 0.4, -0.2, 0.0]])
    reasons = ex.top_reasons(contrib, top=3)
    assert [r.code for r in reasons[0]] == ["ABSOLUTE_CLAIM", "WEIRD_COL"]
    assert reasons[0][0].contribution == pytest.approx(0.5)
    assert reasons[0][0].zh == "绝对化用语" and reasons[0][0].en == "absolute claim"
    assert [r.code for r in reasons[1]] == ["PRICE_BELOW_BRAND"]


def test_metrics_hit_rate_lift_and_ties() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1], dtype=float)
    perfect = y.copy()
    assert M.hit_rate(perfect, y, 0.2) == 1.0
    assert M.top_k(0.05, 10) == 1
    assert M.captured_lift(0.6, 0.3, 0.9) == pytest.approx(0.5)
    assert M.captured_lift(0.5, 0.3, 0.3) is None
    # constant scores: ties are broken by a seeded shuffle, not by input order
    rates = [M.hit_rate(np.zeros(10), y, 0.3, seed=s) for s in range(30)]
    assert 0.1 < float(np.mean(rates)) < 0.6
    assert M.lift_curve(perfect, y, [0.1, 0.3]) == [1.0, 1.0]
    assert M.budget_key(0.1) == "0.1" and M.budget_key(0.01) == "0.01"


def test_splits_are_stable_and_labels_carry_inverse_probability_weights() -> None:
    ids = pd.Series([f"L{i:05d}" for i in range(2000)])
    split = SplitConfig(holdout_share=0.2)
    a, b = holdout_mask(ids, split), holdout_mask(ids[::-1].reset_index(drop=True), split)
    assert np.array_equal(a, b[::-1])
    assert 0.17 < a.mean() < 0.23
    assert not np.array_equal(a, holdout_mask(ids, SplitConfig(holdout_share=0.2, salt="other")))
    parts = part_of(ids, split, kind="listing")
    assert set(parts) == {"fit", "valid", "calib"}
    lab = pd.DataFrame(
        {
            "listing_id": ["A", "A", "B", "C"],
            "verdict": ["pass", "fail", "pass", "fail"],
            "failure_types": ["", "counterfeit;quality", "", "false_advertising"],
            "inclusion_prob": [0.5, 0.5, 0.01, None],
        }
    )
    out = listing_labels(lab, ipw_cap=20.0)
    assert out.loc["A", "lab_fail"] == 1 and out.loc["A", "counterfeit"] == 1 and out.loc["A", "false_advertising"] == 0
    assert out.loc["A", "pi"] == pytest.approx(0.75)  # picked at least once by two plans with π = 0.5
    assert out.loc["B", "ipw"] == 20.0  # 1/0.01 capped
    assert out.loc["C", "false_advertising"] == 1 and np.isfinite(out.loc["C", "ipw"])
