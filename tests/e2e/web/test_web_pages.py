"""The planner pages over HTTP without a browser: login, access control, cookies, CSRF, plan flow errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.web.session import COOKIE_NAME

PAGES = ["/web/", "/web/plans", "/web/plans/new", "/web/estimates", "/web/plans/plan-x"]


@pytest.fixture
def client(tmp_path: Path, web_tools: Any) -> Iterator[TestClient]:
    app = web_tools.app(tmp_path / "store.db")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.app_keys = {role: web_tools.make_key(app, role) for role in ("planner", "platform", "admin")}  # type: ignore[attr-defined]
        yield c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(c: TestClient, key: str, *, next: str = "") -> Any:
    page = c.get("/web/login" + (f"?next={next}" if next else ""))
    assert page.status_code == 200
    return c.post(
        "/web/login",
        data={"api_key": key, "csrf_token": _csrf(page.text), "next": next},
        follow_redirects=False,
    )


@pytest.mark.parametrize("path", PAGES)
def test_nothing_visible_without_login(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/web/login?next=")
    assert "市场" not in r.text


def test_forged_cookie_is_not_a_session(client: TestClient) -> None:
    client.cookies.set(COOKIE_NAME, "eyJrIjoiYWRtaW4ifQ.forged.sig")
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_login_sets_a_hardened_cookie_and_logout_clears_it(client: TestClient) -> None:
    r = login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"].startswith("/web/")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME + "="))
    low = cookie.lower()
    assert "httponly" in low and "samesite=lax" in low and "path=/" in low
    assert "secure" not in low  # plain http on localhost; https gets Secure (next test)
    assert client.app_keys["planner"] not in cookie  # type: ignore[attr-defined]  # the key never goes in the cookie
    page = client.get("/web/")
    assert page.status_code == 200 and "市场概览" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    out = client.post("/web/logout", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/web/login"
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https(tmp_path: Path, web_tools: Any) -> None:
    app = web_tools.app(tmp_path / "s.db")
    with TestClient(app, base_url="https://testserver") as c:
        key = web_tools.make_key(app, "planner")
        r = login(c, key)
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME + "="))
        assert "secure" in cookie.lower()


@pytest.mark.parametrize(
    ("key", "message"),
    [("cj_nope_nope", "密钥无效"), ("", "请输入"), ("platform", "只有抽检规划员"), ("admin", "只有抽检规划员")],
)
def test_login_refusals(client: TestClient, key: str, message: str) -> None:
    key = client.app_keys.get(key, key)  # type: ignore[attr-defined]
    r = login(client, key)
    assert r.status_code == 401 and message in r.text
    assert COOKIE_NAME not in r.headers.get("set-cookie", "")


def test_login_needs_the_login_form_token(client: TestClient) -> None:
    client.get("/web/login")
    r = client.post("/web/login", data={"api_key": client.app_keys["planner"], "csrf_token": "forged"})  # type: ignore[attr-defined]
    assert r.status_code == 401 and "已过期" in r.text


def test_login_goes_back_where_it_was_asked_but_never_off_site(client: TestClient) -> None:
    r = login(client, client.app_keys["planner"], next="/web/estimates")  # type: ignore[attr-defined]
    assert r.headers["location"] == "/web/estimates"
    for evil in ("https://evil.example/web/", "//evil.example/web/", "/v1/plans", "/web/logout"):
        client.cookies.clear()
        r = login(client, client.app_keys["planner"], next=evil)  # type: ignore[attr-defined]
        assert r.headers["location"].startswith("/web/?"), evil


def test_revoking_the_key_ends_the_session(client: TestClient) -> None:
    from serving import store

    key = client.app_keys["planner"]  # type: ignore[attr-defined]
    login(client, key)
    assert client.get("/web/plans").status_code == 200
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        store.revoke_key(s, store.split_key(key)[0])  # type: ignore[index]
    assert client.get("/web/plans", follow_redirects=False).status_code == 303


def test_forms_refuse_a_missing_or_foreign_csrf_token(client: TestClient) -> None:
    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    for token in ("", "not-the-token"):
        r = client.post("/web/plans", data={"csrf_token": token, "budget": "5000", "epsilon": "0.2", "seed": "1"})
        assert r.status_code == 403 and "安全令牌" in r.text
    assert "plan-" not in client.get("/web/plans").text  # nothing was created


def test_plan_form_errors_name_the_field_and_keep_the_input(client: TestClient) -> None:
    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    token = _csrf(client.get("/web/plans/new").text)
    r = client.post("/web/plans", data={"csrf_token": token, "budget": "-3", "epsilon": "0.2", "seed": "1"})
    assert r.status_code == 422 and "预算必须大于" in r.text and 'value="-3"' in r.text
    # a per-merchant cap of 1 with a random arm is refused by the planner itself, via the service
    r = client.post(
        "/web/plans",
        data={"csrf_token": token, "budget": "5000", "epsilon": "0.2", "per_merchant_cap": "1", "seed": "1"},
    )
    assert r.status_code == 422
    assert "无法生成计划" in r.text or "计划参数无效" in r.text
    assert "每商家上限（per_merchant_cap）为 1 时" in r.text  # the planner's own message, in Chinese, names the field
    assert "with a random arm" not in r.text


def test_unknown_plan_is_a_page_not_json(client: TestClient) -> None:
    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    r = client.get("/web/plans/plan-does-not-exist")
    assert r.status_code == 404 and "没有这个抽检计划" in r.text


def test_web_pages_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/web")]


def test_static_assets_ship_with_the_package(client: TestClient) -> None:
    css = client.get("/web/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http" not in re.sub(r"/\*.*?\*/", "", css.text, flags=re.S)  # no external URL in the CSS
    assert client.get("/web/static/app.js").status_code == 200
    assert client.get("/web/static/../routes.py").status_code == 404
    assert client.get("/web/static/secret.txt").status_code == 404


def _planner(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app_keys['planner']}"}  # type: ignore[attr-defined]


def _make_plan(client: TestClient) -> tuple[str, str, dict[str, Any]]:
    """Create a plan through the page; returns (plan id, the plan page's CSRF token, the API's view of it)."""
    token = _csrf(client.get("/web/plans/new").text)
    fields = {"csrf_token": token, "budget": "20000", "epsilon": "0.3", "per_merchant_cap": "2", "seed": "3"}
    r = client.post("/web/plans", data=fields, follow_redirects=False)
    # the small test market's random arm is too small to estimate from: the page says so before drawing
    assert r.status_code == 422 and "随机抽样预计只抽到" in r.text and 'name="confirm_small"' in r.text
    assert client.get("/v1/plans", headers=_planner(client)).json()["total"] == 0
    r = client.post("/web/plans", data={**fields, "confirm_small": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    plan_id = r.headers["location"].split("/web/plans/")[1].split("?")[0]
    api = client.get(f"/v1/plans/{plan_id}", headers={"Authorization": f"Bearer {client.app_keys['planner']}"})  # type: ignore[attr-defined]
    page = client.get(f"/web/plans/{plan_id}")
    return plan_id, _csrf(page.text), api.json()


def test_plan_page_title_is_plain_text(client: TestClient) -> None:
    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    plan_id, _, _ = _make_plan(client)
    html = client.get(f"/web/plans/{plan_id}").text
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert plan_id in title and "<" not in title, title[:200]


def test_result_form_refusals_and_idempotence(client: TestClient) -> None:
    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    plan_id, token, plan = _make_plan(client)
    lid = plan["targets"][0]["listing_id"]
    url = f"/web/plans/{plan_id}/results"

    def post(**data: Any) -> Any:
        return client.post(url, data={"csrf_token": token, "listing_id": lid, **data}, follow_redirects=False)

    cases = [
        ({"verdict": "fail"}, "至少需要选择一种不合格类型"),
        ({"verdict": "pass", "failure_types": "quality"}, "合格结论不能带不合格类型"),
        ({"verdict": "fail", "failure_types": "poison"}, "未知的不合格类型"),
        ({"verdict": "maybe"}, "请选择检测结论"),
        ({"verdict": "pass", "sampled_date": "2999-01-01"}, "在未来"),
        ({"verdict": "pass", "sampled_date": "23/11/2026"}, "不是有效日期"),
    ]
    for data, message in cases:
        r = post(**data)
        assert r.status_code == 422 and message in r.text, (data, r.text[:300])
    # a listing that is not a target of the plan is refused by the service, as over the API
    r = client.post(url, data={"csrf_token": token, "listing_id": "L-not-in-plan", "verdict": "pass"})
    assert r.status_code == 422 and f"商品 L-not-in-plan 不在抽检计划 {plan_id} 的抽样名单中" in r.text
    assert "is not a target" not in r.text
    # the first result is stored, the same one again is stored once, a different one is a conflict
    ok = post(verdict="fail", failure_types="counterfeit", sampled_date="2026-11-20")
    assert ok.status_code == 303 and ok.headers["location"].endswith("?msg=result")
    again = post(verdict="fail", failure_types="counterfeit", sampled_date="2026-11-20")
    assert again.status_code == 303 and again.headers["location"].endswith("?msg=result-dup")
    clash = post(verdict="pass", sampled_date="2026-11-20")
    assert clash.status_code == 422 and "无法录入" in clash.text and "检测结果一经记录不可更改" in clash.text
    assert "检测结论已录入为“不合格”，本次为“合格”" in clash.text and "immutable" not in clash.text
    stored = client.get(
        f"/v1/plans/{plan_id}/results",
        headers={"Authorization": f"Bearer {client.app_keys['planner']}"},  # type: ignore[attr-defined]
    ).json()["results"]
    assert [(r["listing_id"], r["verdict"], r["sampled_date"]) for r in stored] == [(lid, "fail", "2026-11-20")]
    assert stored[0]["failure_types"] == ["counterfeit"]


def test_web_without_trailing_slash(client: TestClient) -> None:
    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    assert "市场概览" in client.get("/web").text


def test_pages_say_when_there_is_no_model(tmp_path: Path, web_tools: Any) -> None:
    def broken() -> Any:
        raise RuntimeError("registry unreachable")

    from serving.app import create_app

    from_tools = web_tools.app(tmp_path / "x.db")  # same settings, different loader below
    app = create_app(from_tools.state.settings, loader=broken)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        login(c, web_tools.make_key(app, "planner"))
        r = c.get("/web/")
        assert r.status_code == 503 and "模型尚未加载" in r.text and "registry unreachable" in r.text
        assert c.get("/web/plans").status_code == 200  # stored plans stay readable


def test_targets_download_as_csv(client: TestClient) -> None:
    import csv
    import io

    login(client, client.app_keys["planner"])  # type: ignore[attr-defined]
    plan_id, _, plan = _make_plan(client)
    r = client.get(f"/web/plans/{plan_id}/targets.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f"{plan_id}-targets.csv" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())  # BOM: Excel reads the Chinese as UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["排名", "商品编号", "商品标题"]
    assert [row[1] for row in rows[1:]] == [t["listing_id"] for t in plan["targets"]]
    client.cookies.clear()
    assert client.get(f"/web/plans/{plan_id}/targets.csv", follow_redirects=False).status_code == 303


def test_csv_cells_never_start_a_formula() -> None:
    from serving.web.routes import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("+1") == "'+1" and _cell("@x") == "'@x" and _cell("-2") == "'-2"
    assert _cell("蚕丝被 =好") == "蚕丝被 =好"


def test_a_form_posted_after_logout_returns_to_its_page_after_login(client: TestClient) -> None:
    r = client.post(
        "/web/plans/plan-x/results",
        data={"csrf_token": "t", "listing_id": "L1", "verdict": "pass"},
        headers={"Referer": "http://127.0.0.1/web/plans/plan-x"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/web/login?next=%2Fweb%2Fplans%2Fplan-x"


def test_plan_names_and_local_times(tmp_path: Path, web_tools: Any) -> None:
    """The name given in the builder is on the list and the plan page; times are Beijing time, or the setting's."""
    from datetime import datetime, timedelta

    for zone, label, hours in (("Asia/Shanghai", "北京时间", 8), ("America/New_York", "UTC-0", None)):
        app = web_tools.app(tmp_path / f"{hours}.db", timezone=zone)
        with TestClient(app, base_url="http://127.0.0.1") as c:
            c.app_keys = {"planner": web_tools.make_key(app, "planner")}  # type: ignore[attr-defined]
            login(c, c.app_keys["planner"])  # type: ignore[attr-defined]
            token = _csrf(c.get("/web/plans/new").text)
            fields = {
                "csrf_token": token,
                "name": "2026年第四季度 洗发水 专项抽检",
                "budget": "20000",
                "epsilon": "0.3",
                "per_merchant_cap": "2",
                "seed": "3",
                "confirm_small": "1",
            }
            r = c.post("/web/plans", data=fields, follow_redirects=False)
            assert r.status_code == 303, r.text[:300]
            plan_id = r.headers["location"].split("/web/plans/")[1].split("?")[0]
            api = c.get(f"/v1/plans/{plan_id}", headers=_planner(c)).json()
            assert api["name"] == fields["name"]
            created = datetime.fromisoformat(api["created_at"])
            listing = c.get("/web/plans").text
            page = c.get(f"/web/plans/{plan_id}").text
            for html in (listing, page):
                assert fields["name"] in html
                assert "UTC</td>" not in html and " UTC ·" not in html
            if hours is not None:
                shown = f"{(created + timedelta(hours=hours)):%Y-%m-%d %H:%M} {label}"
                assert shown in listing and shown in page
            else:
                assert label in listing and label in page  # New York is UTC-05:00 or UTC-04:00
    with pytest.raises(ValueError, match="unknown time zone"):
        web_tools.app(tmp_path / "bad.db", timezone="Mars/Olympus")
