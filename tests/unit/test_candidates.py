"""Plan candidates: the one path from a scored market to the planner (CLI, API, pages, rounds)."""

from __future__ import annotations

import pandas as pd
import pytest

from sampling.candidates import LabFees, UnknownCategoryError, draw_plan, plan_candidates, seller_groups
from sampling.planner import CategoryQuota, PlanConfig

NO_LABS = pd.DataFrame({"listing_id": pd.Series([], dtype=str)})


def _market() -> tuple[pd.DataFrame, pd.DataFrame]:
    listings = pd.DataFrame(
        {
            "listing_id": ["a", "b", "c", "d"],
            "merchant_id": ["m1", "m2", "m3", "m4"],
            "category": ["服装", "其他", "服装", "服装"],
            "price": [100.0, 50.0, 80.0, 60.0],
        }
    )
    merchants = pd.DataFrame(
        {
            "merchant_id": ["m1", "m2", "m3", "m4"],
            "shop_name": ["甲乙丙丁旗舰店", "戊己庚辛专营店", "壬癸子丑小店", "寅卯辰巳工厂店"],
            # m1 and m3 share a credit code (one business); m2 and m4 only a phone (two businesses)
            "credit_code": ["91330100MA2XXXXX1A", None, "91330100MA2XXXXX1A", None],
            "phone": ["13800000001", "13900000002", None, "+86 139 0000 0002"],
        }
    )
    return listings, merchants


def test_cost_is_price_plus_the_category_fee_and_unknown_categories_are_named() -> None:
    listings, merchants = _market()
    scores = pd.DataFrame({"listing_id": ["d", "c", "b", "a"], "p_lab_fail": [0.1, 0.2, 0.3, 0.7]})
    fees = LabFees({"服装": 450.0}, default=800.0)
    c = plan_candidates(listings, merchants, scores, lab_fees=fees, lab_results=NO_LABS)
    assert c.frame["cost"].tolist() == [550.0, 850.0, 530.0, 510.0]
    assert c.frame["p_fail"].tolist() == [0.7, 0.3, 0.2, 0.1]
    assert c.default_fee_categories == ["其他"]
    with pytest.raises(ValueError, match="no score"):
        plan_candidates(listings, merchants, scores.head(1), lab_fees=LabFees({}), lab_results=NO_LABS)


def test_n_labels_counts_the_lab_results_of_the_listings_seller_group() -> None:
    listings, merchants = _market()
    scores = pd.DataFrame({"listing_id": ["a", "b", "c", "d"], "p_lab_fail": 0.5})
    # a is tested twice and c once: m1 and m3 are one seller (one credit code), so both count 3; "zz" is no
    # listing of the market and counts for nobody
    labs = pd.DataFrame({"listing_id": ["a", "a", "c", "d", "zz"]})
    c = plan_candidates(listings, merchants, scores, lab_fees=LabFees({}), lab_results=labs).frame
    assert dict(zip(c["listing_id"], c["n_labels"], strict=True)) == {"a": 3, "b": 0, "c": 3, "d": 1}


def test_shops_under_one_credit_code_are_one_seller_for_the_cap() -> None:
    _, merchants = _market()
    groups = seller_groups(merchants)
    assert groups["m1"] == groups["m3"] != groups["m2"]
    assert groups["m2"] != groups["m4"]  # a shared phone alone does not make one business


def test_the_cap_binds_on_linked_shops() -> None:
    listings, merchants = _market()
    scores = pd.DataFrame({"listing_id": ["a", "b", "c", "d"], "p_lab_fail": [0.9, 0.1, 0.9, 0.1]})
    cands = plan_candidates(listings, merchants, scores, lab_fees=LabFees({}, default=100.0), lab_results=NO_LABS)
    plan = draw_plan(cands, PlanConfig(budget=10_000, epsilon=0.0, per_merchant_cap=1))
    sel = plan.selected()
    # a and c are one seller: only one of them can be bought although both are the riskiest
    assert len({"a", "c"} & set(sel["listing_id"])) == 1


def test_a_quota_on_an_unknown_category_is_refused_naming_it() -> None:
    listings, merchants = _market()
    scores = pd.DataFrame({"listing_id": ["a", "b", "c", "d"], "p_lab_fail": 0.5})
    cands = plan_candidates(listings, merchants, scores, lab_fees=LabFees({}), lab_results=NO_LABS)
    config = PlanConfig(budget=10_000, quotas={"智能手机": CategoryQuota(min_purchases=1)})
    with pytest.raises(UnknownCategoryError, match="智能手机"):
        draw_plan(cands, config)


def test_quota_syntax_of_the_cli() -> None:
    cat, q = CategoryQuota.parse("智能手机:min_purchases=3, max_yuan=20000")
    assert cat == "智能手机" and q.min_purchases == 3 and q.max_yuan == 20000
    for spec, match in (
        ("智能手机:min=3", "unknown key 'min'"),
        ("智能手机", "CATEGORY:KEY=VALUE"),
        ("智能手机:min_purchases=three", "not a number"),
        ("智能手机:min_purchases=1.5", "whole number"),
        ("智能手机:", "no limit"),
    ):
        with pytest.raises(ValueError, match=match):
            CategoryQuota.parse(spec)
    with pytest.raises(ValueError, match="extra"):
        CategoryQuota.model_validate({"min": 3})
