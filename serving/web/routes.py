"""The planner pages: login, market overview, plan builder, plan view with lab results, pass-rate trend.

Server-rendered Jinja2 pages under `/web`, served by the same FastAPI app as the JSON API and kept out
of its OpenAPI schema. Nothing is visible without a planner login; every state-changing form carries
the session's CSRF token. The pages hold no business logic: plans, results and estimates go through
`serving.web.backend`, which calls the same service functions as the JSON routes.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from features.cues import TARGETS
from serving import security
from serving.web import session as websession
from serving.web.backend import (
    LexiconInputError,
    PlanInputError,
    RandomArmTooSmall,
    Unavailable,
    WebBackend,
    get_backend,
    web_config,
)
from serving.web.charts import IntervalPoint, interval_chart, risk_bars
from serving.web.forms import parse_plan_form
from serving.web.views import FAILURE_TYPES_ZH, ROLES_ZH, TARGETS_ZH, PlanForm

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
router = APIRouter(prefix="/web", tags=["web"], include_in_schema=False)

_STATIC = {"style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
_LOGIN_CSRF_COOKIE = "choujian_login_csrf"
#: roles that may use the planner pages: the same as the API's plan routes (roles are disjoint there)
WEB_ROLES = frozenset({"planner"})
_FLASH = {
    "login": ("ok", "已登录。"),
    "plan": ("ok", "抽检计划已生成。"),
    "result": ("ok", "检测结果已录入，估计值已更新。"),
    "result-dup": ("ok", "这条检测结果此前已录入，未重复保存。"),
    "lexicon-accept": (
        "ok",
        "短语已加入词库，词库版本已更新（见下方变更记录）。下一次训练的模型将使用新词库；在用模型不变，直到重新训练并发布。",
    ),
    "lexicon-reject": ("ok", "已驳回：该短语不再出现在建议中。"),
}
# pages render only same-origin resources; inline style attributes carry bar widths
_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

Backend = Annotated[WebBackend, Depends(get_backend)]


def _harden(response: Response) -> Response:
    """Security headers for every page: same-origin resources only, no framing, never cached."""
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or web_config(request).cookie_secure


def _safe_next(target: str | None, request: Request) -> str:
    """Only same-site paths under /web may be a post-login destination (no open redirects)."""
    default = str(request.url_for("web_overview").path)
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/web/") or target.startswith("//"):
        return default
    if parts.path.startswith(("/web/login", "/web/logout", "/web/static")):
        return default
    return target


def _login_redirect(request: Request) -> HTTPException:
    if request.method == "GET":
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:  # a form posted after the session ended: come back to the page it was posted from
        nxt = urlsplit(request.headers.get("referer", "")).path
    location = f"{request.url_for('web_login').path}?next={quote(nxt, safe='')}"
    return HTTPException(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})


def current_session(request: Request, backend: Backend) -> websession.WebSession:
    """The logged-in planner's session; anyone else is sent to the login page."""
    cfg = web_config(request)
    sess = websession.decode(request.cookies.get(websession.COOKIE_NAME), cfg.secret, max_age_s=cfg.max_age_s)
    if sess is None:
        raise _login_redirect(request)
    principal = backend.principal(sess.key_id)  # a revoked key or changed role ends the session
    if principal is None or principal.role not in WEB_ROLES:
        raise _login_redirect(request)
    # signed but not bound to the key's current hash: forged with a leaked secret, or the key was rotated
    if not security.bound(cfg.secret, principal.key_hash, sess.binding):
        logger.warning("web session for key %s refused: not bound to the key's current secret", sess.key_id)
        raise _login_redirect(request)
    return sess


Session = Annotated[websession.WebSession, Depends(current_session)]


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    out: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            out.setdefault(k, []).append(v)
    return out


def _csrf_ok(sess: websession.WebSession, form: dict[str, list[str]]) -> bool:
    return websession.csrf_matches(sess, (form.get("csrf_token") or [""])[0])


def _plan_not_found(
    request: Request, plan_id: str, *, sess: websession.WebSession, backend: WebBackend
) -> HTMLResponse:
    """The 404 page for an unknown plan id, with a way back to the plan list."""
    return _error_page(
        request,
        status_code=404,
        title="没有这个抽检计划",
        message=f"找不到编号为 {plan_id} 的抽检计划。",
        sess=sess,
        backend=backend,
        back_url=str(request.url_for("web_plans").path),
    )


