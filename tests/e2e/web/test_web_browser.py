"""End to end in real headless Chromium against the app under uvicorn on localhost.

A planner logs in with a key, reads the market overview, builds a plan, sees ranked targets with
reasons, records lab results and watches the pass-rate estimate change; screenshots of each page go to
`test-artifacts/web/`. What the pages show is checked against the JSON API for the same plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1366, "height": 800}  # a common laptop screen


def _pct(text: str) -> float:
    m = re.search(r"(\d+(?:\.\d+)?)\s*%", text)
    assert m, f"no percentage in {text!r}"
    return float(m.group(1)) / 100


def test_planner_journey(browser: Any, live_server: Any, artifacts: Path) -> None:
    out = artifacts / "web"
    out.mkdir(exist_ok=True)
    base = live_server.url
    planner_key = live_server.keys["planner"]
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {planner_key}"}, timeout=60)

    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    failed_requests: list[str] = []
    page.on("requestfailed", lambda r: failed_requests.append(r.url))
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else external.append(r.url))

    # 1. nothing without a login: the overview sends us to the login page
    page.goto(f"{base}/web/")
    assert page.url.startswith(f"{base}/web/login")
    assert page.locator("input[name=api_key]").is_visible()
    page.screenshot(path=str(out / "01-login.png"))

    # a platform key is refused with a reason
    page.fill("input[name=api_key]", live_server.keys["platform"])
    page.click("button[type=submit]")
    assert "只有抽检规划员" in page.locator("[data-testid=login-error]").inner_text()

    # 2. the planner logs in and lands on the market overview
    page.fill("input[name=api_key]", planner_key)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/web/\?msg=login$"))
    cookies = {c["name"]: c for c in context.cookies()}
    session_cookie = cookies["choujian_session"]
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
    assert planner_key not in session_cookie["value"]
    n_categories = page.locator("[data-testid=chart-category] svg g.bar-row").count()
    n_platforms = page.locator("[data-testid=chart-platform] svg g.bar-row").count()
    assert n_categories >= 5 and n_platforms >= 2
    # bars are sorted by mean risk: the first category's label is the riskiest
    first_bar = page.locator("[data-testid=chart-category] svg g.bar-row").first.locator("title").text_content() or ""
    assert "平均不合格概率" in first_bar
    page.screenshot(path=str(out / "02-overview.png"), full_page=True)

    # 3. build a plan: budget, ε, cap, seed and one category quota
    page.click("text=新建抽检计划 >> nth=0")
    page.wait_for_url(f"{base}/web/plans/new")
    page.fill("#budget", "60000")
    page.fill("#epsilon", "0.5")
    page.fill("#per_merchant_cap", "3")
    page.fill("#seed", "5")
    quota_cat = page.locator("[data-testid=quotas] tbody tr").first.locator("td").first.inner_text()
    page.locator("[data-testid=quotas] tbody tr").first.locator("input[type=number]").first.fill("1")
    page.screenshot(path=str(out / "03-plan-builder.png"), full_page=True)
    page.click("[data-testid=create-plan]")
    page.wait_for_load_state()
    if page.locator("[data-testid=confirm-small]").count():  # a small market: the random arm is told first
        assert "随机抽样预计只抽到" in page.locator("[data-testid=form-errors]").inner_text()
        page.locator("[data-testid=confirm-small] input").check()
        page.click("[data-testid=create-plan]")
    page.wait_for_url(re.compile(r".*/web/plans/plan-[^/?]+\?msg=plan$"), timeout=120_000)
    plan_id = page.locator("[data-testid=plan-id]").inner_text().strip()

    # 4. the plan view: ranked targets with cost, probability, arm and reasons; budget used within budget
    rows = page.locator("[data-testid=targets] tbody tr")
    n = rows.count()
    assert n >= 3
    ranks = [int(rows.nth(i).locator("td.rank").inner_text()) for i in range(n)]
    assert ranks == sorted(ranks) and ranks[0] == 1
    targeted = page.locator("[data-testid=targets] tbody tr:has(.tag.targeted)")
    assert targeted.count() >= 1
    assert targeted.first.locator("ul.reasons li").count() >= 1  # a targeted pick says why
    used = page.locator("[data-testid=budget-used] .v").inner_text()
    spent, budget = (float(x.replace(",", "")) for x in re.findall(r"[\d,]+(?:\.\d+)?", used)[:2])
    assert 0 < spent <= budget == 60000
    assert "尚无估计" in page.locator("[data-testid=plan-estimate]").inner_text()
    page.screenshot(path=str(out / "04-plan-view.png"), full_page=True)

    # the page shows the plan the API stores: same targets, same order, made by the same service path
    api_plan = api.get(f"/v1/plans/{plan_id}").json()
    page_ids = [rows.nth(i).get_attribute("data-listing") for i in range(n)]
    assert page_ids == [t["listing_id"] for t in api_plan["targets"]]
    assert api_plan["quotas"][quota_cat]["min_purchases"] == 1
    assert api_plan["epsilon"] == 0.5 and api_plan["per_merchant_cap"] == 3 and api_plan["seed"] == 5

    # 5. record results: a failed targeted purchase, then a passed random draw
    def record(row: Any, verdict: str, types: list[str]) -> None:
        form = row.locator("form.result-form")
        form.locator("select[name=verdict]").select_option(verdict)
        for t in types:
            form.locator(f"input[value={t}]").check()
        # the URL after each result is the same, so wait on the navigation itself, not on the URL
        with page.expect_navigation(url=re.compile(r".*\?msg=result$")):
            form.locator("button[type=submit]").click()

    first_id = page_ids[0]
    record(page.locator(f"[data-testid=targets] tbody tr[data-listing='{first_id}']"), "fail", ["counterfeit"])
    done = page.locator(f"[data-testid=targets] tbody tr[data-listing='{first_id}'] [data-testid=result]")
    assert done.inner_text() == "不合格"
    est1 = page.locator("[data-testid=plan-estimate]").inner_text()
    # one targeted result says nothing about the rest of the market: no point estimate yet, only bounds
    assert "已检测 1 件" in est1 and "无数据" in est1

    # then every random-arm purchase: the first one fails (quality), the others pass
    random_ids = [
        rows.nth(i).get_attribute("data-listing")
        for i in range(n)
        if rows.nth(i).locator(".tag.random").count() and rows.nth(i).locator("form.result-form").count()
    ]
    assert len(random_ids) >= 2, "the plan has too few random-arm purchases to estimate from"
    estimates = [est1]
    for j, lid in enumerate(random_ids):
        row = page.locator(f"[data-testid=targets] tbody tr[data-listing='{lid}']")
        record(row, "fail" if j == 0 else "pass", ["quality"] if j == 0 else [])
        estimates.append(page.locator("[data-testid=plan-estimate]").inner_text())
        assert f"已检测 {j + 2} 件" in estimates[-1]
    est2 = estimates[-1]
    rate2 = _pct(est2)
    assert "无数据" not in est2 and "95% 区间" in est2
    assert len({_pct(e) for e in estimates[1:]}) >= 2  # the estimate moves as results come in
    assert page.locator("[data-testid=category-estimates] tbody tr").count() >= 1
    page.screenshot(path=str(out / "05-plan-with-results.png"), full_page=True)

    # the page's estimate is the API's
    api_est = api.get(f"/v1/plans/{plan_id}/estimate").json()
    assert api_est["n_results"] == 1 + len(random_ids)
    assert rate2 == pytest.approx(api_est["pass_rate"]["estimate"], abs=0.0006)
    low, high = (float(x) / 100 for x in re.findall(r"\d+\.\d", est2.split("区间")[1])[:2])
    assert low == pytest.approx(api_est["pass_rate"]["lower"], abs=0.0006)
    assert high == pytest.approx(api_est["pass_rate"]["upper"], abs=0.0006)
    assert low <= rate2 <= high

    # a second, later plan made and fully reported through the JSON API (a lab's system would do this)
    plan2 = api.post("/v1/plans", json={"budget": 60000, "epsilon": 0.5, "per_merchant_cap": 3, "seed": 6}).json()
    # made-up verdicts (no lab here): the riskier half of the picks and every third random draw fail
    drawn = [t["listing_id"] for t in plan2["targets"] if t["arm"] == "random"]
    fails = {t["listing_id"] for t in plan2["targets"] if t["p_fail"] >= 0.45} | set(drawn[::3])
    results = [
        {
            "listing_id": t["listing_id"],
            "sampled_date": "2026-11-20",
            "verdict": "fail" if t["listing_id"] in fails else "pass",
            "failure_types": ["three_no"] if t["listing_id"] in fails else [],
            "cost": t["cost"],
        }
        for t in plan2["targets"]
    ]
    assert api.post(f"/v1/plans/{plan2['plan_id']}/results", json={"results": results}).status_code == 200
    est_plan2 = api.get(f"/v1/plans/{plan2['plan_id']}/estimate").json()

    # 6. the pass-rate chart: one point with a 95% error bar per plan, oldest first
    page.click("text=合格率趋势 >> nth=0")
    page.wait_for_url(f"{base}/web/estimates")
    points = page.locator("[data-testid=pass-rate-chart] svg g.estimate")
    assert points.count() == 2
    for k in range(2):
        assert points.nth(k).locator("circle").count() == 1 and points.nth(k).locator("line").count() == 3
    table = page.locator("[data-testid=estimates] tbody tr")
    assert plan_id in table.nth(0).inner_text() and plan2["plan_id"] in table.nth(1).inner_text()
    assert _pct(table.nth(0).locator("[data-testid=pass-rate]").inner_text()) == pytest.approx(rate2, abs=0.0006)
    assert _pct(table.nth(1).locator("[data-testid=pass-rate]").inner_text()) == pytest.approx(
        est_plan2["pass_rate"]["estimate"], abs=0.0006
    )
    page.screenshot(path=str(out / "06-pass-rate-trend.png"), full_page=True)

    # the plan list: both plans, newest first, with their results counted
    page.click("nav.nav a[href$='/web/plans']")
    page.wait_for_url(f"{base}/web/plans")
    listed = page.locator("[data-testid=plans] tbody tr")
    assert listed.count() == 2
    assert plan2["plan_id"] in listed.nth(0).inner_text() and plan_id in listed.nth(1).inner_text()
    page.screenshot(path=str(out / "07-plans.png"), full_page=True)

    # 7. a form post without the session's CSRF token is refused, and changes nothing
    forged = context.request.post(
        f"{base}/web/plans/{plan_id}/results",
        form={"listing_id": page_ids[-1], "verdict": "pass", "csrf_token": "forged"},
    )
    assert forged.status == 403
    assert api.get(f"/v1/plans/{plan_id}/estimate").json()["n_results"] == 1 + len(random_ids)

    # 8. logout ends the session
    page.click("[data-testid=logout]")
    page.wait_for_url(re.compile(r".*/web/login$"))
    page.goto(f"{base}/web/plans")
    assert page.url.startswith(f"{base}/web/login")

    assert not external, f"the pages fetched outside resources: {external}"
    assert not failed_requests, f"requests failed: {failed_requests}"
    context.close()


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_api_docs_render_with_the_network_blocked(
    browser: Any, live_server: Any, artifacts: Path, path: str, rendered: str
) -> None:
    """Swagger UI and ReDoc come from the app itself: with every other host blocked they still render."""
    base = live_server.url
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    blocked: list[str] = []

    def offline(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}{path}")
    page.wait_for_selector(rendered)
    assert "Choujian" in page.locator(rendered).first.inner_text()
    # the operations are listed: the OpenAPI document loaded and was rendered, not only the page shell
    page.get_by_text("/v1/score/listing").first.wait_for()
    page.screenshot(path=str(artifacts / f"docs{path.replace('/', '-')}.png"))
    assert not blocked, f"{path} asked for outside resources: {blocked}"
    # the one expected line: the page's CSP refusing ReDoc's sidebar logo from cdn.redoc.ly (it hides itself)
    errors = [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e]
    assert not errors, f"{path} logged errors: {errors}"
    context.close()
