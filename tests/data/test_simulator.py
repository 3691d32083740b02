"""The market simulator: marginals, realism requirements, ground truth and round trip through the loader.

One mid-size market (1,500 shops, 15,000 listings, a few seconds) carries most tests. Tolerances are stated
next to each target; they were checked against other seeds, not tuned to this one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core import paths
from core.reference import LAB_FEES, read_lab_fees
from features.market import load_market
from features.records import is_valid_credit_code
from training import sim_vocab as V
from training.corpus import load_shopping_reviews, split_of
from training.metrics import expected_captured_lift as captured_lift
from training.simulator import PLAN_ROUNDS, Simulation, auc, simulate

REQUIRED_CATEGORIES = {
    "蚕丝被", "纸尿裤", "电热水壶", "智能手机", "电线电缆", "婴幼儿牙胶", "家具", "化肥", "农膜", "服装",
    "洗发水", "水果", "平板电脑", "笔记本电脑",
}  # fmt: skip
# CNCA's compulsory-certification catalogue: phones, computers, cables, household appliances, toys,
# and lithium power banks (compulsory since 2024-08-01)
CCC_COMPULSORY = {"智能手机", "平板电脑", "笔记本电脑", "电热水壶", "电线电缆", "移动电源", "儿童玩具", "电吹风"}


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(1500, 15_000, seed=11)


@pytest.fixture(scope="module")
def joined(sim: Simulation) -> pd.DataFrame:
    m = sim.market
    return (
        m.listings.merge(sim.truth_listings, on="listing_id")
        .merge(sim.truth_merchants, on="merchant_id")
        .merge(m.merchants, on="merchant_id", suffixes=("", "_shop"))
    )


def _brand_level(df: pd.DataFrame) -> pd.Series:
    level = {(c.name, b.name): b.price for c in V.CATEGORIES for b in c.brands}
    famous = {(c.name, b.name) for c in V.CATEGORIES for b in c.brands if b.famous}
    keys = list(zip(df["category"], df["brand"], strict=True))
    out = pd.Series([level.get(k, np.nan) for k in keys], index=df.index)
    return out.where([k in famous for k in keys])


# --- marginals --------------------------------------------------------------------------------------


def test_failure_rate_is_the_regulators_35_percent(sim: Simulation) -> None:
    t = sim.truth_listings
    assert abs(t["p_fail"].mean() - 0.35) <= 0.03
    assert abs(t["fails"].mean() - 0.35) <= 0.03
    # the realised outcome is a draw from p_fail, not a copy of it
    assert abs(t["fails"].mean() - t["p_fail"].mean()) <= 0.015
    assert set(np.unique(t["p_fail"].round(2))) - {0.0, 1.0}


def test_failure_type_rates(sim: Simulation) -> None:
    t = sim.truth_listings
    assert abs(t["p_three_no"].mean() - 0.10) <= 0.025  # regulators: three-no 10.6%
    assert abs(t["failure_types"].str.contains("three_no").mean() - 0.10) <= 0.025
    assert 0.03 <= t["p_counterfeit"].mean() <= 0.10
    assert 0.07 <= t["p_false_advertising"].mean() <= 0.18
    assert 0.12 <= t["p_quality"].mean() <= 0.25
    # p_fail is the union of the four types
    union = 1 - np.prod([1 - t[f"p_{k}"] for k in ("counterfeit", "false_advertising", "quality", "three_no")], axis=0)
    np.testing.assert_allclose(t["p_fail"], union, atol=1e-5)
    assert ((t["failure_types"] != "") == t["fails"]).all()


def test_dishonest_merchants_fail_more(joined: pd.DataFrame) -> None:
    by = joined.groupby(joined["honesty"] < 0.5)["p_fail"].mean()
    assert by[True] > 2 * by[False]
    realised = joined.groupby(joined["honesty"] < 0.5)["fails"].mean()
    assert realised[True] > realised[False] + 0.2


def test_market_covers_regulator_categories_and_platforms(sim: Simulation) -> None:
    lst = sim.market.listings
    assert REQUIRED_CATEGORIES <= set(lst["category"])
    assert lst["platform"].nunique() >= 6
    assert {c.name for c in V.CATEGORIES if c.ccc} == CCC_COMPULSORY
    shares = lst["category"].value_counts(normalize=True)
    assert shares.max() < 0.2


# --- realism requirements -----------------------------------------------------------------------------


def test_counterfeits_priced_lower_but_overlapping(joined: pd.DataFrame) -> None:
    ratio = joined["price"] / _brand_level(joined)
    fake = joined["failure_types"].str.contains("counterfeit") & ratio.notna()
    genuine = ~joined["failure_types"].str.contains("counterfeit") & ratio.notna()
    assert ratio[fake].median() < 0.8 * ratio[genuine].median()
    assert (ratio[fake] >= 0.9).mean() >= 0.1  # some counterfeits are priced normally
    assert (ratio[genuine] < 0.7).mean() >= 0.03  # and some genuine goods are cheap
    assert auc(-ratio[fake | genuine].to_numpy(), fake[fake | genuine].to_numpy()) < 0.85


def test_easy_cues_are_imperfect(joined: pd.DataFrame) -> None:
    superlative = joined["title"].str.contains("最|第一|国家级|顶级")
    honest = joined["honesty"] > 0.6
    assert superlative[honest].mean() >= 0.05  # honest shops write 最 too
    cue = joined["title"].str.contains("|".join(map(re.escape, V.COUNTERFEIT_CUES))) | joined[
        "description"
    ].str.contains("|".join(map(re.escape, V.COUNTERFEIT_CUES)))
    fake = joined["failure_types"].str.contains("counterfeit")
    assert (~cue[fake]).mean() >= 0.3  # many counterfeits carry no (plain) cue
    assert cue[fake].mean() > 3 * cue[~fake].mean()


def test_evasion_tricks_appear_in_dishonest_texts(joined: pd.DataFrame) -> None:
    text = joined["title"] + joined["description"]
    tricks = {
        "zero-width": text.str.contains("[\u200b\u200c]"),
        "traditional": text.str.contains("國|級|頂|單|復|廠|貨"),
        "full-width ASCII": text.str.contains("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"),
        "spaced": text.str.contains(r"国 家 级|高 仿|复 刻|顶 级|原 单"),
        "off-platform contact": joined["description"].str.contains(r"微❤信|V信|QQ|扣扣|薇|威信|\+v|电话|私聊"),
    }
    honest = joined["honesty"] > 0.6
    for name, hit in tricks.items():
        assert hit.sum() >= 10, name
        assert hit[~honest].mean() > hit[honest].mean(), name
    assert not tricks["zero-width"][honest].any()


def test_missing_3c_where_compulsory(joined: pd.DataFrame) -> None:
    compulsory = joined["category"].isin(CCC_COMPULSORY)
    missing = joined["ccc_cert"].isna()
    assert 0.05 <= missing[compulsory].mean() <= 0.4
    dishonest = joined["honesty"] < 0.5
    assert missing[compulsory & dishonest].mean() > 2 * missing[compulsory & ~dishonest].mean()
    assert missing[~compulsory].mean() > 0.9
    shown = joined.loc[compulsory & ~missing, "ccc_cert"]
    valid = shown.str.fullmatch(r"20\d{14}")
    assert 0.7 < valid.mean() < 1.0  # a few show a malformed number


def test_titles_look_like_listing_titles(sim: Simulation) -> None:
    lst = sim.market.listings
    branded = lst[(lst["brand"].str.len() > 0) & ~lst["brand"].isin(["无品牌", "其他"])]
    assert (branded.apply(lambda r: r["title"].startswith(r["brand"]), axis=1)).mean() > 0.6
    assert lst["title"].str.len().between(6, 120).all()
    assert lst["title"].str.count(" ").median() >= 3
    assert lst["description"].str.count("。").median() >= 3
    assert lst["title"].nunique() > 0.9 * len(lst)


def test_registry_status_and_removals(sim: Simulation) -> None:
    m = sim.market.merchants.merge(sim.truth_merchants, on="merchant_id")
    assert set(m["registry_status"]) == {"normal", "abnormal_operations", "serious_violation", "revoked"}
    bad = (m["registry_status"] != "normal") | (m["removals_elsewhere"] > 0)
    assert bad[m["honesty"] < 0.5].mean() > 3 * bad[m["honesty"] >= 0.5].mean()
    assert m["credit_code"].dropna().map(is_valid_credit_code).all()
    assert m["credit_code"].isna().mean() < 0.15


def test_reappearing_sellers_are_clean_alone_but_linkable(sim: Simulation) -> None:
    m = sim.market.merchants.merge(sim.truth_merchants, on="merchant_id")
    back = m[m["reappeared"]]
    assert len(back) >= 30
    # clean on their own fields
    assert (back["removals_elsewhere"] == 0).all()
    assert (back["registry_status"] == "normal").all()
    flagged = m[(m["registry_status"] != "normal") | (m["removals_elsewhere"] > 0)]
    linked = 0
    for _, row in back.iterrows():
        same = flagged[
            (flagged["merchant_id"] != row["merchant_id"])
            & ((flagged["credit_code"] == row["credit_code"]) | (flagged["phone"] == row["phone"]))
        ]
        linked += bool(len(same))
        # a link never joins two different real sellers
        assert (same["identity_id"] == row["identity_id"]).all()
    assert linked / len(back) >= 0.8
    # both kinds of link occur, and some move to another platform
    old = m[~m["reappeared"]].set_index("identity_id")
    by_code = back["credit_code"].isin(old["credit_code"].dropna())
    assert by_code.any() and (~by_code).any()
    other_platform = [
        row["platform"] not in set(old.loc[[row["identity_id"]], "platform"]) for _, row in back.iterrows()
    ]
    assert 0.3 < np.mean(other_platform) < 0.9
    # no two identities share a code or a phone by chance
    for col in ("credit_code", "phone"):
        per = m.dropna(subset=[col]).groupby(col)["identity_id"].nunique()
        assert (per == 1).all(), col


def test_reappearing_shops_are_riskier(joined: pd.DataFrame) -> None:
    by = joined.groupby("reappeared")["p_fail"].mean()
    assert by[True] > by[False] + 0.15


# --- reviews ------------------------------------------------------------------------------------------


def test_reviews_are_real_train_split_texts(sim: Simulation) -> None:
    reviews = sim.market.reviews
    corpus = set(load_shopping_reviews("train")["review"].str.strip())
    texts = reviews["text"].drop_duplicates()
    assert texts.isin(corpus).all()
    assert (texts.map(split_of) == "train").all()
    # never from the hotel or book reviews
    hotel_books = set(load_shopping_reviews("train").query("cat in ['酒店', '书籍']")["review"])
    assert not texts.isin(hotel_books).any()


def test_reviews_follow_latent_quality(sim: Simulation) -> None:
    r = sim.market.reviews.merge(sim.truth_listings, on="listing_id")
    q = pd.qcut(r["p_fail"], 5, labels=False)
    rating = r.groupby(q)["rating"].mean()
    assert rating[0] - rating[4] >= 0.8
    assert rating[4] >= 2.0  # bad products still collect some positive reviews
    assert (r.loc[q == 0, "rating"] <= 2).mean() > 0.03  # and good ones some negative
    fake_words = r["text"].str.contains("假货|假的|不是正品")
    assert fake_words[r["p_counterfeit"] > 0.5].mean() > 5 * fake_words[r["p_counterfeit"] < 0.1].mean()


def test_reviews_match_category(sim: Simulation) -> None:
    r = sim.market.reviews.merge(sim.market.listings[["listing_id", "category"]], on="listing_id")
    phone = r[r["category"] == "智能手机"]["text"].str.contains("手机|屏|电池|系统").mean()
    cable = r[r["category"] == "电线电缆"]["text"].str.contains("手机|屏|电池|系统").mean()
    assert phone > 0.3 and cable < 0.05


def test_review_counts_are_skewed_by_sales(sim: Simulation) -> None:
    lst = sim.market.listings
    n = sim.market.reviews.groupby("listing_id").size().reindex(lst["listing_id"], fill_value=0)
    assert n.max() >= 5 * max(n.median(), 1)
    assert (n == 0).mean() > 0.02
    assert np.corrcoef(np.log1p(lst["sales"]), np.log1p(n.to_numpy()))[0, 1] > 0.4
    rating_ok = sim.market.reviews["rating"].between(1, 5).all()
    assert rating_ok
    dates = sim.market.reviews.merge(lst[["listing_id", "listed_date"]], on="listing_id")
    assert (dates["review_date"] >= dates["listed_date"]).all()


# --- lab results --------------------------------------------------------------------------------------


def test_lab_results_share_and_consistency(sim: Simulation) -> None:
    lab, lst, t = sim.market.lab_results, sim.market.listings, sim.truth_listings
    assert 0.06 <= len(lab) / len(lst) <= 0.08
    assert lab["listing_id"].is_unique
    assert set(lab["plan_id"]) == {p for p, _ in PLAN_ROUNDS}
    assert lab["inclusion_prob"].between(0, 1, inclusive="right").all()
    j = lab.merge(t, on="listing_id").merge(lst, on="listing_id")
    assert ((j["verdict"] == "fail") == j["fails"]).all()
    assert (j["failure_types_x"] == j["failure_types_y"]).all()
    assert (j["sampled_date"] > j["listed_date"]).all()
    fee = {c: f.lab_fee_yuan for c, f in read_lab_fees(paths.REFERENCE_DIR / LAB_FEES).items()}
    np.testing.assert_allclose(j["cost"], j["price"] + j["category"].map(fee), atol=0.01)


def test_lab_labels_carry_selection_bias_with_exact_inclusion_probabilities(sim: Simulation) -> None:
    lab, lst, t = sim.market.lab_results, sim.market.listings, sim.truth_listings
    fails = dict(zip(t["listing_id"], t["fails"], strict=True))
    naive, ht, truth = [], [], []
    sampled: set[str] = set()
    for plan, when in PLAN_ROUNDS:
        p = lab[lab["plan_id"] == plan]
        eligible = lst[(lst["listed_date"] < pd.Timestamp(when) - pd.Timedelta(days=14))]
        eligible = eligible[~eligible["listing_id"].isin(sampled)]
        y = (p["verdict"] == "fail").to_numpy()
        naive.append(y.mean())
        ht.append((y / p["inclusion_prob"]).sum() / len(eligible))  # Horvitz-Thompson
        truth.append(np.mean([fails[i] for i in eligible["listing_id"]]))
        # sum of 1/pi estimates the eligible population size
        assert 0.7 < (1 / p["inclusion_prob"]).sum() / len(eligible) < 1.3
        sampled |= set(p["listing_id"])
    # plans chose by risk: the naive labelled rate overstates the market's
    assert np.mean(naive) > np.mean(truth) + 0.05
    # weighting by the recorded inclusion probabilities removes the bias
    assert abs(np.mean(ht) - np.mean(truth)) < 0.06


# --- unobservable risk --------------------------------------------------------------------------------


def test_part_of_the_risk_is_unobservable(sim: Simulation) -> None:
    t = sim.truth_listings
    fails = t["fails"].to_numpy()
    full = auc(t["p_fail"].to_numpy(), fails)
    observable = auc(t["p_fail_observable"].to_numpy(), fails)
    assert full > observable + 0.02
    assert np.corrcoef(t["p_fail"], t["p_fail_observable"])[0, 1] < 0.97
    shares = sim.manifest["unobservable"]["logit_variance_hidden_share"]
    assert shares["quality"] > 0.25 and shares["false_advertising"] > 0.15


def test_riskiest_tail_is_well_signalled(sim: Simulation) -> None:
    t = sim.truth_listings
    p = t["p_fail"].to_numpy()
    for budget in (0.01, 0.05, 0.10):
        lift = captured_lift(t["p_fail_observable"].to_numpy(), p, budget)
        assert 0.8 <= lift < 1.0, budget
    # a random ranking captures nothing, the oracle everything
    rnd = np.random.default_rng(0).random(len(p))
    assert abs(captured_lift(rnd, p, 0.05)) < 0.1
    assert captured_lift(p, p, 0.05) == pytest.approx(1.0)


def test_phrase_lists_overlap_but_differ_from_the_product_lexicon() -> None:
    lexicon = pytest.importorskip("features.lexicon")
    from features.normalize import normalize_text

    efficacy = tuple(e for c in V.CATEGORIES for e in c.efficacy)
    kinds = (
        ("absolute_claim", V.ABSOLUTE_CLAIMS),
        ("counterfeit_cue", V.COUNTERFEIT_CUES),
        ("efficacy_claim", efficacy),
    )
    for kind, ours in kinds:
        phrases, _ = lexicon.read_lexicon_file(lexicon.LEXICON_DIR / f"{kind}.txt")
        known = {normalize_text(p) for p in phrases}
        covered = [p for p in ours if any(k and k in normalize_text(p) for k in known)]
        assert 0.2 * len(ours) <= len(covered) <= 0.8 * len(ours), kind


# --- determinism, files, CLI --------------------------------------------------------------------------


def test_deterministic_per_seed() -> None:
    a, b, c = simulate(80, 1200, seed=5), simulate(80, 1200, seed=5), simulate(80, 1200, seed=6)
    for name in ("merchants", "listings", "reviews", "lab_results"):
        pd.testing.assert_frame_equal(getattr(a.market, name), getattr(b.market, name))
    pd.testing.assert_frame_equal(a.truth_listings, b.truth_listings)
    pd.testing.assert_frame_equal(a.truth_merchants, b.truth_merchants)
    assert not a.market.listings["title"].equals(c.market.listings["title"])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_writes_a_market_that_loads_and_validates(tmp_path: Path, fmt: str) -> None:
    from cli.main import app

    out = tmp_path / "m"
    res = CliRunner().invoke(
        app, ["simulate", "--seed", "3", "--merchants", "60", "--listings", "900", "--out", str(out), "--format", fmt]
    )
    assert res.exit_code == 0, res.output
    market = load_market(out)
    assert len(market.merchants) == 60 and len(market.listings) == 900
    assert len(market.reviews) > 0 and len(market.lab_results) > 0
    gl = pd.read_parquet(out / "ground_truth_listings.parquet")
    gm = pd.read_parquet(out / "ground_truth_merchants.parquet")
    assert list(gl["listing_id"]) == list(market.listings["listing_id"])
    assert list(gm["merchant_id"]) == list(market.merchants["merchant_id"])
    expected = {"listing_id", "p_fail", "p_counterfeit", "p_false_advertising", "p_quality", "p_three_no", "fails"}
    assert expected <= set(gl.columns)
    assert {"merchant_id", "identity_id", "honesty", "complaint_propensity"} <= set(gm.columns)
    assert gl["p_fail"].between(0, 1).all() and gm["honesty"].between(0, 1).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["sizes"]["listings"] == 900
    assert manifest["rates"]["fail_realised"] == pytest.approx(gl["fails"].mean())
    assert "TRAIN" in manifest["review_source"]
    # text survives the file format unchanged, evasion characters included
    sim = simulate(60, 900, seed=3)
    assert list(market.listings["title"]) == list(sim.market.listings["title"].str.strip())


@pytest.mark.parametrize(("merchants", "listings"), [(1, 1), (100, 50)])
def test_tiny_and_shop_heavy_markets_still_load(tmp_path: Path, merchants: int, listings: int) -> None:
    from training.simulator import write_simulation

    sim = simulate(merchants, listings, seed=1)
    write_simulation(sim, tmp_path)
    market = load_market(tmp_path)
    assert (len(market.merchants), len(market.listings)) == (merchants, listings)
    json.loads((tmp_path / "manifest.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in manifest"))
