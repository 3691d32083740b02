"""The planner pages' one door into the service: keys, plans, results and estimates.

Every operation calls the same functions as the JSON API (`serving.store` for keys and plan rows,
`serving.service` for creating plans, recording results and estimating), so a plan made on the page is
the plan the API would have made with the same fields. This module only turns their results into the
rows in `serving.web.views`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from fastapi import HTTPException, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from features.cues import CueEvidence
from features.lexicon import KIND_ZH
from features.lexicon_changes import LexiconChange, LexiconChangeError, history
from features.records import split_failure_types
from models.explain import plan_reasons
from serving import lexicon as lexicon_service
from serving import limits, security, service, store
from serving.db import PlanRow
from serving.deps import SessionDep
from serving.drift import DriftCache, DriftOut
from serving.runtime import LoadedModel, MarketCache, ModelHolder, ScoredMarket
from serving.schemas import PlanCreate, QuotaIn, ResultIn
from serving.settings import Settings
from serving.web.messages import known_zh, problem_zh, validation_zh
from serving.web.overview import riskiest, summarise
from serving.web.views import (
    FAILURE_TYPES_ZH,
    CategoryRate,
    CueEvidenceRow,
    EstimateRow,
    LexiconChangeRow,
    LexiconPage,
    MarketOverview,
    PlanRequest,
    PlanView,
    Principal,
    SuggestionRow,
    TargetRow,
    local_date,
    local_time,
)

logger = logging.getLogger(__name__)

#: how many of the riskiest listings the overview lists with reasons
TOP_LISTINGS = 8


class PlanInputError(ValueError):
    """The service refused a plan or a result for a reason the planner can fix; the message says which."""


class RandomArmTooSmall(PlanInputError):
    """The plan's random arm would be too small to estimate from: the planner confirms before it is drawn."""


class LexiconInputError(ValueError):
    """The lexicon refused a decision (empty, duplicate, unknown kind); the message says which, in Chinese."""


class Unavailable(RuntimeError):
    """The page needs something the service does not have now (no model loaded, no market)."""


@dataclass(frozen=True)
class WebConfig:
    """Session settings for the pages, from the service's settings."""

    secret: str
    max_age_s: int
    cookie_secure: bool


#: a planner's working day; the key is re-checked on every request regardless
SESSION_MAX_AGE_S = 8 * 3600


def web_config(request: Request) -> WebConfig:
    """The cookie-signing secret and cookie flags; Secure is forced outside development.

    Without a usable secret the pages refuse to serve (503): a guessable one would let anyone sign a session.
    """
    settings: Settings = request.app.state.settings
    if not hasattr(request.app.state, "web_secret"):  # resolved at start; an app used without its lifespan
        request.app.state.web_secret = security.session_secret(settings)
    secret: str | None = request.app.state.web_secret
    if secret is None:
        raise HTTPException(
            503, "未配置会话密钥：请设置 CHOUJIAN_SECRET_KEY，或让服务可以写入 CHOUJIAN_SECRET_KEY_FILE 所指的文件。"
        )
    return WebConfig(
        secret=secret,
        max_age_s=SESSION_MAX_AGE_S,
        cookie_secure=settings.environment == "production",
    )


class WebBackend(Protocol):
    """What the pages need from the service."""

    def authenticate(self, api_key: str) -> Principal | None: ...
    def principal(self, key_id: str) -> Principal | None: ...
    def model_label(self) -> str: ...
    def market_overview(self) -> MarketOverview: ...
    def market_drift(self) -> DriftOut: ...
    def list_plans(self) -> list[PlanView]: ...
    def get_plan(self, plan_id: str) -> tuple[PlanView, list[TargetRow]] | None: ...
    def create_plan(self, req: PlanRequest, *, key_id: str) -> str: ...
    def record_result(
        self,
        plan_id: str,
        *,
        listing_id: str,
        verdict: str,
        failure_types: list[str],
        sampled_date: date,
        key_id: str,
    ) -> bool: ...
    def plan_estimate(self, plan_id: str) -> EstimateRow | None: ...
    def estimates(self) -> list[EstimateRow]: ...
    def lexicon_page(self, target: str) -> LexiconPage: ...
    def lexicon_decision(
        self, *, action: str, phrase: str, kind: str, target: str, key_id: str, note: str
    ) -> LexiconChange: ...


