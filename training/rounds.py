"""Proof by simulation that the planner's estimates are honest and its targeting pays.

`run_rounds(config)` simulates markets (`training.simulator`) and, for each market, repeats rounds of
plan → lab results → retrain → plan. In each round a *real* model is fitted on the lab results seen so
far (the market's own biased history plus earlier rounds' purchases) and scores every listing; the
planner turns those scores into a plan design, and many plans are drawn from it (different random
starts) against independently redrawn lab outcomes.

What is estimated, and what coverage means: in each replication every listing gets a fresh lab outcome
drawn from its true failure probabilities (each failure type independently with its `p_<type>`; a
listing fails when any type does, which is how the simulator defines `p_fail`). The *true rate* of that
replication is the finite-population share of failing listings in the plan's frame, the estimand the
design-based intervals target; coverage is the share of plans whose 95% interval contains it. The
superpopulation mean of `p_fail` is reported alongside for information.

Comparisons in every plan at the same budget: the targeted arm's hit rate (failures per purchase), the
random arm's, an all-random plan's (the random design with the whole budget) and the oracle's (the same
planner fed the true `p_fail`). Lift = failures found by the plan / failures found by the all-random plan.

Exploration (`PlanConfig.explore`): the plan spends a share of its targeted budget on the listings the
model is least sure of; their results join the next round's labels like every purchase's. `compare_explore`
runs the same study (the same markets, lab outcomes and plan starts) once per share, so the per-round hit
rates (`hit_rate_plan`: all purchases; `hit_rate_targeted`: the risk-ranked ones; `hit_rate_explore`) and
the refitted model's AUC and expected captured lift at 5% (`captured_lift_5`, against the true `p_fail`)
can be compared round by round. The oracle stays the plain planner on the true `p_fail`. ``world="b"``
simulates market B (`training.worlds.market_b`) instead of the product's own simulator.

Models: ``"team"`` fits the team's calibrated lab-failure model (`training.fit.listing_design` and
`fit_listing_models`: the registered bundle's feature pipeline and LightGBM; review model off, the other
risks skipped to keep the study fast); ``"own"`` is a documented LightGBM on observable listing,
merchant, linked-identity and review columns (`observable_features`), about 20x faster, asked for by
name. There is no silent fallback: if the model asked for cannot be fitted, the study fails. Both are
fitted on observed, selection-biased lab results only, never on the ground truth.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from core.reference import lab_fees
from features.identity import link
from features.market import Market
from sampling.candidates import LabFees, plan_candidates
from sampling.estimation import estimate
from sampling.plan_config import DEFAULT_EXPLORE, EXPLORE_HELP
from sampling.planner import PlanConfig, PlanDesign, design_plan
from training import metrics as M

logger = logging.getLogger(__name__)

ModelKind = Literal["team", "own"]
World = Literal["a", "b"]
Progress = Callable[[str], None]
_TYPES = ("counterfeit", "false_advertising", "quality", "three_no")


class RoundsConfig(BaseModel):
    """One simulation study."""

    plans: int = Field(200, ge=1, description="plans drawn in all, spread over markets x rounds")
    seed: int = 0
    markets: int = Field(2, ge=1)
    rounds: int = Field(3, ge=1, description="plan -> lab results -> retrain cycles per market")
    n_merchants: int = Field(1000, ge=10)
    n_listings: int = Field(8000, ge=100)
    budget: float = Field(400_000, gt=0)
    epsilon: float = Field(0.5, ge=0, lt=1)
    explore: float = Field(default=DEFAULT_EXPLORE, ge=0, le=1, description=EXPLORE_HELP)
    per_merchant_cap: int | None = 2
    model: ModelKind = "team"
    world: World = Field(default="a", description="a: the product's simulator; b: market B (training.worlds.market_b)")


# --- the quick model: LightGBM on observable columns -- ------------------------------------------------

_ABS = re.compile(r"最|第一|国家级|顶级|极品|史上|绝对|100%|百分百|全网最低|独家")
_EFFICACY = re.compile(r"根治|治疗|疗效|特效|抗癌|防癌|消炎|杀菌|防辐射|永不|无副作用|包治|增高|美白")
_OFFSITE = re.compile(r"微信|微 信|VX|vx|V信|加V|威信|QQ|qq|扣扣|私聊|私信|联系客服")
_FAKE = re.compile(r"原单|高仿|A货|a货|复刻|尾单|同厂|仿品|精仿|超A|一比一|1:1|原厂货|工厂直")
_MAKER = re.compile(r"厂|生产|制造|厂家|执行标准|GB|地址")
_REVIEW_FAKE = re.compile(r"假货|假的|不是正品|仿品|山寨|假冒|水货")


def _identity_components(merchants: pd.DataFrame) -> NDArray[np.int64]:
    """Shops linked by a shared credit code or phone, as component labels."""
    records = list(
        zip(merchants["credit_code"].tolist(), merchants["phone"].tolist(), [None] * len(merchants), strict=True)
    )
    return np.asarray(link(records), dtype=np.int64)


def observable_features(market: Market) -> pd.DataFrame:
    """A documented feature set any regulator could compute from the four tables (no ground truth)."""
    lst = market.listings.reset_index(drop=True)
    mer = market.merchants.reset_index(drop=True)
    comp = _identity_components(mer)
    bad = (mer["registry_status"].astype(str) != "normal").to_numpy()
    removals = mer["removals_elsewhere"].to_numpy(float)
    mframe = pd.DataFrame({"comp": comp, "bad": bad, "rem": removals})
    grp = mframe.groupby("comp")
    mer_f = pd.DataFrame(
        {
            "m_bad_status": bad.astype(float),
            "m_removals": removals,
            "m_no_code": mer["credit_code"].isna().to_numpy(float),
            "m_no_phone": mer["phone"].isna().to_numpy(float),
            "m_age_days": (market_date(market) - pd.to_datetime(mer["opened_date"])).dt.days.to_numpy(float),
            "m_platform": pd.factorize(mer["platform"].astype(str), sort=True)[0],
            # what linking shops by credit code / phone reveals beyond the shop's own fields
            "id_shops": grp["bad"].transform("size").to_numpy(float),
            "id_bad_status": grp["bad"].transform("max").to_numpy(float),
            "id_removals": grp["rem"].transform("sum").to_numpy(float),
        },
        index=mer["merchant_id"].to_numpy(),
    )
    price = lst["price"].to_numpy(float)
    brand = lst["brand"].fillna("").astype(str)
    med_cat = lst.groupby("category")["price"].transform("median").to_numpy(float)
    med_brand = lst.groupby(["category", brand])["price"].transform("median").to_numpy(float)
    text = lst["title"].fillna("").astype(str) + " " + lst["description"].fillna("").astype(str)
    ccc = lst["ccc_cert"].notna()
    f = pd.DataFrame(
        {
            "log_price": np.log(price),
            "log_price_vs_brand": np.log(price / med_brand),
            "log_price_vs_category": np.log(price / med_cat),
            "log_sales": np.log1p(lst["sales"].to_numpy(float)),
            "no_ccc": (~ccc).to_numpy(float),
            "category_ccc_share": ccc.groupby(lst["category"]).transform("mean").to_numpy(float),
            "no_brand": brand.isin(["", "无品牌", "其他"]).to_numpy(float),
            "n_absolute": text.str.count(_ABS.pattern).to_numpy(float),
            "efficacy": text.str.contains(_EFFICACY.pattern).to_numpy(float),
            "offsite": text.str.contains(_OFFSITE.pattern).to_numpy(float),
            "fake_cue": text.str.contains(_FAKE.pattern).to_numpy(float),
            "no_maker": (~lst["description"].fillna("").str.contains(_MAKER.pattern)).to_numpy(float),
            "title_len": lst["title"].str.len().to_numpy(float),
            "age_days": (market_date(market) - pd.to_datetime(lst["listed_date"])).dt.days.to_numpy(float),
            "category": pd.factorize(lst["category"].astype(str), sort=True)[0],
            "m_listings": lst.groupby("merchant_id")["listing_id"].transform("size").to_numpy(float),
        }
    )
    f = pd.concat([f, mer_f.loc[lst["merchant_id"].to_numpy()].reset_index(drop=True)], axis=1)
    rev = market.reviews
    if len(rev):
        r = pd.DataFrame(
            {
                "listing_id": rev["listing_id"].to_numpy(),
                "low": (rev["rating"].to_numpy(float) <= 2),
                "fake": rev["text"].astype(str).str.contains(_REVIEW_FAKE.pattern).to_numpy(),
                "rating": rev["rating"].to_numpy(float),
            }
        ).groupby("listing_id")
        agg = pd.DataFrame(
            {"r_n": r.size(), "r_mean": r["rating"].mean(), "r_low": r["low"].mean(), "r_fake": r["fake"].mean()}
        )
        f = pd.concat([f, agg.reindex(lst["listing_id"].to_numpy()).reset_index(drop=True)], axis=1)
        f["r_n"] = f["r_n"].fillna(0.0)
    return f


def market_date(market: Market) -> pd.Timestamp:
    """The market's 'today': the latest listing date."""
    return pd.Timestamp(pd.to_datetime(market.listings["listed_date"]).max())