def _error_page(
    request: Request,
    *,
    status_code: int,
    title: str,
    message: str,
    sess: websession.WebSession,
    backend: WebBackend,
    back_url: str | None = None,
) -> HTMLResponse:
    ctx = {"title": title, "message": message, "back_url": back_url}
    return _render(request, "error.html", ctx, sess=sess, backend=backend, status_code=status_code)


def _csrf_failed(request: Request, sess: websession.WebSession, backend: WebBackend) -> HTMLResponse:
    return _error_page(
        request,
        status_code=403,
        title="请求已过期",
        message="表单的安全令牌无效或缺失（可能页面已过期或来自其他网站）。请返回、刷新页面后重试。",
        sess=sess,
        backend=backend,
    )


def _unavailable(request: Request, e: Unavailable, sess: websession.WebSession, backend: WebBackend) -> HTMLResponse:
    return _error_page(request, status_code=503, title="服务暂不可用", message=str(e), sess=sess, backend=backend)


def _render(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    *,
    sess: websession.WebSession | None,
    backend: WebBackend | None,
    status_code: int = 200,
) -> HTMLResponse:
    flash_code = request.query_params.get("msg")
    flash = None
    if flash_code in _FLASH:
        kind, text = _FLASH[flash_code]
        flash = {"kind": kind, "text": text}
    base: dict[str, Any] = {
        "session": sess,
        "role_zh": ROLES_ZH.get(sess.role, sess.role) if sess else "",
        "model_label": backend.model_label() if backend else "",
        "flash": flash,
    }
    base.update(ctx)
    resp = templates.TemplateResponse(request, template, base, status_code=status_code)
    return _harden(resp)  # type: ignore[return-value]


# --- static assets (shipped inside the package; no CDN) ---------------------------------------------
@router.get("/static/{name}", name="web_static")
def static_file(name: str) -> Response:
    """Serve the pages' CSS and JS from the package."""
    if name not in _STATIC:
        raise HTTPException(status_code=404, detail="not found")
    body = (_HERE / "static" / name).read_bytes()
    resp = Response(content=body, media_type=_STATIC[name])
    resp.headers["Cache-Control"] = "public, max-age=3600"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# --- login / logout -----------------------------------------------------------------------------------
