"""Horvitz–Thompson / Hájek estimation from a plan: exact unbiasedness by enumerating every draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sampling.estimation import LabOutcome, estimate, outcomes_from_lab_results
from sampling.planner import PlanConfig, make_plan, topup_mask


def market(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Candidates plus one fixed realisation of every listing's lab outcome (the finite population)."""
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 25, n)
    p = np.clip(rng.beta(1.2, 2.0, n), 0.01, 0.99)
    cands = pd.DataFrame(
        {
            "listing_id": [f"L{i:03d}" for i in range(n)],
            "merchant_id": [f"M{x:02d}" for x in m],
            "category": np.array(["服装", "手机", "水果"])[rng.integers(0, 3, n)],
            "cost": np.round(rng.lognormal(5.5, 0.5, n) + 150, 2),
            "p_fail": p,
        }
    )
    fails = pd.Series(rng.random(n) < p, index=cands["listing_id"])
    three_no = pd.Series(fails.to_numpy() & (rng.random(n) < 0.4), index=cands["listing_id"])
    return cands, fails, three_no


def outcomes_for(plan, fails: pd.Series, three_no: pd.Series) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    ids = plan.frame.loc[plan.frame["selected"], "listing_id"]
    return pd.DataFrame({"listing_id": ids, "failed": fails[ids].to_numpy(), "three_no": three_no[ids].to_numpy()})


@pytest.mark.parametrize("explore", [0.0, 0.4])
def test_ht_is_exactly_unbiased_over_every_possible_draw(explore: float) -> None:
    cands, fails, three_no = market()
    plan = make_plan(cands, PlanConfig(budget=6_000, epsilon=0.4, explore=explore, per_merchant_cap=2))
    # explored listings are certainty units: their results enter the estimate exactly, as the targets' do
    assert plan.frame["explored"].any() == (explore > 0)
    frame = plan.frame
    targeted = frame["targeted"].to_numpy(bool)
    draws = plan.enumerate_random_draws()
    assert len(draws) > 10
    # the top-up's purchases are bought and reported, and the estimate leaves them to the random arm
    assert frame["topup_limit"].notna().any()
    n_topup = 0
    expected: dict[tuple[str, str], float] = {}
    for prob, drawn in draws:
        top = topup_mask(frame, drawn) & ~drawn
        n_topup += int(top.sum())
        f = frame.assign(drawn_random=drawn, topup=top, selected=drawn | targeted | top)
        ids = f.loc[f["selected"], "listing_id"]
        out = pd.DataFrame({"listing_id": ids, "failed": fails[ids].to_numpy(), "three_no": three_no[ids].to_numpy()})
        for r in estimate(f, out).rates:
            expected[(r.outcome, r.domain)] = expected.get((r.outcome, r.domain), 0.0) + prob * r.ht
    assert n_topup > 0
    cats = frame.set_index("listing_id")["category"]
    for (outcome, domain), value in expected.items():
        y = fails if outcome == "fail" else three_no
        truth = y.mean() if domain == "all" else y[cats[cats == domain].index].mean()
        assert value == pytest.approx(truth, abs=1e-9), (outcome, domain)


def test_variance_estimator_tracks_the_exact_design_variance() -> None:
    cands, fails, three_no = market(n=400, seed=3)
    plan = make_plan(cands, PlanConfig(budget=30_000, epsilon=0.5, per_merchant_cap=3))
    frame, targeted = plan.frame, plan.frame["targeted"].to_numpy(bool)
    truth = fails.mean()
    sq_err, est_var = 0.0, 0.0
    for prob, drawn in plan.enumerate_random_draws():
        f = frame.assign(drawn_random=drawn, selected=drawn | targeted)
        ids = f.loc[f["selected"], "listing_id"]
        r = estimate(f, pd.DataFrame({"listing_id": ids, "failed": fails[ids].to_numpy()}), by_category=False).get()
        sq_err += prob * (r.ht - truth) ** 2
        est_var += prob * (r.ht_se or 0.0) ** 2
    # approximate, but never far off: the systematic design has no unbiased variance estimator
    assert 0.75 < est_var / sq_err < 1.6


