"""The population stability index and the training profile (models/drift.py): pure functions on frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import drift


def _frame(n: int = 2000, *, seed: int = 0, price_scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "listing_id": [f"L{i}" for i in range(n)],
            "category": np.where(np.arange(n) % 2 == 0, "服装", "牛奶"),
            "p_lab_fail": rng.beta(2, 5, n),
            "price": rng.lognormal(4, 1, n) * price_scale,
            "review_count": rng.poisson(1.0, n).astype(float),  # ties: fewer distinct bins
        }
    )


def test_psi_of_identical_distributions_is_zero() -> None:
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    f = _frame()
    report = drift.compare(drift.training_profile(f), f, threshold=0.2, min_category=100)
    assert report.psi and all(v == 0.0 for v in report.psi.values())
    assert not report.warning and report.drifted == [] and "no drift" in report.message
    assert {c.category for c in report.worst_categories} == {"服装", "牛奶"}
    assert all(c.psi == 0.0 for c in report.worst_categories)


def test_psi_is_positive_and_symmetric_in_its_terms() -> None:
    a, b = [0.25, 0.25, 0.5], [0.5, 0.25, 0.25]
    assert drift.psi(a, b) > 0
    assert drift.psi(a, b) == pytest.approx(drift.psi(b, a))
    with pytest.raises(ValueError, match="bins differ"):
        drift.psi([0.5, 0.5], [1.0])


def test_a_fresh_sample_of_the_same_market_stays_below_the_threshold() -> None:
    report = drift.compare(drift.training_profile(_frame(seed=0)), _frame(seed=1), threshold=0.2, min_category=200)
    assert not report.warning, report
    assert max(report.psi.values()) < 0.05


def test_a_shifted_feature_crosses_the_threshold_and_is_named() -> None:
    profile = drift.training_profile(_frame(seed=0))
    report = drift.compare(profile, _frame(seed=1, price_scale=3.0), threshold=0.2, min_category=200)
    assert report.warning and report.drifted == ["price"]
    assert report.psi["price"] > 0.2 > report.psi["p_lab_fail"]
    assert "price" in report.message and "choujian round" in report.message
    assert report.worst_categories[0].column == "price" and report.worst_categories[0].psi > 0.2


def test_one_shifted_category_warns_even_when_the_market_barely_moves() -> None:
    base = _frame(4000, seed=0)
    today = _frame(4000, seed=1)
    milk = today["category"] == "牛奶"
    today.loc[milk, "p_lab_fail"] = np.clip(today.loc[milk, "p_lab_fail"] + 0.15, 0, 1)
    report = drift.compare(drift.training_profile(base), today, threshold=0.2, min_category=200)
    assert report.warning
    assert report.worst_categories[0].category == "牛奶" and report.worst_categories[0].column == "p_lab_fail"


def test_small_categories_are_not_compared() -> None:
    f = _frame(300)
    report = drift.compare(drift.training_profile(f), f, min_category=200)
    assert report.worst_categories == []


def test_missing_values_have_their_own_bin() -> None:
    assert drift.proportions(np.array([1.0, np.nan, 3.0, np.nan]), [2.0]) == [0.25, 0.25, 0.5]


def test_metadata_without_a_profile_says_none() -> None:
    assert drift.profile_of(None) is None
    assert drift.profile_of({"summary": {}}) is None
    profile = drift.training_profile(_frame(100))
    assert drift.profile_of({drift.PROFILE_KEY: profile}) is profile
