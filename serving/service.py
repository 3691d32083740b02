"""Service functions behind the routes (and the web pages): scoring, merchant grades, plans, results.

Routes stay thin: they authenticate, call one of these, and return its typed result. Problems a client
can fix raise `RequestProblem` (→ 4xx with the field named); nothing here knows about HTTP otherwise.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core import reference
from features.market import Market, RecordError
from features.records import (
    FailureType,
    LabResult,
    Listing,
    Merchant,
    Review,
    Verdict,
    join_failure_types,
    split_failure_types,
)
from models.contract import LISTING_RISKS, MERCHANT_RISK
from models.explain import plan_reasons
from sampling import plan_checks
from sampling.candidates import Candidates, LabFees, UnknownCategoryError, draw_plan, plan_candidates
from sampling.planner import Plan
from serving import store
from serving.context import StoredRecords
from serving.db import LabResultRow, PlanFrameRow, PlanRow, PlanTargetRow, utcnow
from serving.decisions import Decision, decide, merchant_evidence, merchant_grade
from serving.runtime import LoadedModel, MarketCache, ScoredMarket, market_from_records
from serving.schemas import (
    EstimateOut,
    MerchantRisk,
    ModelRef,
    PassRate,
    PlanCreate,
    PlanOut,
    PlanSummaryOut,
    PlanTargetOut,
    QuotaIn,
    RateOut,
    ResultIn,
    ResultOut,
    ResultsOut,
    ScoredListing,
)
from serving.settings import Settings

logger = logging.getLogger(__name__)


MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2200, 12, 31)


class RequestProblem(Exception):
    """Something in the request a client must fix; `loc` is the path of the offending field."""

    def __init__(self, loc: Sequence[str | int], msg: str, *, status_code: int = 422):
        self.loc, self.msg, self.status_code = list(loc), msg, status_code
        super().__init__(msg)


def model_ref(model: LoadedModel) -> ModelRef:
    """The name and version a response was computed with."""
    return ModelRef(name=model.info.name, version=model.info.version)


# --- scoring ------------------------------------------------------------------------------------------
def check_batch(
    *,
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review],
    lab_results: Sequence[LabResult] = (),
) -> None:
    """Cross-record checks the record schemas cannot make: unique ids, resolvable references, and dates
    the tables can hold (pandas timestamps span 1677–2262; anything outside 1900–2200 is a typo)."""
    dated: list[tuple[str, Sequence[Any], str]] = [
        ("merchants", merchants, "opened_date"),
        ("listings", listings, "listed_date"),
        ("reviews", reviews, "review_date"),
        ("lab_results", lab_results, "sampled_date"),
    ]
    for name, rows, col in dated:
        for i, r in enumerate(rows):
            d = getattr(r, col)
            if not MIN_DATE <= d <= MAX_DATE:
                raise RequestProblem(["body", name, i, col], f"{d.isoformat()} is outside {MIN_DATE}..{MAX_DATE}")
    seen_m: dict[str, int] = {}
    for i, m in enumerate(merchants):
        if m.merchant_id in seen_m:
            raise RequestProblem(
                ["body", "merchants", i, "merchant_id"],
                f"duplicate merchant_id {m.merchant_id!r} (also merchants[{seen_m[m.merchant_id]}])",
            )
        seen_m[m.merchant_id] = i
    seen_l: dict[str, int] = {}
    for i, listing in enumerate(listings):
        lid = listing.listing_id
        if lid in seen_l:
            raise RequestProblem(
                ["body", "listings", i, "listing_id"], f"duplicate listing_id {lid!r} (also listings[{seen_l[lid]}])"
            )
        seen_l[lid] = i
        if listing.merchant_id not in seen_m:
            raise RequestProblem(
                ["body", "listings", i, "merchant_id"],
                f"listing {lid!r}: merchant_id {listing.merchant_id!r} is not among the request's merchants",
            )
    refs: list[tuple[str, Sequence[Review | LabResult]]] = [("reviews", reviews), ("lab_results", lab_results)]
    for name, rows in refs:
        for j, r in enumerate(rows):
            if r.listing_id not in seen_l:
                raise RequestProblem(
                    ["body", name, j, "listing_id"], f"listing_id {r.listing_id!r} is not among the request's listings"
                )


def _probabilities(score: Any) -> dict[str, float]:
    return {risk: float(rs.probability) for risk, rs in score.risks.items()}


def score_records(
    model: LoadedModel,
    settings: Settings,
    *,
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review],
    lab_results: Sequence[LabResult] = (),
    context: StoredRecords | None = None,
) -> list[ScoredListing]:
    """Score listings with their merchants, reviews and lab history; one result per listing, in request order.

    `context`: what the store holds of these merchants (`serving.context.stored_context`), added to the
    request's records before the one pipeline runs; only the request's listings are scored."""
    check_batch(merchants=merchants, listings=listings, reviews=reviews, lab_results=lab_results)
    market = _market(merchants, listings, reviews, lab_results, context)
    if context is not None and context.listings:
        scores = model.scorer.score_listings(
            market, top_reasons=settings.top_reasons, only={x.listing_id for x in listings}
        )
    else:
        scores = model.scorer.score_listings(market, top_reasons=settings.top_reasons)
    by_id = {s.listing_id: s for s in scores}
    out: list[ScoredListing] = []
    for listing in listings:
        s = by_id[listing.listing_id]
        probs = {k: v for k, v in _probabilities(s).items() if k in (*LISTING_RISKS, MERCHANT_RISK)}
        decision, triggers = decide(probs, review=settings.review_thresholds, block=settings.block_thresholds)
        facts = None if context is None else context.facts.get(listing.merchant_id)
        out.append(ScoredListing(**s.model_dump(), decision=decision, triggers=triggers, context=facts))
    return out


def _market(
    merchants: Sequence[Merchant],
    listings: Sequence[Listing],
    reviews: Sequence[Review],
    lab_results: Sequence[LabResult],
    context: StoredRecords | None,
) -> Market:
    """The request's records, and the store's context after them, as one market."""
    if context is not None:
        listings = [*listings, *context.listings]
        reviews = [*reviews, *context.reviews]
        lab_results = [*lab_results, *context.lab_results]
    try:
        return market_from_records(merchants=merchants, listings=listings, reviews=reviews, lab_results=lab_results)
    except (RecordError, pd.errors.OutOfBoundsDatetime) as e:  # schemas passed: a cross-row or table rule
        raise RequestProblem(["body"], str(e)) from e


def decision_counts(results: Sequence[ScoredListing]) -> dict[Decision, int]:
    """How many listings got each decision (all three keys present)."""
    c = Counter(r.decision for r in results)
    return {d: c.get(d, 0) for d in Decision}


def merchant_risk(
    model: LoadedModel,
    settings: Settings,
    *,
    merchant: Merchant,
    listings: Sequence[Listing],
    reviews: Sequence[Review],
    lab_results: Sequence[LabResult] = (),
    context: StoredRecords | None = None,
) -> MerchantRisk:
    """The merchant's complaint-prone probability and its red/yellow/green grade with reasons; with `context`,
    the store's listings, reviews and lab results of the merchant count too."""
    for i, listing in enumerate(listings):
        if listing.merchant_id != merchant.merchant_id:
            raise RequestProblem(
                ["body", "listings", i, "merchant_id"],
                f"listing {listing.listing_id!r} belongs to {listing.merchant_id!r}, not {merchant.merchant_id!r}",
            )
    check_batch(merchants=[merchant], listings=listings, reviews=reviews, lab_results=lab_results)
    market = _market([merchant], listings, reviews, lab_results, context)
    scores = model.scorer.score_listings(market, top_reasons=settings.top_reasons, **_first(listings, context))
    # the complaint risk is the merchant's: the same on each of its listings
    m = scores[0].risks[MERCHANT_RISK]  # type: ignore[index]
    evidence = merchant_evidence(
        n_listings=len(market.listings), n_reviews=len(market.reviews), min_reviews=settings.merchant_min_reviews
    )
    grade, grade_reasons = merchant_grade(
        m.probability,
        registry_status=str(merchant.registry_status),
        removals_elsewhere=merchant.removals_elsewhere,
        yellow_at=settings.grade_yellow_at,
        red_at=settings.grade_red_at,
        evidence=evidence,
    )
    return MerchantRisk(
        merchant_id=merchant.merchant_id,
        shop_name=merchant.shop_name,
        platform=merchant.platform,
        complaint_prob=m.probability,
        grade=grade,
        grade_reasons=grade_reasons,
        model_reasons=m.reasons,
        n_listings=len(market.listings),
        evidence=evidence,
        context=None if context is None else context.facts.get(merchant.merchant_id),
    )