def test_many_draw_coverage_is_near_nominal() -> None:
    cands, _, _ = market(n=600, seed=5)
    plan0 = make_plan(cands, PlanConfig(budget=40_000, epsilon=0.5, per_merchant_cap=3))
    design = plan0.design
    rng = np.random.default_rng(0)
    p = cands.set_index("listing_id")["p_fail"]
    reps, covered, errors = 300, 0, []
    for s in range(reps):
        fails = pd.Series(rng.random(len(p)) < p.to_numpy(), index=p.index)
        plan = design.draw(s)
        r = estimate(plan, outcomes_for(plan, fails, fails & False), by_category=False).get()
        covered += r.ht_low <= fails.mean() <= r.ht_high
        errors.append(r.ht - fails.mean())
    # tolerances from the Monte-Carlo error: 4 standard errors of a binomial share and of a mean
    mc = 4 * np.sqrt(0.95 * 0.05 / reps)
    assert 0.95 - mc < covered / reps <= 1.0
    assert abs(np.mean(errors)) < 4 * np.std(errors) / np.sqrt(reps)


def test_naive_mean_is_biased_by_targeting_and_census_is_exact() -> None:
    cands, fails, three_no = market(n=200, seed=1)
    fails = pd.Series(cands["p_fail"].to_numpy() > 0.5, index=cands["listing_id"])  # risk scores are right
    plan = make_plan(cands, PlanConfig(budget=20_000, epsilon=0.3, per_merchant_cap=3, seed=2))
    r = estimate(plan, outcomes_for(plan, fails, three_no)).get()
    assert r.naive is not None and r.naive > fails.mean() + 0.1
    assert r.ht_low <= r.ht <= r.ht_high
    census = make_plan(cands, PlanConfig(budget=10_000_000, epsilon=0.0))
    rc = estimate(census, outcomes_for(census, fails, three_no)).get()
    assert rc.ht == pytest.approx(fails.mean()) and rc.ht_se == 0.0 and rc.ht_low == rc.ht_high


def test_small_domain_with_all_passes_gets_an_honest_interval() -> None:
    cands, fails, three_no = market(n=300, seed=2)
    fails[:] = False
    three_no[:] = False
    plan = make_plan(cands, PlanConfig(budget=15_000, epsilon=0.5, per_merchant_cap=3))
    rep = estimate(plan, outcomes_for(plan, fails, three_no))
    for r in rep.rates:
        if r.n_random >= 2:
            assert r.ht == 0.0 and r.ht_low == 0.0 and r.ht_high > 0.0  # not a zero-width interval


def test_outcome_inputs_and_missing_results() -> None:
    cands, fails, three_no = market()
    plan = make_plan(cands, PlanConfig(budget=6_000, epsilon=0.4, per_merchant_cap=2))
    out = outcomes_for(plan, fails, three_no)
    typed = [LabOutcome(**r) for r in out.to_dict("records")]
    assert estimate(plan, typed) == estimate(plan, out)
    with pytest.raises(ValueError, match="no lab result"):
        estimate(plan, out.iloc[1:])
    lab = pd.DataFrame(
        {
            "listing_id": out["listing_id"],
            "plan_id": plan.plan_id,
            "verdict": np.where(out["failed"], "fail", "pass"),
            "failure_types": np.where(out["three_no"], "quality;three_no", np.where(out["failed"], "quality", "")),
        }
    )
    parsed = outcomes_from_lab_results(lab, plan_id=plan.plan_id)
    assert parsed["failed"].tolist() == out["failed"].tolist()
    assert parsed["three_no"].tolist() == out["three_no"].tolist()
    assert estimate(plan, lab).get("three_no") == estimate(plan, out).get("three_no")