@router.get("/login", name="web_login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The login form; a pre-login CSRF token (double-submit cookie) stops cross-site login forcing."""
    token = secrets.token_urlsafe(24)
    resp = _render(
        request,
        "login.html",
        {"login_csrf": token, "next": _safe_next(next, request), "error": None},
        sess=None,
        backend=None,
    )
    resp.set_cookie(
        _LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True, samesite="lax", secure=_secure(request), path="/web"
    )
    return resp


@router.post("/login", name="web_login_submit", response_class=HTMLResponse)
async def login_submit(request: Request, backend: Backend) -> Response:
    """Check the key; on success set the signed session cookie and go where the user was heading."""
    return await run_in_threadpool(_login_submit, request, backend, await _form(request))


def _login_submit(request: Request, backend: WebBackend, form: dict[str, list[str]]) -> Response:
    api_key = (form.get("api_key") or [""])[0].strip()
    nxt = _safe_next((form.get("next") or [""])[0], request)
    token = (form.get("csrf_token") or [""])[0]
    cookie_token = request.cookies.get(_LOGIN_CSRF_COOKIE, "")
    error: str | None = None
    principal = None
    if not token or not cookie_token or not secrets.compare_digest(token, cookie_token):
        error = "登录表单已过期，请重新输入密钥。"
    elif not api_key:
        error = "请输入 API 密钥。"
    else:
        principal = backend.authenticate(api_key)
        if principal is None:
            error = "密钥无效或已被吊销。"
        elif principal.role not in WEB_ROLES:
            error = f"该密钥的角色是“{ROLES_ZH.get(principal.role, principal.role)}”，只有抽检规划员可以登录。"
    if error is not None or principal is None:
        logger.info("web login refused: %s", error)
        new_token = secrets.token_urlsafe(24)
        resp = _render(
            request,
            "login.html",
            {"login_csrf": new_token, "next": nxt, "error": error},
            sess=None,
            backend=None,
            status_code=401,
        )
        resp.set_cookie(
            _LOGIN_CSRF_COOKIE,
            new_token,
            max_age=1800,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            path="/web",
        )
        return resp
    cfg = web_config(request)
    sess = websession.new_session(
        key_id=principal.key_id, role=principal.role, binding=security.binding(cfg.secret, principal.key_hash)
    )
    sep = "&" if "?" in nxt else "?"
    ok = RedirectResponse(f"{nxt}{sep}msg=login" if nxt == request.url_for("web_overview").path else nxt, 303)
    ok.set_cookie(
        websession.COOKIE_NAME,
        websession.encode(sess, cfg.secret),
        max_age=cfg.max_age_s,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    ok.delete_cookie(_LOGIN_CSRF_COOKIE, path="/web")
    logger.info("web login: key %s (%s)", principal.key_id, principal.role)
    return _harden(ok)


@router.post("/logout", name="web_logout")
async def logout(request: Request, sess: Session, backend: Backend) -> Response:
    """End the session (POST with the CSRF token, so no third-party page can log a planner out)."""
    if not _csrf_ok(sess, await _form(request)):
        return _csrf_failed(request, sess, backend)
    resp = RedirectResponse(str(request.url_for("web_login").path), 303)
    resp.delete_cookie(websession.COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return _harden(resp)


# --- pages --------------------------------------------------------------------------------------------
@router.get("", include_in_schema=False)
@router.get("/", name="web_overview", response_class=HTMLResponse)
def overview(request: Request, sess: Session, backend: Backend) -> HTMLResponse:
    """Market overview: mean predicted failure probability and counts by category and platform."""
    try:
        ov = backend.market_overview()
        drift = backend.market_drift()
    except Unavailable as e:
        return _unavailable(request, e, sess, backend)
    # the cached overview is shared between requests: draw onto a copy
    ov = replace(
        ov,
        category_chart=risk_bars(ov.by_category, title="各类目平均预测不合格概率"),
        platform_chart=risk_bars(ov.by_platform, title="各平台平均预测不合格概率"),
    )
    page = {"nav": "overview", "ov": ov, "drift": drift}
    return _render(request, "overview.html", page, sess=sess, backend=backend)


@router.get("/plans", name="web_plans", response_class=HTMLResponse)
def plans(request: Request, sess: Session, backend: Backend) -> HTMLResponse:
    """All plans, newest first."""
    return _render(request, "plans.html", {"nav": "plans", "plans": backend.list_plans()}, sess=sess, backend=backend)


@router.get("/plans/new", name="web_plan_new", response_class=HTMLResponse)
def plan_new(request: Request, sess: Session, backend: Backend) -> HTMLResponse:
    """The plan builder form, with one quota row per category in the current market."""
    return _plan_form(request, sess, backend, PlanForm(), [])


def _plan_form(
    request: Request,
    sess: websession.WebSession,
    backend: WebBackend,
    form: PlanForm,
    errors: list[str],
    *,
    offer_confirm: bool = False,
) -> HTMLResponse:
    try:
        categories = backend.market_overview().by_category
    except Unavailable as e:
        return _unavailable(request, e, sess, backend)
    ctx = {"nav": "new", "form": form, "errors": errors, "categories": categories, "offer_confirm": offer_confirm}
    return _render(request, "plan_new.html", ctx, sess=sess, backend=backend, status_code=422 if errors else 200)


@router.post("/plans", name="web_plan_create")
async def plan_create(request: Request, sess: Session, backend: Backend) -> Response:
    """Create a plan through the service's plan-creation path, then show it."""
    fields = await _form(request)
    # scoring and planning take seconds of CPU and the store blocks: keep them off the event loop
    return await run_in_threadpool(_plan_create, request, sess, backend, fields)


def _plan_create(
    request: Request, sess: websession.WebSession, backend: WebBackend, fields: dict[str, list[str]]
) -> Response:
    if not _csrf_ok(sess, fields):
        return _csrf_failed(request, sess, backend)
    form, req, errors = parse_plan_form(fields)
    if req is None:
        return _plan_form(request, sess, backend, form, errors)
    try:
        plan_id = backend.create_plan(req, key_id=sess.key_id)
    except RandomArmTooSmall as e:  # nothing drawn yet: say so, and let the planner confirm or change the plan
        return _plan_form(request, sess, backend, form, [str(e)], offer_confirm=True)
    except PlanInputError as e:
        return _plan_form(request, sess, backend, form, [str(e)])
    except Unavailable as e:
        return _unavailable(request, e, sess, backend)
    url = request.url_for("web_plan", plan_id=plan_id).path
    return _harden(RedirectResponse(f"{url}?msg=plan", 303))


@router.get("/plans/{plan_id}", name="web_plan", response_class=HTMLResponse)
def plan_view(request: Request, plan_id: str, sess: Session, backend: Backend) -> HTMLResponse:
    """A plan: ranked targets with cost, probability, arm and reasons; budget used; result forms."""
    return _plan_page(request, plan_id, sess, backend)


def _plan_page(
    request: Request,
    plan_id: str,
    sess: websession.WebSession,
    backend: WebBackend,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = backend.get_plan(plan_id)
    if found is None:
        return _plan_not_found(request, plan_id, sess=sess, backend=backend)
    summary, targets = found
    ctx = {
        "nav": "plans",
        "plan": summary,
        "targets": targets,
        "estimate": backend.plan_estimate(plan_id),
        "failure_types": list(FAILURE_TYPES_ZH.items()),
        "error": error,
        "today": date.today().isoformat(),
    }
    return _render(request, "plan.html", ctx, sess=sess, backend=backend, status_code=status_code)


_CSV_HEADER = [
    "排名",
    "商品编号",
    "商品标题",
    "商家编号",
    "类目",
    "平台",
    "费用（元）",
    "不合格概率",
    "入样概率",
    "方式",
    "原因",
    "检测结果",
]


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (titles come from merchants)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/plans/{plan_id}/targets.csv", name="web_plan_csv")
def plan_csv(request: Request, plan_id: str, sess: Session, backend: Backend) -> Response:
    """The plan's ranked targets as CSV for the buyers (UTF-8 with BOM, so Excel shows the Chinese)."""
    found = backend.get_plan(plan_id)
    if found is None:
        return _plan_not_found(request, plan_id, sess=sess, backend=backend)
    _, targets = found
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(_CSV_HEADER)
    for t in targets:
        result = "" if t.result is None else ("合格" if t.result == "pass" else "不合格：" + "、".join(t.failure_types))
        writer.writerow(
            [
                t.rank,
                t.listing_id,
                _cell(t.title),
                t.merchant_id,
                _cell(t.category),
                _cell(t.platform),
                f"{t.cost:.2f}",
                f"{t.probability:.4f}",
                f"{t.inclusion_prob:.6f}",
                {"random": "随机", "topup": "补充"}.get(t.arm, "定向"),
                _cell("；".join(t.reasons)),
                result,
            ]
        )
    resp = Response(content="\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="{quote(plan_id)}-targets.csv"'
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _result_problem(listing_id: str, verdict: str, types: list[str], *, raw_date: str) -> tuple[date, str | None]:
    """The sampling date and what is wrong with a result form, in Chinese (None when nothing is)."""
    today = date.today()
    if raw_date:
        try:
            sampled = date.fromisoformat(raw_date)
        except ValueError:
            return today, f"抽样日期“{raw_date}”不是有效日期（格式 YYYY-MM-DD）。"
    else:
        sampled = today
    # a day of slack: the planner's clock and the server's may sit on either side of midnight
    if sampled > today + timedelta(days=1):
        return sampled, f"抽样日期 {sampled.isoformat()} 在未来。"
    if verdict not in ("pass", "fail"):
        return sampled, "请选择检测结论：合格或不合格。"
    if verdict == "fail" and not types:
        return sampled, f"商品 {listing_id}：不合格结论至少需要选择一种不合格类型。"
    if verdict == "pass" and types:
        return sampled, f"商品 {listing_id}：合格结论不能带不合格类型。"
    if any(t not in FAILURE_TYPES_ZH for t in types):
        return sampled, "未知的不合格类型。"
    return sampled, None


@router.post("/plans/{plan_id}/results", name="web_record_result")
async def record_result(request: Request, plan_id: str, sess: Session, backend: Backend) -> Response:
    """Record one lab result against a plan's target through the API's service path (idempotent)."""
    fields = await _form(request)
    return await run_in_threadpool(_record_result, request, plan_id, sess, backend, fields)


def _record_result(
    request: Request, plan_id: str, sess: websession.WebSession, backend: WebBackend, fields: dict[str, list[str]]
) -> Response:
    if not _csrf_ok(sess, fields):
        return _csrf_failed(request, sess, backend)
    listing_id = (fields.get("listing_id") or [""])[0]
    verdict = (fields.get("verdict") or [""])[0]
    types = sorted({t for t in fields.get("failure_types", []) if t})
    sampled, error = _result_problem(
        listing_id, verdict, types, raw_date=(fields.get("sampled_date") or [""])[0].strip()
    )
    if error is None:
        try:
            created = backend.record_result(
                plan_id,
                listing_id=listing_id,
                verdict=verdict,
                failure_types=types,
                sampled_date=sampled,
                key_id=sess.key_id,
            )
        except PlanInputError as e:
            error = str(e)
    if error is not None:
        return _plan_page(request, plan_id, sess, backend, error=error, status_code=422)
    url = request.url_for("web_plan", plan_id=plan_id).path
    return _harden(RedirectResponse(f"{url}?msg={'result' if created else 'result-dup'}", 303))


@router.get("/estimates", name="web_estimates", response_class=HTMLResponse)
def estimates(request: Request, sess: Session, backend: Backend) -> HTMLResponse:
    """Market pass rate per plan over time, as points with 95% error bars."""
    rows = backend.estimates()
    points = [
        IntervalPoint(
            label=r.date.isoformat() if r.date else r.plan_id,
            sublabel=r.plan_id.rsplit("-", 1)[-1] if r.date else "",
            detail=f"计划 {r.plan_id}，n = {r.n}",
            value=r.pass_rate,
            low=r.low,
            high=r.high,
        )
        for r in rows
        if r.pass_rate is not None
    ]
    chart = interval_chart(points, title="市场合格率估计（95% 置信区间）")
    return _render(
        request, "estimates.html", {"nav": "estimates", "rows": rows, "chart": chart}, sess=sess, backend=backend
    )


# --- lexicon suggestions --------------------------------------------------------------------------------
@router.get("/lexicon", name="web_lexicon", response_class=HTMLResponse)
def lexicon(request: Request, sess: Session, backend: Backend, target: str = "lab_fail") -> HTMLResponse:
    """Phrases in no lexicon that separate failing from passing lab-tested listings, to accept or reject."""
    return _lexicon_page(request, sess, backend, target=target)


def _lexicon_page(
    request: Request,
    sess: websession.WebSession,
    backend: WebBackend,
    *,
    target: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if target not in TARGETS:
        target, error, status_code = "lab_fail", f"未知的检测结论类型“{target[:40]}”，已显示全部不合格。", 422
    try:
        page = backend.lexicon_page(target)
    except Unavailable as e:
        return _unavailable(request, e, sess, backend)
    ctx = {"nav": "lexicon", "page": page, "targets": list(TARGETS_ZH.items()), "error": error}
    return _render(request, "lexicon.html", ctx, sess=sess, backend=backend, status_code=status_code)


@router.post("/lexicon/decisions", name="web_lexicon_decide")
async def lexicon_decide(request: Request, sess: Session, backend: Backend) -> Response:
    """Accept a suggested phrase into a lexicon (a new lexicon version) or reject it; both are recorded."""
    fields = await _form(request)
    return await run_in_threadpool(_lexicon_decide, request, sess, backend, fields)


def _lexicon_decide(
    request: Request, sess: websession.WebSession, backend: WebBackend, fields: dict[str, list[str]]
) -> Response:
    if not _csrf_ok(sess, fields):
        return _csrf_failed(request, sess, backend)

    def one(name: str) -> str:
        return (fields.get(name) or [""])[0].strip()

    action, target = one("action"), one("target") or "lab_fail"
    if target not in TARGETS:
        target = "lab_fail"
    if action not in ("accept", "reject"):
        return _lexicon_page(request, sess, backend, target=target, error="请选择采纳或驳回。", status_code=422)
    try:
        backend.lexicon_decision(
            action=action,
            phrase=one("phrase"),
            kind=one("kind"),
            target=target,
            key_id=sess.key_id,
            note=one("note")[:500],
        )
    except LexiconInputError as e:
        return _lexicon_page(request, sess, backend, target=target, error=str(e), status_code=422)
    except Unavailable as e:
        return _unavailable(request, e, sess, backend)
    url = request.url_for("web_lexicon").path
    return _harden(RedirectResponse(f"{url}?target={quote(target)}&msg=lexicon-{action}", 303))