def _first(listings: Sequence[Listing], context: StoredRecords | None) -> dict[str, Any]:
    """With stored listings added, score one listing only: the merchant's risk is the same on each."""
    return {"only": {listings[0].listing_id}} if context is not None and context.listings else {}


# --- plans --------------------------------------------------------------------------------------------
class Unavailable(Exception):
    """The service cannot do this now (no model, no market): 503 with the reason."""


class SmallRandomArm(RequestProblem):
    """The plan's random arm would be too small to estimate from, and the request asked to be told first."""

    def __init__(self, check: plan_checks.RandomArmCheck):
        self.check = check
        super().__init__(["body", "budget"], check.message())


def lab_fees(settings: Settings) -> LabFees:
    """The reference table's lab fees (`data/reference/lab_fees.csv` or the deployment's), then the
    settings' `lab_fees` on top; a category in neither costs `lab_fee_default`."""
    return LabFees(reference.lab_fees(settings), default=settings.lab_fee_default)


def candidates_from_market(scored: ScoredMarket, settings: Settings) -> Candidates:
    """Every listing of the current market as a plan candidate (`sampling.plan_candidates`)."""
    m = scored.market
    return plan_candidates(
        m.listings, m.merchants, scored.scores, lab_fees=lab_fees(settings), lab_results=m.lab_results
    )


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    cols = [c for c in frame.columns if c != "reasons"]
    buf = io.BytesIO()
    frame[cols].to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


