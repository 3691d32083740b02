"""The feature transformers keep the scikit-learn contract, and each feature means what it says.

`sklearn.utils.estimator_checks.parametrize_with_checks` feeds estimators numeric arrays; these
transformers take a frame of records (lists of reviews, lab results) from `features.listing_frame`,
so the checks cannot apply. The contract is tested explicitly instead: `clone()`, `get_params` /
`set_params`, nothing but parameters set in `__init__`, `NotFittedError` before `fit`, `fit` returns
`self`, learned state ends in `_`, names match the output width, and refitting is deterministic.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import features
from features.identity import IdentityIndex, link, phone_key, shop_name_key
from features.lexicon import Lexicon
from features.market import Market
from features.transformers import (
    LexiconReviewScorer,
    ListingAggregates,
    ListingFeatures,
    MerchantFeatures,
    PriceFeatures,
    ReviewFeatures,
    TextFeatures,
)

LISTING_TRANSFORMERS = [ListingFeatures, PriceFeatures, TextFeatures, ReviewFeatures, MerchantFeatures]


@pytest.fixture(scope="module")
def frame(feature_market: Market) -> pd.DataFrame:
    return features.listing_frame(feature_market)


@pytest.fixture(scope="module")
def mframe(feature_market: Market) -> pd.DataFrame:
    return features.merchant_frame(feature_market)


def _make(cls: type, **kw: Any) -> Any:
    if cls is TextFeatures:
        kw.setdefault("min_df", 1)
    return cls(**kw)


def _col(est: Any, X: np.ndarray, name: str) -> np.ndarray:
    names = list(est.get_feature_names_out())
    return X[:, names.index(name)]


# -- the contract --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [*LISTING_TRANSFORMERS, ListingAggregates])
def test_init_stores_parameters_only(cls: type) -> None:
    est = cls()
    params = est.get_params()
    sig = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert sorted(params) == sorted(sig)
    assert set(vars(est)) == set(sig)  # nothing learned, nothing derived
    assert not any(k.endswith("_") for k in vars(est))
    again = clone(est)
    assert again.get_params() == params
    est.set_params(**params)


@pytest.mark.parametrize("cls", LISTING_TRANSFORMERS)
def test_fit_returns_self_names_match_and_not_fitted_raises(cls: type, frame: pd.DataFrame) -> None:
    est = _make(cls)
    with pytest.raises(NotFittedError):
        est.transform(frame)
    with pytest.raises(NotFittedError):
        est.get_feature_names_out()
    assert est.fit(frame) is est
    learned = [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]
    assert learned, "fit must learn something"
    X = est.transform(frame)
    assert X.dtype == np.float64 and X.shape == (len(frame), len(est.get_feature_names_out()))
    # a clone knows nothing of the fit, and refitting gives the same output
    c = clone(est)
    assert not [k for k in vars(c) if k.endswith("_")]
    np.testing.assert_array_equal(c.fit(frame).transform(frame), X)


def test_merchant_level_transformers_contract(mframe: pd.DataFrame) -> None:
    for cls in (MerchantFeatures, ReviewFeatures, ListingAggregates):
        est = cls()
        with pytest.raises(NotFittedError):
            est.transform(mframe)
        assert est.fit(mframe) is est
        X = est.transform(mframe)
        assert X.shape == (len(mframe), len(est.get_feature_names_out()))


def test_missing_column_and_wrong_input_are_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="price"):
        PriceFeatures().fit(frame.drop(columns=["price"]))
    with pytest.raises(TypeError, match="DataFrame"):
        PriceFeatures().fit(np.zeros((3, 3)))


# -- listing record ------------------------------------------------------------------------------------
def test_unseen_category_and_platform_go_to_other(frame: pd.DataFrame) -> None:
    est = ListingFeatures().fit(frame[frame["category"] != "蚕丝被"])
    X = est.transform(frame)
    row = frame.index[frame["category"] == "蚕丝被"][0]
    assert _col(est, X, "category=__other__")[row] == 1.0
    assert _col(est, X, "category=__other__").sum() == 1.0
    est2 = ListingFeatures().fit(frame[frame["platform"] != "京东"])
    X2 = est2.transform(frame)
    assert _col(est2, X2, "platform=__other__").sum() == (frame["platform"] == "京东").sum()


def test_ccc_required_but_missing(frame: pd.DataFrame) -> None:
    est = ListingFeatures().fit(frame)
    X = est.transform(frame)
    by_id = dict(zip(frame["listing_id"], range(len(frame)), strict=True))
    missing = _col(est, X, "ccc_missing")
    required = _col(est, X, "ccc_required")
    assert required[by_id["L1"]] == 1 and missing[by_id["L1"]] == 0  # phone with a certificate
    assert missing[by_id["L2"]] == 1  # phone without one
    assert missing[by_id["L6"]] == 1  # kettle without one
    assert required[by_id["L4"]] == 0 and missing[by_id["L4"]] == 0  # shampoo: not a 3C category
    assert _col(est, X, "ccc_cert_malformed")[by_id["L3"]] == 1  # "3C认证" is not a certificate number


# -- price -------------------------------------------------------------------------------------------
def test_price_levels_and_fallback_chain() -> None:
    rows = [("手机", "华为", p) for p in (4000, 4200, 4400, 4600, 4800, 5000)]
    rows += [("手机", "小米", p) for p in (1500, 1600, 1700, 1800, 1900)]
    train = pd.DataFrame(rows, columns=["category", "brand", "price"])
    est = PriceFeatures(min_count=5).fit(train)
    test = pd.DataFrame(
        [("手机", "华为", 900.0), ("手机", "华为", 4400.0), ("手机", "新品牌", 1700.0), ("水果", "", 30.0)],
        columns=["category", "brand", "price"],
    )
    X = est.transform(test)
    z_brand, z_cat = _col(est, X, "z_brand"), _col(est, X, "z_category")
    known = _col(est, X, "brand_level_known")
    assert z_brand[0] < -5  # a Huawei phone at 900 is far below Huawei's level
    assert abs(z_brand[1]) < 0.5
    assert known.tolist() == [1, 1, 0, 0]
    assert z_brand[2] == z_cat[2]  # unseen brand → the category's level
    assert _col(est, X, "category_level_known")[3] == 0  # unseen category → the market's level
    assert z_cat[3] == _col(est, X, "z_market")[3]


# -- text --------------------------------------------------------------------------------------------
def test_text_features_count_disguised_claims_contacts_and_shouting(frame: pd.DataFrame) -> None:
    est = TextFeatures(min_df=1).fit(frame)
    X = est.transform(frame)
    by_id = dict(zip(frame["listing_id"], range(len(frame)), strict=True))
    l2 = by_id["L2"]
    assert _col(est, X, "title_absolute_claim_hits")[l2] >= 2  # 國 家 級 and 顶级
    assert _col(est, X, "title_evasion_hits")[l2] >= 1
    assert _col(est, X, "desc_contact_wechat")[l2] == 1
    assert _col(est, X, "desc_shout_runs")[l2] == 1
    l4 = by_id["L4"]
    assert _col(est, X, "title_counterfeit_cue_hits")[l4] >= 2  # ｇａｏ仿, 专柜同款 (+ 同款)
    assert _col(est, X, "desc_counterfeit_cue_hits")[l4] >= 2  # 原单, 1：1
    assert _col(est, X, "desc_contact_phone")[by_id["L5"]] == 1
    assert _col(est, X, "desc_efficacy_claim_hits")[by_id["L8"]] >= 1  # 治疗失眠
    assert _col(est, X, "title_absolute_claim_hits")[by_id["L1"]] == 0
    assert any(n.startswith("tok=") for n in est.get_feature_names_out())


def test_text_hashing_mode_has_fixed_width(frame: pd.DataFrame) -> None:
    est = TextFeatures(mode="hashing", hashing_features=32).fit(frame)
    names = list(est.get_feature_names_out())
    assert sum(n.startswith("tok#") for n in names) == 32
    assert est.transform(frame).shape[1] == len(names)
    with pytest.raises(ValueError, match="mode"):
        TextFeatures(mode="bag").fit(frame)


# -- reviews -----------------------------------------------------------------------------------------
def test_review_aggregates(frame: pd.DataFrame) -> None:
    est = ReviewFeatures().fit(frame)
    X = est.transform(frame)
    by_id = dict(zip(frame["listing_id"], range(len(frame)), strict=True))
    l2 = by_id["L2"]
    assert _col(est, X, "n")[l2] == 3
    assert _col(est, X, "share_low_rating")[l2] == pytest.approx(2 / 3)
    assert _col(est, X, "fake_mention_rate")[l2] == pytest.approx(2 / 3)  # 假货, 翻新 (traditional text)
    l6 = by_id["L6"]  # no reviews
    assert _col(est, X, "n")[l6] == 0 and np.isnan(_col(est, X, "mean_rating")[l6])
    assert _col(est, X, "days_since_last")[by_id["L5"]] == 0  # the latest review in the training data


class _Scorer:
    """A stand-in for the transformer review model: complaint if the text mentions 一般."""

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.array([[1.0 - ("一般" in t), float("一般" in t)] for t in texts])


def test_pluggable_review_scorer(frame: pd.DataFrame) -> None:
    est = ReviewFeatures(review_scorer=_Scorer()).fit(frame)
    X = est.transform(frame)
    l5 = list(frame["listing_id"]).index("L5")
    assert _col(est, X, "share_complaint_text")[l5] == 1.0  # 效果一般, rated 3
    assert _col(est, X, "share_negative")[l5] == 1.0
    p = LexiconReviewScorer().predict_proba(["用了一周就漏水，有异味", "好用"])
    assert p[0] > 0.5 and p[1] == 0.0


# -- identities --------------------------------------------------------------------------------------
def test_keys_are_normalised() -> None:
    assert phone_key("+86 139-8765-4321") == phone_key("13987654321") == "13987654321"
    assert shop_name_key("鑫源數碼 專營店") == shop_name_key("鑫源数码专营店")
    assert shop_name_key("小店") is None  # too short to identify anyone


def test_link_by_code_phone_and_name() -> None:
    records = [
        ("91330100MA2H3K4L5X", "13800000001", "甲店铺旗舰店"),
        ("91330100MA2H3K4L5X", None, "乙店铺新开店"),  # same code
        (None, "138-0000-0001", "丙店铺优选店"),  # same phone as the first
        (None, None, "甲店铺旗舰店"),  # same name
        ("91440300MA5F6G7H8Y", "13900000009", "丁店铺"),  # a stranger
    ]
    ids = link(records)
    assert ids[:4] == [0, 0, 0, 0] and ids[4] == 1
    index, _ = IdentityIndex.build(records)
    idents, via = index.resolve(None, "13900000009", "全新店名字")
    assert idents == [1] and via == {"phone"}
    assert index.resolve(None, None, "没见过的店铺") == ([], set())


def test_reappearing_seller_inherits_its_identity_history(frame: pd.DataFrame) -> None:
    est = MerchantFeatures().fit(frame)
    X = est.transform(frame)
    by_id = dict(zip(frame["listing_id"], range(len(frame)), strict=True))
    l5 = by_id["L5"]  # M3: new name, new platform, new licence, clean fields; M2's phone
    assert _col(est, X, "removals_elsewhere")[l5] == 0
    assert _col(est, X, "linked_by_phone")[l5] == 1
    assert _col(est, X, "identity_removals")[l5] == 3
    assert _col(est, X, "identity_bad_registry")[l5] == 1
    assert _col(est, X, "lab_fails")[l5] == 2  # M2's two failed samples
    assert _col(est, X, "lab_fail_rate")[l5] > est.prior_fail_
    # a seller with no history shares nothing
    l6 = by_id["L6"]
    assert _col(est, X, "linked_by_phone")[l6] == 0 and _col(est, X, "lab_tests")[l6] == 0


def test_own_lab_result_is_left_out(frame: pd.DataFrame) -> None:
    est = MerchantFeatures().fit(frame)
    X = est.transform(frame)
    by_id = dict(zip(frame["listing_id"], range(len(frame)), strict=True))
    # L3 failed; its row sees only L4's failure, L4's row only L3's
    assert _col(est, X, "lab_fails")[by_id["L3"]] == 1
    assert _col(est, X, "lab_fails")[by_id["L4"]] == 1
    assert _col(est, X, "lab_tests")[by_id["L1"]] == 0  # its own pass is not its history
    assert _col(est, X, "lab_tests")[by_id["L2"]] == 1  # the shop's other listing was tested


def _lab_frame(verdicts: list[list[str]]) -> pd.DataFrame:
    """One shop (M1) whose listings carry the given lab verdicts, and an unrelated shop (M2) with one result."""
    shop = {"shop_name": "鑫源数码专营店", "credit_code": None, "phone": "13812345678", "registry_status": "normal",
            "opened_date": "2021-03-01"}  # fmt: skip
    rows = [
        {**shop, "merchant_id": "M1", "listing_id": f"L{i}", "lab_verdicts": v,
         "lab_failure_types": ["quality" if x == "fail" else "" for x in v]}
        for i, v in enumerate(verdicts)
    ]  # fmt: skip
    rows.append({**shop, "merchant_id": "M2", "shop_name": "恒泰电器工厂店", "phone": "13987654321",
                 "listing_id": "X1", "lab_verdicts": ["fail"], "lab_failure_types": ["quality"]})  # fmt: skip
    return pd.DataFrame(rows)


def test_training_lab_history_leaves_out_the_rows_whole_fold() -> None:
    from features.transformers import listing_folds

    verdicts = [["fail"] if i % 3 == 0 else ["pass"] for i in range(30)] + [[] for _ in range(4)]
    X = _lab_frame(verdicts)
    est = MerchantFeatures(folds=5)
    train = est.fit_transform(X)
    fold = listing_folds(X["listing_id"], 5)
    assert len(set(fold[:30].tolist())) == 5  # every fold holds some of the shop's results
    tested = np.array([len(v) > 0 for v in verdicts] + [True])
    failed = np.array([v == ["fail"] for v in verdicts] + [True])
    m1 = (X["merchant_id"] == "M1").to_numpy()
    for r in np.flatnonzero(tested & m1):
        outside = m1 & tested & (fold != fold[r])  # the shop's results in the other folds, and only those
        assert _col(est, train, "lab_tests")[r] == outside.sum()
        assert _col(est, train, "lab_fails")[r] == (outside & failed).sum()
    # rows the model never learns from (no lab result) see the whole history, as at scoring
    served = est.transform(X)
    np.testing.assert_array_equal(train[~tested], served[~tested])
    assert (_col(est, served, "lab_tests")[~tested] == 30).all()
    # columns other than the lab history are the same in training and scoring
    lab = [i for i, n in enumerate(est.get_feature_names_out()) if str(n).startswith("lab_")]
    others = [i for i in range(train.shape[1]) if i not in lab]
    np.testing.assert_array_equal(train[:, others], served[:, others])
    # another shop's history is untouched by M1's folds: X1 sees nothing but its own result, left out
    assert _col(est, train, "lab_tests")[-1] == 0 == _col(est, served, "lab_tests")[-1]


def test_scoring_lab_history_is_the_full_fit_without_the_rows_own_result() -> None:
    verdicts = [["fail"] if i % 3 == 0 else ["pass"] for i in range(30)]
    X = _lab_frame(verdicts)
    est = MerchantFeatures(folds=5)
    trained = est.fit_transform(X)
    served = est.transform(X)
    m1 = (X["merchant_id"] == "M1").to_numpy()
    own_fail = np.array([v == ["fail"] for v in verdicts] + [True])
    assert (_col(est, served, "lab_tests")[m1] == 29).all()  # all but its own
    np.testing.assert_array_equal(_col(est, served, "lab_fails")[m1], 10 - own_fail[m1])
    assert (_col(est, trained, "lab_tests")[m1] < 29).all()  # training leaves out the row's fold as well
    # a fit on the same frame serves the same values as one that never ran fit_transform, and folds do not matter
    np.testing.assert_array_equal(MerchantFeatures(folds=3).fit(X).transform(X), served)
    # a new listing of the shop, never seen in training, sees the whole history
    new = X.iloc[[0]].assign(listing_id="NEW", lab_verdicts=[[]], lab_failure_types=[[]])
    assert _col(est, est.transform(new.reset_index(drop=True)), "lab_tests")[0] == 30


def test_a_new_market_resolves_through_fitted_keys(frame: pd.DataFrame, feature_market: Market) -> None:
    est = MerchantFeatures().fit(frame)
    # a shop the pipeline never saw, carrying M2's credit code under yet another name
    m = feature_market
    new_merchant = m.merchants[m.merchants["merchant_id"] == "M2"].assign(
        merchant_id="M9", shop_name="全新的店铺名称", phone=None, platform="快手", removals_elsewhere=0
    )
    new_listing = m.listings[m.listings["listing_id"] == "L6"].assign(listing_id="L9", merchant_id="M9")
    market = Market(merchants=new_merchant, listings=new_listing)
    X = est.transform(features.listing_frame(market))
    assert _col(est, X, "linked_by_code")[0] == 1
    assert _col(est, X, "identity_removals")[0] == 3
    assert _col(est, X, "platform=__other__")[0] == 1  # 快手 unseen at fit


def test_listing_aggregates_for_merchants(mframe: pd.DataFrame) -> None:
    est = ListingAggregates(lexicon=Lexicon.load()).fit(mframe)
    X = est.transform(mframe)
    by_id = dict(zip(mframe["merchant_id"], range(len(mframe)), strict=True))
    assert _col(est, X, "n_listings")[by_id["M1"]] == 3
    assert _col(est, X, "n_ccc_missing")[by_id["M1"]] == 1
    assert _col(est, X, "share_offsite_contact")[by_id["M1"]] == pytest.approx(1 / 3)
    assert _col(est, X, "share_counterfeit_cue")[by_id["M2"]] == 0.5


class _FakeTextModel:
    """Stands in for `models.text.ListingTextModel`: p_counterfeit is 0.9 when the title says 高仿."""

    labels = ("counterfeit", "false_advertising")

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score_listings(self, listings: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(len(listings))
        fake = listings["title"].fillna("").str.contains("高仿").to_numpy()
        return pd.DataFrame(
            {"text_p_counterfeit": np.where(fake, 0.9, 0.1), "text_p_false_advertising": 0.2}, index=listings.index
        )


def test_listing_text_scores_cross_fit_in_training_and_ask_the_model_after(frame: pd.DataFrame) -> None:
    from features.transformers import ListingTextScores

    with pytest.raises(ValueError, match="needs a text_model"):
        ListingTextScores().fit(frame)
    ids = frame["listing_id"].astype(str)
    cross = pd.DataFrame(
        {"text_p_counterfeit": 0.55, "text_p_false_advertising": 0.45}, index=pd.Index(ids[:3], name="listing_id")
    )
    model = _FakeTextModel()
    est = ListingTextScores(text_model=model, cross_fitted=cross)
    pd.testing.assert_frame_equal(clone(est).get_params()["cross_fitted"], cross)
    with pytest.raises(NotFittedError):
        est.transform(frame)
    fitted = est.fit_transform(frame)
    assert list(est.get_feature_names_out()) == ["p_counterfeit", "p_false_advertising"]
    np.testing.assert_array_equal(fitted[:3], [[0.55, 0.45]] * 3)  # out-of-fold scores for the trained-on rows
    assert model.calls == [len(frame) - 3]  # the model scored only the others
    after = est.transform(frame)  # serving: always the model, whatever the training rows were
    expected = np.where(frame["title"].fillna("").str.contains("高仿"), 0.9, 0.1)
    np.testing.assert_array_equal(after[:, 0], expected)
    np.testing.assert_array_equal(fitted[3:], after[3:])
    with pytest.raises(ValueError, match="lacks column"):
        est.transform(frame.drop(columns=["title"]))
    with pytest.raises(ValueError, match="text_p_ columns"):
        ListingTextScores(text_model=model, cross_fitted=cross.drop(columns=["text_p_counterfeit"])).fit(frame)


def test_pipeline_adds_listing_text_features_only_with_a_model(frame: pd.DataFrame) -> None:
    plain = features.build_pipeline().fit(frame)
    assert not any(n.startswith("listing_text__") for n in plain.get_feature_names_out())
    pipe = features.build_pipeline(listing_text_model=_FakeTextModel()).fit(frame)
    names = [n for n in pipe.get_feature_names_out() if n.startswith("listing_text__")]
    assert names == ["listing_text__p_counterfeit", "listing_text__p_false_advertising"]
    meanings = features.feature_meanings()
    assert all(n in meanings for n in names)
