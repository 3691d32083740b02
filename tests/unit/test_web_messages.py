"""The service's English refusals reach the planner pages in Chinese (serving/web/messages.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from serving.schemas import PlanCreate, ResultIn
from serving.store import ResultConflict
from serving.web.messages import field_zh, problem_zh, validation_zh
from serving.web.views import local_time


@pytest.mark.parametrize(
    ("loc", "msg", "expected"),
    [
        (
            ["body", "results", 0],
            str(ResultConflict("plan-1", "L9", ["verdict stored 'fail', sent 'pass'"])),
            "商品 L9 的检测结果此前已录入，与本次不同（检测结论已录入为“不合格”，本次为“合格”）。"
            "检测结果一经记录不可更改。",
        ),
        (
            ["body", "results", 0, "listing_id"],
            "listing 'L1' is not a target of plan plan-1",
            "商品 L1 不在抽检计划 plan-1 的抽样名单中",
        ),
        (
            ["body", "budget"],
            "9,000,000 yuan is over this service's limit of 5,000,000 per plan (CHOUJIAN_MAX_PLAN_BUDGET); split the",
            "预算 9,000,000 元超过本服务单个计划 5,000,000 元的上限",
        ),
        (
            ["body", "budget"],
            "this plan would buy 2,500 listings, over the limit of 2,000 (CHOUJIAN_MAX_PLAN_TARGETS); lower the budget",
            "该计划将购买 2,500 件商品，超过单个计划 2,000 件的上限",
        ),
        (
            ["body", "quotas", "火星特产"],
            "no category '火星特产' in the market; known: 洗发水, 水果 (current market)",
            "当前市场没有类目“火星特产”",
        ),
        (
            ["body"],
            "infeasible plan: category '洗发水': its minimum cannot be met within the budget, caps and maxima "
            "(short by 3 purchase(s) / 0 yuan)",
            "类目“洗发水”的最低配额在当前预算、每商家上限和最多件数下无法满足（还差 3 件 / 0 元）",
        ),
        (
            ["body"],
            "infeasible plan: the random arm cannot give every affordable listing a chance: raise epsilon",
            "请提高随机抽样比例 ε 或预算",
        ),
    ],
)
def test_known_service_messages_are_translated(loc: list[str | int], msg: str, expected: str) -> None:
    out = problem_zh(loc, msg)
    assert expected in out
    assert not any(w in out for w in ("plan would", "immutable", "is not a", "yuan", "infeasible")), out


def test_an_unknown_message_still_names_the_field_in_chinese() -> None:
    out = problem_zh(["body", "quotas", "洗发水", "max_yuan"], "something new went wrong")
    assert out == "类目“洗发水”的最多金额（quotas.洗发水.max_yuan）的取值不被接受：something new went wrong"
    assert field_zh(["body", "epsilon"]) == "随机抽样比例 ε（epsilon）"
    assert field_zh(["body"]) == "请求"


def test_validation_errors_are_translated_by_type() -> None:
    with pytest.raises(ValidationError) as e:
        PlanCreate(budget=-3)
    assert validation_zh(e.value) == "预算（budget）必须大于 0。"
    with pytest.raises(ValidationError) as e:
        PlanCreate(budget=100, epsilon=1.5, seed=-1)
    assert validation_zh(e.value) == "随机抽样比例 ε（epsilon）必须小于 1。（另有 1 处问题）"
    with pytest.raises(ValidationError) as e:
        ResultIn(listing_id="L1", sampled_date="2999-01-01", verdict="pass")  # type: ignore[arg-type]
    assert validation_zh(e.value) == "抽样日期 2999-01-01 在未来。"
    with pytest.raises(ValidationError) as e:
        ResultIn(listing_id="L1", sampled_date="2026-01-01", verdict="maybe")  # type: ignore[arg-type]
    assert validation_zh(e.value).startswith("检测结论（verdict）的取值无效（可选：")


def test_local_time_names_its_zone() -> None:
    t = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert local_time(t, "Asia/Shanghai") == "2026-11-23 09:30 北京时间"
    assert local_time(t, "UTC") == "2026-11-23 01:30 UTC"
    assert local_time(t, "Asia/Tokyo") == "2026-11-23 10:30 UTC+09:00"