def load_frame(row: PlanRow) -> pd.DataFrame:
    """The stored design frame of a plan."""
    if row.frame is None:
        raise Unavailable(f"plan {row.plan_id} has no stored design frame")
    return pd.read_parquet(io.BytesIO(row.frame.parquet))


def _plan_config_problem(e: ValidationError) -> RequestProblem:
    """The planner's own validation: its fields carry the API's names, so the location is the body's."""
    err = e.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    loc: list[str | int] = [str(p) if not isinstance(p, int) else p for p in err["loc"]]
    if not loc:  # a rule across fields: name the first field the message mentions
        loc = [next((f for f in ("per_merchant_cap", "epsilon", "explore", "cap_scope") if f in msg), "budget")]
    return RequestProblem(["body", *loc], msg)


def _draw(cands: Candidates, body: PlanCreate, *, plan_id: str) -> Plan:
    """The request's plan over the market's candidates; what the client can fix is a `RequestProblem`."""
    from sampling import planner

    try:
        config = planner.PlanConfig(
            budget=body.budget,
            epsilon=body.epsilon,
            explore=body.explore,
            per_merchant_cap=body.per_merchant_cap,
            cap_scope=body.cap_scope,
            quotas={k: planner.CategoryQuota(**q.model_dump()) for k, q in body.quotas.items()},
            seed=body.seed,
            plan_id=plan_id,
        )
    except ValidationError as e:
        raise _plan_config_problem(e) from e
    try:
        return draw_plan(cands, config, require_estimate=body.require_estimate)
    except plan_checks.SmallRandomArmError as e:
        raise SmallRandomArm(e.check) from e
    except UnknownCategoryError as e:
        raise RequestProblem(["body", "quotas", e.category], f"{e} (current market)") from e
    except planner.PlanInfeasibleError as e:
        raise RequestProblem(["body"], f"infeasible plan: {e}") from e


def _target_rows(selected: pd.DataFrame, reasons: dict[str, list[str]]) -> list[PlanTargetRow]:
    """The store's rows for the purchases, best first, each with its inclusion probability and reasons."""
    return [
        PlanTargetRow(
            listing_id=str(r["listing_id"]),
            merchant_id=str(r["merchant_id"]),
            category=str(r["category"]),
            rank=int(r["rank"]),
            arm=str(r["arm"]),
            cost=float(r["cost"]),
            p_fail=float(r["p_fail"]),
            inclusion_prob=float(r["pi"]),
            expected_yield=float(r["p_fail"]),
            reasons=reasons.get(str(r["listing_id"]), []),
        )
        for r in selected.to_dict("records")
    ]