def fit_own_model(market: Market, *, seed: int = 0) -> NDArray[np.float64]:
    """Fit LightGBM on the market's lab results (latest verdict per listing) and score every listing."""
    import lightgbm as lgb

    X = observable_features(market)
    lab = market.lab_results
    y_by_id = (lab["verdict"].astype(str) == "fail").groupby(lab["listing_id"].astype(str)).last()
    ids = market.listings["listing_id"].astype(str)
    has = ids.isin(y_by_id.index).to_numpy()
    y = y_by_id.reindex(ids[has]).to_numpy(float)
    rng = np.random.default_rng(seed)
    valid = rng.random(int(has.sum())) < 0.2
    params = {
        "objective": "binary",
        "learning_rate": 0.03,
        "num_leaves": 7,
        "min_data_in_leaf": 15,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 2.0,
        "verbose": -1,
        "seed": seed,
        "num_threads": 1,
    }
    Xl = X[has].reset_index(drop=True)
    train_set = lgb.Dataset(Xl[~valid], y[~valid], categorical_feature=["category"], free_raw_data=False)
    valid_set = lgb.Dataset(Xl[valid], y[valid], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=600,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return np.asarray(booster.predict(X, num_iteration=booster.best_iteration), dtype=np.float64)


def fit_team_model(market: Market, *, seed: int = 0) -> NDArray[np.float64]:
    """Fit the team's calibrated lab-failure model (`training.fit`'s listing pipeline and LightGBM, the
    code path of the registered bundle; review model off, other risks skipped) and score every listing."""
    from training.config import SplitConfig, TrainConfig
    from training.fit import fit_listing_models, listing_design

    # the study scores against ground truth, so the team's held-out evaluation split only costs labels:
    # keep it at 5% (the config requires one); everything else is the team's default
    config = TrainConfig(seed=seed, review_model=None, split=SplitConfig(holdout_share=0.05))
    design = listing_design(market, config, review_scorer=None)
    model = fit_listing_models(design, config, risks=("lab_fail",), progress=logger.debug)["lab_fail"]
    p = pd.Series(model.predict_proba(design.X), index=design.frame["listing_id"].astype(str).to_numpy())
    return np.asarray(p.reindex(market.listings["listing_id"].astype(str)).to_numpy(float), dtype=np.float64)


def resolve_model(kind: ModelKind) -> tuple[Callable[..., NDArray[np.float64]], str]:
    """The fitting function for the study and its name. No fallback: a model that cannot be fitted fails
    the study, so a report never describes a model other than the one asked for."""
    if kind == "own":
        return fit_own_model, "own LightGBM on observable columns (training.rounds.observable_features)"
    return fit_team_model, "team lab_fail model (training.fit.listing_design + fit_listing_models)"


# --- the study --------------------------------------------------------------------------------------


@dataclass
class PlanRecord:
    """One simulated plan's outcome."""

    market: int
    round: int
    rep: int
    truth: float
    truth_p_mean: float
    ht: float
    ht_low: float
    ht_high: float
    hajek: float
    hajek_low: float
    hajek_high: float
    naive_all: float
    naive_targeted: float
    truth_three_no: float
    ht_three_no: float
    three_no_low: float
    three_no_high: float
    n_targeted: int
    fails_targeted: int
    n_explored: int
    fails_explored: int
    n_plan: int
    n_random_draws: int
    fails_random: int
    fails_plan: int
    cost: float
    n_all_random: int
    fails_all_random: int
    n_oracle: int
    fails_oracle: int
    cat_covered: int
    cat_total: int


@dataclass
class RoundsResult:
    """The per-plan records, per-round summaries and the headline numbers."""

    config: RoundsConfig
    model: str
    records: list[PlanRecord]
    rounds: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


def _draw_outcomes(truth: pd.DataFrame, rng: np.random.Generator) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    n = len(truth)
    types = {t: rng.random(n) < truth[f"p_{t}"].to_numpy(float) for t in _TYPES}
    fails = np.logical_or.reduce([types[t] for t in _TYPES])
    return fails, types["three_no"]


def _auc(score: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    from training.simulator import auc

    return float(auc(score, y))


def _cell(
    *,
    design: PlanDesign,
    oracle: PlanDesign,
    all_random: PlanDesign,
    truth: pd.DataFrame,
    reps: int,
    seed: int,
    market_i: int,
    round_i: int,
    order: NDArray[np.int64],
) -> tuple[list[PlanRecord], pd.DataFrame | None]:
    """Draw `reps` plans from one design; return their records and the first plan's lab results."""
    records: list[PlanRecord] = []
    first_labs: pd.DataFrame | None = None
    t_or = oracle.frame["targeted"].to_numpy(bool)
    for rep in range(reps):
        rng = np.random.default_rng([seed, market_i, round_i, rep, 1])
        fails_m, three_m = _draw_outcomes(truth, rng)  # market order
        fails, three = fails_m[order], three_m[order]  # design frame order (same for all three designs)
        plan_seed = int(np.random.default_rng([seed, market_i, round_i, rep, 2]).integers(0, 2**31))
        plan = design.draw(plan_seed, plan_id=f"SIM-{market_i}-{round_i}-{rep}")
        fr = plan.frame
        sel = fr["selected"].to_numpy(bool)
        ex = fr["explored"].to_numpy(bool)
        tg = fr["targeted"].to_numpy(bool) & ~ex  # the risk-ranked targets; the explored ones are counted apart
        dr = fr["drawn_random"].to_numpy(bool)
        outcomes = pd.DataFrame({"listing_id": fr["listing_id"][sel], "failed": fails[sel], "three_no": three[sel]})
        rep_est = estimate(plan, outcomes)
        frame_mask = fr["pi"].to_numpy() > 0
        truth_rate = float(fails[frame_mask].mean())
        allr = all_random.draw(plan_seed)
        ar = allr.frame["drawn_random"].to_numpy(bool)
        r_all, r3 = rep_est.get("fail"), rep_est.get("three_no")
        cat_cov, cat_tot = _category_coverage(rep_est, fails, fr["category"].to_numpy(), frame_mask)
        records.append(
            PlanRecord(
                market=market_i,
                round=round_i,
                rep=rep,
                truth=truth_rate,
                truth_p_mean=float(truth["p_fail"].mean()),
                ht=float(r_all.ht if r_all.ht is not None else math.nan),
                ht_low=r_all.ht_low,
                ht_high=r_all.ht_high,
                hajek=float(r_all.hajek if r_all.hajek is not None else math.nan),
                hajek_low=r_all.hajek_low,
                hajek_high=r_all.hajek_high,
                naive_all=float(fails[sel].mean()),
                naive_targeted=float(fails[tg].mean()) if tg.any() else math.nan,
                truth_three_no=float(three[frame_mask].mean()),
                ht_three_no=float(r3.ht if r3.ht is not None else math.nan),
                three_no_low=r3.ht_low,
                three_no_high=r3.ht_high,
                n_targeted=int(tg.sum()),
                fails_targeted=int(fails[tg].sum()),
                n_explored=int(ex.sum()),
                fails_explored=int(fails[ex].sum()),
                n_plan=int(sel.sum()),
                n_random_draws=int(dr.sum()),
                fails_random=int(fails[dr].sum()),
                fails_plan=int(fails[sel].sum()),
                cost=plan.summary.total_cost,
                n_all_random=int(ar.sum()),
                fails_all_random=int(fails[ar].sum()),
                n_oracle=int(t_or.sum()),
                fails_oracle=int(fails[t_or].sum()),
                cat_covered=cat_cov,
                cat_total=cat_tot,
            )
        )
        if rep == 0:
            first_labs = _lab_results(plan, fails[sel], three[sel])
    return records, first_labs


def _category_coverage(
    est: Any, fails: NDArray[np.bool_], cats: NDArray[Any], frame_mask: NDArray[np.bool_]
) -> tuple[int, int]:
    """How many per-category failure-rate intervals hold the category's realised rate, of how many."""
    covered = total = 0
    for r in est.rates:
        if r.outcome == "fail" and r.domain != "all":
            tr = float(fails[frame_mask & (cats == r.domain)].mean())
            total += 1
            covered += int(r.ht_low <= tr <= r.ht_high)
    return covered, total


def _lab_results(plan: Any, fails: NDArray[np.bool_], three: NDArray[np.bool_]) -> pd.DataFrame:
    """The plan's purchases as lab results (what the next round learns from), outcomes in purchase order."""
    fr = plan.frame
    sel = fr["selected"].to_numpy(bool)
    return pd.DataFrame(
        {
            "listing_id": fr["listing_id"][sel].to_numpy(),
            "plan_id": plan.plan_id,
            "verdict": np.where(fails, "fail", "pass"),
            "failure_types": np.where(fails, np.where(three, "three_no", "quality"), ""),
            "cost": fr["cost"][sel].to_numpy(),
            "inclusion_prob": fr["pi"][sel].to_numpy(),
        }
    )


def _designs(
    cands: pd.DataFrame, truth: pd.DataFrame, config: RoundsConfig
) -> tuple[PlanDesign, PlanDesign, PlanDesign]:
    """The round's plan design, the oracle's (the same planner on the true p_fail, no exploration: the best
    targeting there is) and the all-random plan's, over the same candidates (so in the same frame order)."""
    pcfg = PlanConfig(
        budget=config.budget,
        epsilon=config.epsilon,
        explore=config.explore,
        per_merchant_cap=config.per_merchant_cap,
        seed=config.seed,
    )
    design = design_plan(cands, pcfg)
    oracle = design_plan(cands.assign(p_fail=truth["p_fail"].to_numpy(float)), pcfg.model_copy(update={"explore": 0}))
    all_random = design_plan(
        cands, PlanConfig(budget=config.budget, epsilon=0.999999, per_merchant_cap=None, seed=config.seed)
    )
    return design, oracle, all_random


def run_rounds(config: RoundsConfig, *, progress: Progress | None = None) -> RoundsResult:
    """Run the study: markets x rounds, `plans` plan draws in all; see the module docstring."""
    from scipy.stats import spearmanr

    from training.crossworld import make_world

    step = progress or (lambda msg: logger.info(msg))
    t0 = time.perf_counter()
    cells = config.markets * config.rounds
    reps = max(1, math.ceil(config.plans / cells))
    fees = LabFees(lab_fees())
    records: list[PlanRecord] = []
    round_rows: list[dict[str, Any]] = []
    fit, model_name = resolve_model(config.model)
    for mi in range(config.markets):
        step(f"market {mi + 1}/{config.markets}: simulating {config.n_listings:,} listings of world {config.world}")
        world = make_world(
            config.world, merchants=config.n_merchants, listings=config.n_listings, seed=config.seed * 1000 + mi
        )
        market = world.market
        truth = world.truth.set_index("listing_id").reindex(market.listings["listing_id"]).reset_index()
        lst = market.listings
        labs = market.lab_results.copy()
        today = market_date(market)
        for ri in range(config.rounds):
            step(f"market {mi + 1}, round {ri + 1}/{config.rounds}: fitting on {len(labs):,} lab results")
            seen = Market(merchants=market.merchants, listings=lst, reviews=market.reviews, lab_results=labs)
            p_hat = fit(seen, seed=config.seed + 17 * ri + mi)
            scores = pd.DataFrame({"listing_id": lst["listing_id"], "p_fail": np.clip(p_hat, 0, 1)})
            cands = plan_candidates(lst, market.merchants, scores, lab_fees=fees, lab_results=labs).frame
            design, oracle, all_random = _designs(cands, truth, config)
            pos = pd.Series(np.arange(len(lst)), index=lst["listing_id"].to_numpy())
            order = pos.loc[design.frame["listing_id"].to_numpy()].to_numpy()
            for d in (oracle, all_random):  # the same candidates give the same frame order
                assert (d.frame["listing_id"].to_numpy() == design.frame["listing_id"].to_numpy()).all()
            recs, new_labs = _cell(
                design=design,
                oracle=oracle,
                all_random=all_random,
                truth=truth,
                reps=reps,
                seed=config.seed,
                market_i=mi,
                round_i=ri,
                order=order,
            )
            records.extend(recs)
            fails_true = truth["fails"].to_numpy(float)
            round_rows.append(
                {
                    "market": mi,
                    "round": ri,
                    "labels": int(len(labs)),
                    "spearman_vs_true_p": round(float(spearmanr(p_hat, truth["p_fail"]).statistic), 4),
                    "auc_vs_realised": round(_auc(p_hat, fails_true), 4),
                    "captured_lift_5": round(M.expected_captured_lift(p_hat, truth["p_fail"].to_numpy(float), 0.05), 4),
                    **_summarise(recs),
                }
            )
            if new_labs is not None:
                new_labs["sampled_date"] = today + timedelta(days=30 * (ri + 1))
                labs = pd.concat([labs, new_labs[list(labs.columns)]], ignore_index=True)
    result = RoundsResult(config=config, model=model_name, records=records, rounds=round_rows)
    result.summary = {
        **_summarise(records),
        "plans": len(records),
        "market_fail_rate": float(np.mean([r.truth for r in records])),
        "model": model_name,
        "rounds_detail": _by_round(round_rows),
        # what exploration is for: the rounds after the first, planned with models refitted on its labels
        "later_rounds": _summarise([r for r in records if r.round > 0]) if config.rounds > 1 else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "config": config.model_dump(),
    }
    return result


def _summarise(recs: list[PlanRecord]) -> dict[str, Any]:
    def arr(name: str) -> NDArray[np.float64]:
        return np.array([getattr(r, name) for r in recs], dtype=float)

    truth, ht, hj = arr("truth"), arr("ht"), arr("hajek")
    cover = (arr("ht_low") <= truth) & (truth <= arr("ht_high"))
    n = len(recs)
    t3 = arr("truth_three_no")
    hr_t = arr("fails_targeted").sum() / max(arr("n_targeted").sum(), 1)
    hr_x = arr("fails_explored").sum() / arr("n_explored").sum() if arr("n_explored").sum() else None
    hr_p = arr("fails_plan").sum() / max(arr("n_plan").sum(), 1)
    hr_r = arr("fails_random").sum() / max(arr("n_random_draws").sum(), 1)
    hr_o = arr("fails_oracle").sum() / max(arr("n_oracle").sum(), 1)
    hr_a = arr("fails_all_random").sum() / max(arr("n_all_random").sum(), 1)
    return {
        "coverage": round(float(cover.mean()), 4),
        "coverage_mc_se": round(float(np.sqrt(max(cover.mean() * (1 - cover.mean()), 1e-12) / n)), 4),
        "bias": round(float(np.mean(ht - truth)), 5),
        "bias_mc_se": round(float(np.std(ht - truth, ddof=1) / np.sqrt(n)) if n > 1 else math.nan, 5),
        "rmse": round(float(np.sqrt(np.mean((ht - truth) ** 2))), 5),
        "mean_ci_halfwidth": round(float(np.mean((arr("ht_high") - arr("ht_low")) / 2)), 5),
        "coverage_hajek": round(float(((arr("hajek_low") <= truth) & (truth <= arr("hajek_high"))).mean()), 4),
        "bias_hajek": round(float(np.nanmean(hj - truth)), 5),
        "coverage_superpopulation": round(
            float(((arr("ht_low") <= arr("truth_p_mean")) & (arr("truth_p_mean") <= arr("ht_high"))).mean()), 4
        ),
        "naive_bias": round(float(np.nanmean(arr("naive_targeted") - truth)), 5),
        "naive_all_bias": round(float(np.mean(arr("naive_all") - truth)), 5),
        "coverage_three_no": round(float(((arr("three_no_low") <= t3) & (t3 <= arr("three_no_high"))).mean()), 4),
        "bias_three_no": round(float(np.mean(arr("ht_three_no") - t3)), 5),
        "coverage_by_category": round(float(arr("cat_covered").sum() / max(arr("cat_total").sum(), 1)), 4),
        "hit_rate_plan": round(float(hr_p), 4),
        "hit_rate_targeted": round(float(hr_t), 4),
        "hit_rate_explore": None if hr_x is None else round(float(hr_x), 4),
        "hit_rate_random": round(float(hr_r), 4),
        "hit_rate_oracle": round(float(hr_o), 4),
        "hit_rate_all_random": round(float(hr_a), 4),
        "targeted_vs_random": round(float(hr_t / hr_r), 3) if hr_r > 0 else None,
        "lift": round(float(arr("fails_plan").sum() / max(arr("fails_all_random").sum(), 1)), 3),
        "oracle_lift": round(float(arr("fails_oracle").sum() / max(arr("fails_all_random").sum(), 1)), 3),
        "mean_cost": round(float(arr("cost").mean()), 1),
    }


def _by_round(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = (
        "labels",
        "auc_vs_realised",
        "captured_lift_5",
        "hit_rate_plan",
        "hit_rate_targeted",
        "hit_rate_explore",
        "hit_rate_random",
        "hit_rate_oracle",
        "coverage",
        "bias",
        "lift",
    )
    df = pd.DataFrame(rows)
    out = []
    for ri, g in df.groupby("round"):
        means = {k: float(pd.to_numeric(g[k]).mean()) for k in keys}  # no exploration: its hit rate is None
        out.append({"round": int(str(ri)), **{k: None if math.isnan(v) else round(v, 4) for k, v in means.items()}})
    return out


def compare_explore(
    config: RoundsConfig, shares: list[float], *, progress: Progress | None = None
) -> dict[float, RoundsResult]:
    """The same study (same markets, lab outcomes and plan draws) once per exploration share."""
    step = progress or (lambda msg: logger.info(msg))
    out: dict[float, RoundsResult] = {}
    for share in shares:

        def tagged(msg: str, x: float = share) -> None:
            step(f"explore {x:g}: {msg}")

        out[share] = run_rounds(config.model_copy(update={"explore": share}), progress=tagged)
    return out


__all__ = [
    "RoundsConfig",
    "RoundsResult",
    "PlanRecord",
    "run_rounds",
    "compare_explore",
    "observable_features",
    "fit_own_model",
    "fit_team_model",
    "resolve_model",
]