@dataclass
class _OverviewCache:
    key: tuple[str, str] | None = None
    value: MarketOverview | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _EstimateCache:
    """Recent plan estimates, so the trend page does not re-read every plan's frame on each visit."""

    size: int = 256
    items: OrderedDict[tuple[str, int], EstimateRow] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, int]) -> EstimateRow | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: tuple[str, int], value: EstimateRow) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class ServiceBackend:
    """`WebBackend` over the running app's store, model holder and market cache (one DB session per request)."""

    def __init__(self, request: Request, session: Session):
        self._state = request.app.state
        self._session = session
        self._settings: Settings = request.app.state.settings

    # --- keys ---------------------------------------------------------------------------------------
    def authenticate(self, api_key: str) -> Principal | None:
        """The key's principal when it is a valid, unrevoked key (the API's own check)."""
        row = store.find_active_key(self._session, api_key)
        return None if row is None else Principal(key_id=row.key_id, role=str(row.role), key_hash=row.key_hash)

    def principal(self, key_id: str) -> Principal | None:
        """The principal for a logged-in key id, or None once the key is revoked, expired or gone."""
        row = store.get_key(self._session, key_id)
        if row is None or not store.key_is_active(row):
            return None
        return Principal(key_id=row.key_id, role=str(row.role), key_hash=row.key_hash)

    # --- model and market -------------------------------------------------------------------------------
    def _model(self) -> LoadedModel:
        holder: ModelHolder = self._state.models
        model = holder.current
        if model is None:
            why = f"：{holder.last_error}" if holder.last_error else ""
            raise Unavailable(f"模型尚未加载{why}")
        return model

    def _scored(self, model: LoadedModel) -> ScoredMarket:
        cache: MarketCache = self._state.market
        try:
            return cache.get(model)
        except Exception as e:  # FileNotFoundError or RecordError: say so on the page
            raise Unavailable(f"当前市场数据不可用：{e}") from e

    def model_label(self) -> str:
        """Name and version of the model in service."""
        holder: ModelHolder = self._state.models
        m = holder.current
        return f"{m.info.name} · 版本 {m.info.version}" if m is not None else "（未加载）"

    def market_overview(self) -> MarketOverview:
        """The scored current market, summed up by category and platform (cached per market and model)."""
        model = self._model()
        scored = self._scored(model)
        cache: _OverviewCache = getattr(self._state, "web_overview", None) or _OverviewCache()
        self._state.web_overview = cache
        key = (scored.fingerprint, model.info.version)
        with cache.lock:
            if cache.key == key and cache.value is not None:
                return cache.value
            ids = riskiest(scored.scores, TOP_LISTINGS)
            # the same reasons the plan targets get, from the service
            reasons = plan_reasons(model.scorer, scored.market, ids, top=self._settings.top_reasons)
            value = summarise(scored.market, scored.scores, top_ids=ids, top_reasons=reasons)
            cache.key, cache.value = key, value
            return value

    def market_drift(self) -> DriftOut:
        """Drift of the scored market from the model's training market (the cache `/v1/model` reads too)."""
        model = self._model()
        scored = self._scored(model)
        monitor: DriftCache = self._state.drift
        return monitor.get(model, scored, self._settings)

    # --- plans --------------------------------------------------------------------------------------
    def _n_results(self, plan_id: str) -> int:
        return len(store.list_results(self._session, plan_id))

    def _summary(self, row: PlanRow, n_results: int, *, expected_failures: float | None = None) -> PlanView:
        design = dict(row.summary or {})
        return PlanView(
            plan_id=row.plan_id,
            name=row.name or "",
            created=local_time(row.created_at, self._settings.timezone),
            budget=float(row.budget),
            spent=float(row.spent),
            epsilon=float(row.epsilon),
            per_merchant_cap=row.per_merchant_cap,
            seed=int(row.seed),
            n_targets=int(row.n_targets),
            n_targeted=int(design.get("n_targeted", 0)),
            n_random=int(design.get("n_random", 0)),
            n_topup=int(design.get("n_topup", 0)),
            explore=float(design.get("explore", 0.0)),
            n_explored=int(design.get("n_explored", 0)),
            n_results=n_results,
            # the plan page sums its targets; a list of plans takes the design's figure and loads no targets
            expected_failures=float(design.get("expected_failures", 0.0))
            if expected_failures is None
            else expected_failures,
            model=f"{row.model_name} · 版本 {row.model_version}",
        )

    def list_plans(self) -> list[PlanView]:
        """Recent plans, newest first."""
        rows, _ = store.list_plans(self._session, limit=200)
        counts = store.result_counts(self._session, [r.plan_id for r in rows])
        return [self._summary(r, counts[r.plan_id]) for r in rows]

    def _listing_info(self) -> dict[str, tuple[str, str]]:
        """listing id -> (title, platform) from the current market, when one is loaded (display only)."""
        holder: ModelHolder = self._state.models
        cache: MarketCache = self._state.market
        model = holder.current
        if model is None:
            return {}
        try:
            listings = cache.get(model).market.listings
        except Exception:  # the plan is still worth showing without titles
            logger.warning("no market for listing titles", exc_info=True)
            return {}
        return dict(zip(listings["listing_id"], zip(listings["title"], listings["platform"], strict=True), strict=True))

    def get_plan(self, plan_id: str) -> tuple[PlanView, list[TargetRow]] | None:
        """A stored plan's summary and its ranked targets with any results recorded."""
        row = store.get_plan(self._session, plan_id)
        if row is None:
            return None
        results = {r.listing_id: r for r in store.list_results(self._session, plan_id)}
        info = self._listing_info()
        targets = []
        for t in row.targets:
            res = results.get(t.listing_id)
            title, platform = info.get(t.listing_id, ("", ""))
            targets.append(
                TargetRow(
                    rank=t.rank,
                    listing_id=t.listing_id,
                    merchant_id=t.merchant_id,
                    category=t.category,
                    platform=str(platform),
                    title=str(title),
                    cost=float(t.cost),
                    probability=float(t.p_fail),
                    inclusion_prob=float(t.inclusion_prob),
                    arm=t.arm,
                    reasons=[str(r) for r in (t.reasons or [])],
                    result=None if res is None else res.verdict,
                    failure_types=[]
                    if res is None
                    else [FAILURE_TYPES_ZH.get(x, x) for x in split_failure_types(res.failure_types)],
                )
            )
        return self._summary(row, len(results), expected_failures=sum(t.p_fail for t in row.targets)), targets

    def create_plan(self, req: PlanRequest, *, key_id: str) -> str:
        """Create a plan through `service.create_plan`, exactly as `POST /v1/plans` does; returns its id."""
        try:
            body = PlanCreate(
                name=req.name,
                budget=req.budget,
                epsilon=req.epsilon,
                explore=req.explore,
                per_merchant_cap=req.per_merchant_cap,
                seed=req.seed,
                quotas={cat: QuotaIn(min_purchases=lo or 0, max_purchases=hi) for cat, (lo, hi) in req.quotas.items()},
                require_estimate=not req.confirm_small,
            )
        except ValidationError as e:
            raise PlanInputError(f"计划参数无效：{validation_zh(e)}") from e
        model = self._model()
        try:
            with self._state.plan_gate.slot():
                row = service.create_plan(
                    self._session, model, self._state.market, self._settings, body, created_by=key_id
                )
        except limits.Busy as e:
            raise PlanInputError("另一个抽检计划正在生成，请几秒钟后再提交。") from e
        except service.SmallRandomArm as e:
            raise RandomArmTooSmall(e.check.message_zh()) from e
        except service.RequestProblem as e:
            raise PlanInputError(f"无法生成计划：{problem_zh(e.loc, e.msg)}") from e
        except service.Unavailable as e:
            raise Unavailable(known_zh(str(e)) or f"服务暂不可用：{e}") from e
        return row.plan_id

    def record_result(
        self,
        plan_id: str,
        *,
        listing_id: str,
        verdict: str,
        failure_types: list[str],
        sampled_date: date,
        key_id: str,
    ) -> bool:
        """Record one result through `service.record_results` (idempotent); True when it was new."""
        row = store.get_plan(self._session, plan_id)
        if row is None:
            raise PlanInputError(f"没有编号为 {plan_id} 的抽检计划")
        cost = next((t.cost for t in row.targets if t.listing_id == listing_id), 0.0)
        try:
            result = ResultIn(
                listing_id=listing_id,
                sampled_date=sampled_date,
                verdict=verdict,  # type: ignore[arg-type]
                failure_types=failure_types,  # type: ignore[arg-type]
                cost=cost,  # what the plan budgeted for it: purchase price plus lab fee
            )
        except ValidationError as e:
            raise PlanInputError(f"检测结果无效：{validation_zh(e)}") from e
        try:
            out = service.record_results(self._session, row, [result], recorded_by=key_id)
        except service.RequestProblem as e:
            raise PlanInputError(f"无法录入：{problem_zh(e.loc, e.msg)}") from e
        return out.created == 1

    # --- estimates ------------------------------------------------------------------------------------
    def _estimate(self, row: PlanRow) -> EstimateRow | None:
        results = store.list_results(self._session, row.plan_id)
        if not results:
            return None
        # results are append-only and immutable, so (plan, count) identifies an estimate exactly
        cache: _EstimateCache = getattr(self._state, "web_estimates", None) or _EstimateCache()
        self._state.web_estimates = cache
        key = (row.plan_id, len(results))
        hit = cache.get(key)
        if hit is not None:
            return hit
        value = self._compute_estimate(row, n_fail=sum(r.verdict == "fail" for r in results))
        if value is not None:
            cache.put(key, value)
        return value

    def _compute_estimate(self, row: PlanRow, *, n_fail: int) -> EstimateRow | None:
        try:
            est = service.estimate_plan(self._session, row)
        except service.Unavailable:
            logger.warning("no estimate for plan %s", row.plan_id, exc_info=True)
            return None
        three = est.three_no_rate.estimate
        return EstimateRow(
            plan_id=row.plan_id,
            date=local_date(row.created_at, self._settings.timezone),
            n=est.n_results,
            n_fail=n_fail,
            pass_rate=None if est.pass_rate.estimate is None else float(est.pass_rate.estimate),
            low=float(est.pass_rate.lower),
            high=float(est.pass_rate.upper),
            three_no=None if three is None else float(three),
            method=est.method,
            n_random=est.pass_rate.n_random,
            n_eff=est.pass_rate.n_eff,
            design_effect=est.pass_rate.design_effect,
            too_few_draws=est.pass_rate.too_few_draws,
            min_random_draws=est.min_random_draws,
            by_category=sorted(
                (
                    CategoryRate(
                        category=c.domain,
                        population=c.population,
                        n=c.n_sampled,
                        pass_rate=None if c.estimate is None else 1 - float(c.estimate),
                        low=1 - float(c.upper),
                        high=1 - float(c.lower),
                        n_random=c.n_random,
                        too_few_draws=c.too_few_draws,
                    )
                    for c in est.by_category
                    if c.outcome == "fail"
                ),
                key=lambda c: (-c.n, c.category),
            ),
        )

    def plan_estimate(self, plan_id: str) -> EstimateRow | None:
        """The plan's pass-rate estimate from its results so far (None before the first result)."""
        row = store.get_plan(self._session, plan_id)
        return None if row is None else self._estimate(row)

    def estimates(self) -> list[EstimateRow]:
        """One pass-rate estimate per plan with results, oldest first (the trend over time).

        Every such plan, however many plans without results came after it (the page once read only the
        newest 40 plans and said "no results" while older plans had them); estimates are cached per result
        count, so a visit re-estimates only plans with new results.
        """
        return [e for r in store.plans_with_results(self._session) if (e := self._estimate(r)) is not None]

    # --- lexicon suggestions ------------------------------------------------------------------------------
    def _miners(self) -> lexicon_service.SuggestionCache:
        cache: lexicon_service.SuggestionCache | None = getattr(self._state, "lexicon_suggestions", None)
        if cache is None:
            cache = self._state.lexicon_suggestions = lexicon_service.SuggestionCache()
        return cache

    def lexicon_page(self, target: str) -> LexiconPage:
        """Suggestions mined from the service's market for `target`, the lexicon folder's version and history."""
        model = self._model()
        scored = self._scored(model)
        try:
            lex, df = lexicon_service.suggestions(
                scored.market, scored.fingerprint, self._settings, self._miners(), target=target
            )
            changes = history(self._settings.lexicon_path())
        except (FileNotFoundError, ValueError) as e:
            raise Unavailable(f"词库不可用：{e}") from e
        miner = self._miners().miner(scored.market, scored.fingerprint, target)
        return LexiconPage(
            target=target,
            version=lex.version,
            model_version=model.info.lexicon_version,
            sizes={k: len(v) for k, v in lex.phrases.items()},
            kinds=[(k, KIND_ZH.get(k, k)) for k in lex.kinds],
            n_failing=len(miner.fail_ids),
            n_passing=len(miner.pass_ids),
            suggestions=[_suggestion_row(r) for r in df.to_dict("records")],
            history=[_change_row(c, self._settings.timezone) for c in reversed(changes[-50:])],
        )

    def lexicon_decision(
        self, *, action: str, phrase: str, kind: str, target: str, key_id: str, note: str
    ) -> LexiconChange:
        """Accept or reject a phrase in the service's lexicon folder, recording who did it and the evidence."""
        model = self._model()
        scored = self._scored(model)
        row = store.get_key(self._session, key_id)
        by = f"{row.name} ({key_id})" if row is not None and row.name else key_id
        try:
            return lexicon_service.decide(
                scored.market,
                scored.fingerprint,
                self._settings,
                self._miners(),
                action=action,
                phrase=phrase,
                kind=kind,
                target=target,
                by=by,
                note=note,
            )
        except LexiconChangeError as e:
            raise LexiconInputError(lexicon_problem_zh(str(e))) from e