def create_plan(
    session: Session,
    model: LoadedModel,
    cache: MarketCache,
    settings: Settings,
    body: PlanCreate,
    *,
    created_by: str | None,
    idempotency: tuple[str, str] | None = None,
) -> PlanRow:
    """Score the current market, design and draw a plan, store it with its frame; returns the stored plan."""
    if body.budget > settings.max_plan_budget:
        raise RequestProblem(
            ["body", "budget"],
            f"{body.budget:,.0f} yuan is over this service's limit of {settings.max_plan_budget:,.0f} per plan "
            "(CHOUJIAN_MAX_PLAN_BUDGET); split the work into several plans",
        )
    try:
        scored = cache.get(model)
    except (FileNotFoundError, RecordError) as e:
        raise Unavailable(f"no usable market for plan candidates: {e}") from e
    plan_id = store.new_plan_id()
    plan = _draw(candidates_from_market(scored, settings), body, plan_id=plan_id)
    selected = plan.selected()
    if len(selected) > settings.max_plan_targets:  # before the per-purchase reasons and the store's rows
        raise RequestProblem(
            ["body", "budget"],
            f"this plan would buy {len(selected):,} listings, over the limit of {settings.max_plan_targets:,} "
            "(CHOUJIAN_MAX_PLAN_TARGETS); lower the budget",
        )
    reasons = plan_reasons(model.scorer, scored.market, selected["listing_id"].tolist(), top=settings.top_reasons)
    targets = _target_rows(selected, reasons)
    s = plan.summary
    row = PlanRow(
        plan_id=plan_id,
        name=body.name,
        created_at=utcnow(),
        created_by=created_by,
        budget=body.budget,
        epsilon=body.epsilon,
        per_merchant_cap=body.per_merchant_cap,
        seed=body.seed,
        quotas={k: q.model_dump() for k, q in body.quotas.items()},
        model_name=model.info.name,
        model_version=model.info.version,
        market_fingerprint=scored.fingerprint,
        n_candidates=s.n_candidates,
        n_targets=len(targets),
        spent=s.total_cost,
        summary={**s.model_dump(), "cap_scope": body.cap_scope},
        idempotency_key=None if idempotency is None else idempotency[0],
        request_hash=None if idempotency is None else idempotency[1],
    )
    row.frame = PlanFrameRow(plan_id=plan_id, n_rows=len(plan.frame), parquet=_frame_bytes(plan.frame))
    store.save_plan(session, row, targets)
    logger.info("plan %s: %d targets, %.0f of %.0f yuan", plan_id, len(targets), s.total_cost, body.budget)
    return row


def plan_summary(row: PlanRow, n_results: int) -> PlanSummaryOut:
    """The list view of a stored plan."""
    return PlanSummaryOut(
        plan_id=row.plan_id,
        name=row.name,
        created_at=row.created_at,
        created_by=row.created_by,
        budget=row.budget,
        epsilon=row.epsilon,
        explore=float(dict(row.summary or {}).get("explore", 0.0)),  # stored in the design's summary
        per_merchant_cap=row.per_merchant_cap,
        seed=row.seed,
        model=ModelRef(name=row.model_name, version=row.model_version),
        market_fingerprint=row.market_fingerprint,
        n_candidates=row.n_candidates,
        n_targets=row.n_targets,
        spent=row.spent,
        n_results=n_results,
    )


def plan_out(row: PlanRow, n_results: int) -> PlanOut:
    """The full view of a stored plan with its ranked targets."""
    return PlanOut(
        **plan_summary(row, n_results).model_dump(),
        quotas={k: QuotaIn(**v) for k, v in dict(row.quotas or {}).items()},
        design=dict(row.summary or {}),
        warnings=list(dict(row.summary or {}).get("warnings", [])),
        targets=[
            PlanTargetOut(
                rank=t.rank,
                listing_id=t.listing_id,
                merchant_id=t.merchant_id,
                category=t.category,
                arm=t.arm,  # type: ignore[arg-type]
                cost=t.cost,
                p_fail=t.p_fail,
                expected_yield=t.expected_yield,
                inclusion_prob=t.inclusion_prob,
                reasons=list(t.reasons or []),
            )
            for t in row.targets
        ],
    )


