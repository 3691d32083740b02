"""The sampling planner: exact inclusion probabilities, and constraints that hold for every possible draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sampling.planner import (
    SCALE,
    Candidate,
    CategoryQuota,
    PlanConfig,
    PlanInfeasibleError,
    arc_extremes,
    design_plan,
    make_plan,
    topup_mask,
)


def population(n: int = 60, merchants: int = 14, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    m = rng.integers(0, merchants, n)
    cats = np.array(["服装", "手机", "水果"])
    return pd.DataFrame(
        {
            "listing_id": [f"L{i:03d}" for i in range(n)],
            "merchant_id": [f"M{x:02d}" for x in m],
            "category": cats[rng.integers(0, 3, n)],
            "cost": np.round(rng.lognormal(6, 0.7, n) + 200, 2),
            "p_fail": rng.beta(1.2, 2.0, n),
            "reasons": [["低价", "无3C"]] * n,
        }
    )


def all_draws(plan) -> list[tuple[float, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Every possible plan (targets, random draws and the top-up they leave room for) with its probability."""
    targeted = plan.frame["targeted"].to_numpy(bool)
    return [(p, drawn | targeted | topup_mask(plan.frame, drawn)) for p, drawn in plan.enumerate_random_draws()]


CONFIGS = [
    PlanConfig(budget=8_000, epsilon=0.3, per_merchant_cap=2, seed=1),
    PlanConfig(budget=12_000, epsilon=0.5, per_merchant_cap=3, seed=2),
    PlanConfig(budget=8_000, epsilon=0.3, per_merchant_cap=2, cap_scope="targeted", seed=3),
    PlanConfig(
        budget=15_000,
        epsilon=0.4,
        per_merchant_cap=2,
        seed=4,
        quotas={"手机": CategoryQuota(min_purchases=2, max_purchases=4), "水果": CategoryQuota(max_yuan=3_000)},
    ),
    PlanConfig(budget=6_000, epsilon=0.0, per_merchant_cap=None, seed=5),
    PlanConfig(budget=12_000, epsilon=0.3, explore=0.3, per_merchant_cap=2, seed=6),
    PlanConfig(
        budget=15_000,
        epsilon=0.4,
        explore=0.5,
        per_merchant_cap=2,
        cap_scope="targeted",
        seed=7,
        quotas={"手机": CategoryQuota(min_purchases=2, max_purchases=4), "水果": CategoryQuota(max_yuan=3_000)},
    ),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_possible_draw_respects_budget_caps_and_quotas(config: PlanConfig) -> None:
    pop = population()
    plan = make_plan(pop, config)
    fr = plan.frame
    draws = all_draws(plan)
    assert abs(sum(p for p, _ in draws) - 1) < 1e-12
    targeted = fr["targeted"].to_numpy(bool)
    for (_, chosen), (_, drawn) in zip(draws, plan.enumerate_random_draws(), strict=True):
        assert fr["cost"][chosen].sum() <= config.budget + 1e-6
        per_m = fr[chosen].groupby("group_id").size()
        if config.per_merchant_cap is not None:
            if config.cap_scope == "plan":
                assert per_m.max() <= config.per_merchant_cap
            else:  # the cap binds the planner's own picks (targets and top-up); the random arm adds one at most
                own = targeted | topup_mask(fr, drawn)
                assert fr[own].groupby("group_id").size().max() <= config.per_merchant_cap
                only_random = drawn & ~own
                assert not only_random.any() or fr[only_random].groupby("group_id").size().max() <= 1
        for cat, q in config.quotas.items():
            in_cat = chosen & (fr["category"] == cat).to_numpy()
            assert in_cat.sum() >= q.min_purchases
            if q.max_purchases is not None:
                assert in_cat.sum() <= q.max_purchases
            if q.max_yuan is not None:
                assert fr["cost"][in_cat].sum() <= q.max_yuan + 1e-6


@pytest.mark.parametrize("config", CONFIGS)
def test_inclusion_probabilities_are_exact_and_sum_to_expected_size(config: PlanConfig) -> None:
    plan = make_plan(population(), config)
    draws = all_draws(plan)
    freq = sum(p * chosen.astype(float) for p, chosen in draws)
    # exact: every draw enumerated, probabilities are multiples of 2^-40
    np.testing.assert_allclose(freq, plan.frame["pi"].to_numpy(), atol=1e-9)
    expected_size = sum(p * chosen.sum() for p, chosen in draws)
    assert plan.frame["pi"].sum() == pytest.approx(expected_size, abs=1e-9)
    assert plan.summary.expected_sample_size == pytest.approx(expected_size, abs=1e-9)
    assert (plan.frame.loc[plan.frame["targeted"], "pi"] == 1).all()
    assert (plan.frame.loc[plan.frame["explored"], "pi"] == 1).all()
    assert plan.frame["explored"].any() == (config.explore > 0)


def test_every_listing_has_a_chance_with_a_random_arm() -> None:
    pop = population()
    plan = make_plan(pop, PlanConfig(budget=8_000, epsilon=0.3, per_merchant_cap=2))
    assert plan.summary.n_unreachable == 0
    assert (plan.frame["pi"] > 0).all()
    # a listing dearer than the random arm's budget cannot be bought by any draw, and is reported
    dear = pop.assign(cost=pop["cost"].where(pop.index != 0, 5_000.0))
    plan = make_plan(dear, PlanConfig(budget=8_000, epsilon=0.3, per_merchant_cap=2))
    row = plan.frame.set_index("listing_id").loc["L000"]
    assert plan.summary.n_unreachable == (0 if row["targeted"] else 1)
    assert (plan.frame.drop(plan.frame.index[plan.frame["listing_id"] == "L000"])["pi"] > 0).all()


def test_same_seed_same_plan_and_seeds_differ() -> None:
    pop = population(n=200, merchants=40)
    cfg = PlanConfig(budget=20_000, epsilon=0.4, per_merchant_cap=2, seed=11)
    a, b = make_plan(pop, cfg), make_plan(pop.sample(frac=1, random_state=3), cfg)  # row order must not matter
    pd.testing.assert_frame_equal(a.selected(), b.selected())
    assert a.summary == b.summary
    others = {tuple(make_plan(pop, cfg.model_copy(update={"seed": s})).selected()["listing_id"]) for s in range(6)}
    assert len(others) > 1


def test_targets_are_the_best_failures_per_yuan_when_unconstrained() -> None:
    pop = population(n=50).assign(cost=500.0)
    plan = make_plan(pop, PlanConfig(budget=5_000, epsilon=0.0))
    chosen = set(plan.selected()["listing_id"])
    assert chosen == set(pop.nlargest(10, "p_fail")["listing_id"])
    sel = plan.selected()
    assert list(sel["rank"]) == list(range(1, 11))
    assert sel["p_fail"].is_monotonic_decreasing
    assert (sel["arm"] == "targeted").all()
    assert plan.purchases()[0].reasons == ["低价", "无3C"]


def test_targets_prefer_cheap_risk_and_random_share_is_respected() -> None:
    pop = population(n=300, merchants=80, seed=4)
    cfg = PlanConfig(budget=30_000, epsilon=0.25, per_merchant_cap=2, seed=0)
    plan = make_plan(pop, cfg)
    s = plan.summary
    assert s.random_worst_cost <= cfg.budget * cfg.epsilon + 1e-6
    assert s.targeted_budget == pytest.approx(cfg.budget - s.random_worst_cost)
    assert s.targeted_cost <= s.targeted_budget + 1e-6
    fr = plan.frame
    targeted = fr["targeted"].to_numpy(bool)
    ratio = (fr["p_fail"] / fr["cost"]).to_numpy()
    per_group = fr[targeted].groupby("group_id").size()
    left = s.targeted_budget - s.targeted_cost
    # a listing left out that beats the worst target on failures per yuan was blocked by a constraint:
    # its merchant's cap (one slot is the random arm's) or the budget left at the end
    better = ~targeted & (ratio > ratio[targeted].min())
    for _, r in fr[better].iterrows():
        assert per_group.get(r["group_id"], 0) >= cfg.per_merchant_cap - 1 or r["cost"] > left
    assert targeted.any() and s.n_random_draws >= 1


def test_explored_listings_are_the_most_uncertain_of_the_rest_and_lab_history_discounts() -> None:
    pop = population(n=80, merchants=40, seed=5).assign(cost=500.0)
    # every listing of M00..M04 has a tested seller: their uncertainty is divided by 1 + n_labels
    tested = pop["merchant_id"].isin([f"M{i:02d}" for i in range(5)])
    pop["n_labels"] = np.where(tested, 9, 0)
    cfg = PlanConfig(budget=10_000, epsilon=0.0, explore=0.4)
    plan = make_plan(pop, cfg)
    fr = plan.frame.set_index("listing_id")
    explored, targets = fr.index[fr["explored"]], fr.index[fr["targeted"] & ~fr["explored"]]
    # 20 purchases at 500 yuan: 12 by risk (60%), 8 by uncertainty (40%), no caps to get in the way
    assert (len(targets), len(explored)) == (12, 8)
    assert set(targets) == set(pop.nlargest(12, "p_fail")["listing_id"])
    u = pop["p_fail"] * (1 - pop["p_fail"]) / (1 + pop["n_labels"])
    rest = pop.assign(u=u)[~pop["listing_id"].isin(targets)]
    assert set(explored) == set(rest.nlargest(8, "u")["listing_id"])
    np.testing.assert_allclose(fr.loc[pop["listing_id"], "uncertainty"], u)
    # a tested seller's listing is explored only if it is more uncertain even so
    assert not set(explored) & set(pop.loc[tested & (u < rest["u"].nlargest(8).min()), "listing_id"])
    sel = plan.selected()
    assert sel["arm"].tolist() == ["targeted"] * 12 + ["explore"] * 8
    s = plan.summary
    assert (s.n_targeted, s.n_explored, s.explored_cost, s.explore) == (12, 8, 4_000.0, 0.4)
    assert all(p.inclusion_prob == 1 for p in plan.purchases())


def test_exploration_takes_its_share_of_the_targeted_budget_and_leaves_the_random_arm_alone() -> None:
    pop = population(n=300, merchants=80, seed=4)
    base = PlanConfig(budget=30_000, epsilon=0.25, per_merchant_cap=2, seed=0)
    plain = make_plan(pop, base)
    for share in (0.1, 0.3, 0.6):
        cfg = base.model_copy(update={"explore": share})
        plan = make_plan(pop, cfg)
        s, fr = plan.summary, plan.frame
        # the random arm is designed before either targeted arm: same lambda, same arcs, same draw
        assert s.random_lambda == plain.summary.random_lambda
        np.testing.assert_array_equal(fr["pi_random"], plain.frame["pi_random"])
        np.testing.assert_array_equal(fr["drawn_random"], plain.frame["drawn_random"])
        # the risk greedy stops at (1 - explore) of the targeted budget, exploration spends within the rest
        assert s.targeted_cost <= (1 - share) * s.targeted_budget + 1e-6
        assert s.targeted_cost + s.explored_cost <= s.targeted_budget + 1e-6
        assert s.explored_cost > 0.5 * share * s.targeted_budget
        # the risk targets are a head of the targets without exploration (the same greedy, stopped earlier)
        risk = set(fr.loc[fr["targeted"] & ~fr["explored"], "listing_id"])
        assert risk < set(plain.frame.loc[plain.frame["targeted"], "listing_id"])
        per_group = plan.selected().groupby("group_id").size()
        assert per_group.max() <= cfg.per_merchant_cap
    # no share, no exploration: the plan is the plain one
    pd.testing.assert_frame_equal(make_plan(pop, base.model_copy(update={"explore": 0.0})).frame, plain.frame)


def test_infeasible_and_contradictory_requests_are_refused() -> None:
    pop = population()
    with pytest.raises(PlanInfeasibleError, match="手机"):
        make_plan(pop, PlanConfig(budget=3_000, epsilon=0.2, quotas={"手机": CategoryQuota(min_purchases=30)}))
    with pytest.raises(ValueError, match="per_merchant_cap=1"):
        PlanConfig(budget=1_000, epsilon=0.2, per_merchant_cap=1)
    with pytest.raises(ValueError, match="max_purchases"):
        CategoryQuota(min_purchases=3, max_purchases=2)
    with pytest.raises(ValueError, match="duplicate"):
        make_plan(pd.concat([pop, pop.head(1)]), PlanConfig(budget=1_000))
    with pytest.raises(ValueError, match="cost"):
        make_plan(pop.assign(cost=0.0), PlanConfig(budget=1_000))
    with pytest.raises(ValueError, match="n_labels"):
        make_plan(pop.assign(n_labels=-1), PlanConfig(budget=1_000))
    for share in (-0.1, 1.5):
        with pytest.raises(ValueError, match="explore"):
            PlanConfig(budget=1_000, explore=share)


def test_typed_candidates_and_quota_zero_excludes_category() -> None:
    pop = population(n=30)
    typed = [Candidate(**r) for r in pop.to_dict("records")]
    cfg = PlanConfig(budget=6_000, epsilon=0.3, per_merchant_cap=2, quotas={"水果": CategoryQuota(max_purchases=0)})
    a, b = make_plan(typed, cfg), make_plan(pop, cfg)
    pd.testing.assert_frame_equal(a.selected(), b.selected())
    fruit = a.frame["category"] == "水果"
    assert (a.frame.loc[fruit, "pi"] == 0).all()


def test_arc_extremes_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    length = rng.integers(0, SCALE // 3, 25)
    start = rng.integers(0, SCALE, 25)
    w = rng.random(25) * 100
    grid = np.concatenate([start, (start + length) % SCALE, rng.integers(0, SCALE, 2000)])
    vals = [w[((u - start) % SCALE) < length].sum() for u in grid]
    hi, lo = arc_extremes(start, length, w)
    assert hi == pytest.approx(max(vals))
    assert lo == pytest.approx(min(vals))


def test_design_is_reused_across_seeds() -> None:
    pop = population(n=120, merchants=30)
    design = design_plan(pop, PlanConfig(budget=12_000, epsilon=0.4, per_merchant_cap=2))
    p1, p2 = design.draw(1), design.draw(2)
    assert (p1.frame["pi"].to_numpy() == p2.frame["pi"].to_numpy()).all()
    assert p1.summary.random_start != p2.summary.random_start


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_the_top_up_buys_down_the_ranking_with_what_each_draw_left(config: PlanConfig) -> None:
    plan = make_plan(population(), config)
    fr = plan.frame
    cost, targeted = fr["cost"].to_numpy(), fr["targeted"].to_numpy(bool)
    limit = fr["topup_limit"].to_numpy()
    member = ~np.isnan(limit)
    assert member.any() and not (member & targeted).any()
    # the list in its order (limits fall along it) and its running cost, recomputed from the costs alone
    order = np.flatnonzero(member)[np.argsort(-limit[member], kind="stable")]
    running = np.cumsum(cost[order])
    for _, drawn in plan.enumerate_random_draws():
        room = config.budget - cost[targeted].sum() - cost[drawn & ~targeted].sum()
        # bought: the longest head of the list whose cost fits in what the targets and this draw left
        np.testing.assert_array_equal(topup_mask(fr, drawn)[order], running <= room + 1e-6)
    # without the top-up, what the random arm does not spend is lost; with it, the plan spends more on average
    s = plan.summary
    assert s.expected_total_cost > s.targeted_cost + s.random_expected_cost + 1
    assert s.expected_total_cost <= config.budget


def test_a_drawn_plan_lists_targets_then_top_up_then_random_draws() -> None:
    plan = make_plan(population(), CONFIGS[1])
    sel = plan.selected()
    arms = sel["arm"].tolist()
    assert "topup" in arms and arms == sorted(arms, key=["targeted", "explore", "topup", "random"].index)
    assert plan.summary.n_topup == arms.count("topup")
    assert plan.summary.topup_cost == pytest.approx(sel.loc[sel["arm"] == "topup", "cost"].sum())
    assert plan.summary.total_cost == pytest.approx(sel["cost"].sum())
    top = [p for p in plan.purchases() if p.arm == "topup"]
    assert all(0 < p.inclusion_prob <= 1 for p in top) and not any(p.also_drawn_random for p in top)