def lexicon_problem_zh(message: str) -> str:
    """The lexicon's one-line refusal, introduced in Chinese (the phrase and kind names stay as they are)."""
    return f"无法修改词库：{message}"


def _suggestion_row(r: Any) -> SuggestionRow:
    """A row of `features.cues` suggestions (a frame row as a dict) for the page."""
    return SuggestionRow(
        phrase=str(r["phrase"]),
        suggested_kind=str(r.get("suggested_kind") or ""),
        n_fail=int(r["n_fail"]),
        n_pass=int(r["n_pass"]),
        share_fail=float(r["share_fail"]),
        share_pass=float(r["share_pass"]),
        lift=float(r["lift"]),
        z=float(r["z"]),
        background=int(r["background"]),
        evidence=[_evidence_row(e) for e in r.get("evidence") or [] if isinstance(e, CueEvidence)],
    )


def _evidence_row(e: CueEvidence, *, context: int = 18) -> CueEvidenceRow:
    before, after = e.text[: e.start], e.text[e.end :]
    return CueEvidenceRow(
        listing_id=e.listing_id,
        field="标题" if e.field == "title" else "描述",
        before=("…" + before[-context:]) if len(before) > context else before,
        hit=e.text[e.start : e.end],
        after=(after[:context] + "…") if len(after) > context else after,
    )


def _change_row(c: LexiconChange, zone: str) -> LexiconChangeRow:
    n_fail, n_pass = c.evidence.get("n_fail"), c.evidence.get("n_pass")
    try:
        at = local_time(datetime.fromisoformat(c.at), zone)
    except ValueError:  # a hand-edited record: show what it says
        at = c.at
    return LexiconChangeRow(
        at=at,
        action="采纳" if c.action == "accept" else "驳回",
        phrase=c.phrase,
        kind=KIND_ZH.get(c.kind, c.kind) if c.kind else "—",
        by=c.by,
        version=c.kind_version,
        n_fail=int(n_fail) if isinstance(n_fail, int) else None,
        n_pass=int(n_pass) if isinstance(n_pass, int) else None,
        note=c.note,
    )


def get_backend(request: Request, session: SessionDep) -> ServiceBackend:
    """A backend over this request's database session (the API's own session dependency)."""
    return ServiceBackend(request, session)