# --- results ------------------------------------------------------------------------------------------
def result_out(r: LabResultRow, status: str | None = None) -> ResultOut:
    """A stored result as the API shows it."""
    return ResultOut(
        listing_id=r.listing_id,
        verdict=Verdict(r.verdict),
        failure_types=[FailureType(t) for t in split_failure_types(r.failure_types)],
        sampled_date=r.sampled_date,
        cost=r.cost,
        inclusion_prob=r.inclusion_prob,
        recorded_at=r.recorded_at,
        status=status,  # type: ignore[arg-type]
    )


def record_results(
    session: Session, row: PlanRow, results: Sequence[ResultIn], *, recorded_by: str | None
) -> ResultsOut:
    """Record results against a plan, all or nothing; re-sending a stored result changes nothing.

    A listing that is not one of the plan's targets is refused (its inclusion probability is unknown);
    a result that differs from the stored one for the same listing is a conflict (409).
    """
    targets = {t.listing_id: t for t in row.targets}
    seen: dict[str, int] = {}
    for i, r in enumerate(results):
        if r.listing_id not in targets:
            raise RequestProblem(
                ["body", "results", i, "listing_id"], f"listing {r.listing_id!r} is not a target of plan {row.plan_id}"
            )
        if r.listing_id in seen:
            raise RequestProblem(
                ["body", "results", i, "listing_id"],
                f"listing {r.listing_id!r} appears twice in this request (also results[{seen[r.listing_id]}])",
            )
        seen[r.listing_id] = i
    out: list[ResultOut] = []
    try:
        for i, r in enumerate(results):
            new = store.NewResult(
                listing_id=r.listing_id,
                verdict=r.verdict.value,
                failure_types=join_failure_types(sorted({t.value for t in r.failure_types})),
                sampled_date=r.sampled_date,
                cost=float(r.cost),
                inclusion_prob=targets[r.listing_id].inclusion_prob,
            )
            try:
                stored, created = store.record_result(session, row.plan_id, new, recorded_by=recorded_by)
            except store.ResultConflict as e:
                raise RequestProblem(["body", "results", i], str(e), status_code=409) from e
            out.append(result_out(stored, "created" if created else "unchanged"))
        session.commit()
    except Exception:
        session.rollback()
        raise
    created_n = sum(o.status == "created" for o in out)
    return ResultsOut(plan_id=row.plan_id, created=created_n, unchanged=len(out) - created_n, results=out)


# --- estimates ----------------------------------------------------------------------------------------
def _reported_frame(frame: pd.DataFrame, reported: set[str]) -> tuple[pd.DataFrame, bool, list[str]]:
    """The design frame the estimate reads: complete once every target and random draw has a result;
    before that only the reported purchases count (targets without one are left to the random arm, random
    draws without one are missing at random). Also says what the estimate leaves out."""
    selected = frame["selected"].to_numpy(bool)
    # the estimate uses the targets and the random draws; the top-up's purchases are not part of it
    used = frame["targeted"].to_numpy(bool) | frame["drawn_random"].to_numpy(bool)
    complete = bool(frame.loc[used, "listing_id"].isin(reported).all())
    notes: list[str] = []
    n_topup = int((selected & ~used).sum())
    if n_topup:
        notes.append(
            f"{n_topup} top-up purchase(s) are not used by the estimate: bought with what the random draw left "
            "of the budget, they are not random draws (their results still train the models)"
        )
    if not complete:
        has = frame["listing_id"].isin(reported).to_numpy(bool)
        frame = frame.assign(
            targeted=frame["targeted"].to_numpy(bool) & has, drawn_random=frame["drawn_random"].to_numpy(bool) & has
        )
        frame["selected"] = frame["targeted"] | frame["drawn_random"]
        notes.append(
            f"{len(reported)} of {int(selected.sum())} purchases have lab results; targeted purchases without one "
            "are estimated through the random arm, random draws without one are treated as missing at random"
        )
    return frame, complete, notes


def _rate_out(e: Any, method: Literal["ht", "hajek"], *, min_draws: int) -> RateOut:
    """One estimated rate as the API shows it: "no data" where no random draw covers an untargeted part of
    the domain (HT would say 0 failures, which is no evidence), and too few draws flagged."""
    est, lo, hi, se = (
        (e.ht, e.ht_low, e.ht_high, e.ht_se) if method == "ht" else (e.hajek, e.hajek_low, e.hajek_high, e.hajek_se)
    )
    census = e.df == 0  # every listing of the domain was targeted: known exactly
    no_data = e.population == 0 or (e.n_random == 0 and not census)
    n_eff = None if census else (e.ht_n_eff if method == "ht" else e.hajek_n_eff)
    if no_data:
        est, se = None, None
    return RateOut(
        outcome=e.outcome,
        domain=e.domain,
        population=e.population,
        n_sampled=e.n_sampled,
        n_random=e.n_random,
        estimate=est,
        lower=lo,
        upper=hi,
        se=se,
        ht=e.ht,
        ht_low=e.ht_low,
        ht_high=e.ht_high,
        hajek=e.hajek,
        hajek_low=e.hajek_low,
        hajek_high=e.hajek_high,
        naive=e.naive,
        n_eff=n_eff,
        design_effect=None if not n_eff else e.n_random / n_eff,
        no_data=no_data,
        too_few_draws=not no_data and not census and e.n_random < min_draws,
    )


def _estimate_notes(fail: RateOut, by_category: list[RateOut], *, excluded: int, min_draws: int) -> list[str]:
    """What a reader of the estimate must know: left-out candidates, missing or thin evidence."""
    notes: list[str] = []
    if excluded:
        notes.append(f"{excluded} candidate(s) had no chance of selection and are outside the estimate")
    if fail.no_data:
        notes.append("no random draw has a result: there is no estimate of the market, only the logical bounds")
    elif fail.se is None:
        notes.append("fewer than two random draws with results: the interval is the logical bounds only")
    if fail.too_few_draws:
        notes.append(
            f"the estimate rests on {fail.n_random} random draw(s), fewer than {min_draws}: "
            "indicative only; a larger budget or ε gives the random arm more draws"
        )
    empty = sorted({c.domain for c in by_category if c.no_data})
    if empty:
        notes.append(f"no data (no random draw with a result) for {len(empty)} categor(ies): {', '.join(empty)}")
    return notes


def estimate_plan(session: Session, row: PlanRow, *, confidence: float = 0.95) -> EstimateOut:
    """Pass/failure and three-no rates with intervals from the plan's results so far.

    With every purchase reported, the Horvitz–Thompson estimate (unbiased, known N) is primary. Before
    that, estimates use the reported purchases only: a targeted purchase still without a result is left
    to the random arm (which covers it with a known probability), and random draws without one are
    treated as missing at random, so the Hájek (ratio) estimate is primary.
    """
    from sampling import estimation

    frame = load_frame(row)
    n_purchases = int(frame["selected"].to_numpy(bool).sum())
    rows = store.list_results(session, row.plan_id)
    reported = {r.listing_id for r in rows}
    frame, complete, notes = _reported_frame(frame, reported)
    outcomes = pd.DataFrame(
        {
            "listing_id": [r.listing_id for r in rows],
            "failed": [r.verdict == "fail" for r in rows],
            "three_no": ["three_no" in split_failure_types(r.failure_types) for r in rows],
        }
    )
    method: Literal["ht", "hajek"] = "ht" if complete else "hajek"
    rep = estimation.estimate(frame, outcomes, confidence=confidence)
    min_draws = estimation.MIN_RANDOM_DRAWS
    fail = _rate_out(rep.get("fail", "all"), method, min_draws=min_draws)
    by_category = [_rate_out(e, method, min_draws=min_draws) for e in rep.rates if e.domain != "all"]
    notes += _estimate_notes(fail, by_category, excluded=rep.excluded, min_draws=min_draws)
    return EstimateOut(
        plan_id=row.plan_id,
        complete=complete,
        n_purchases=n_purchases,
        n_results=len(reported),
        confidence=confidence,
        method=method,
        fail_rate=fail,
        pass_rate=PassRate(
            estimate=None if fail.estimate is None else 1 - fail.estimate,
            lower=1 - fail.upper,
            upper=1 - fail.lower,
            n_random=fail.n_random,
            n_eff=fail.n_eff,
            design_effect=fail.design_effect,
            no_data=fail.no_data,
            too_few_draws=fail.too_few_draws,
        ),
        three_no_rate=_rate_out(rep.get("three_no", "all"), method, min_draws=min_draws),
        by_category=by_category,
        min_random_draws=min_draws,
        notes=notes,
    )
