"""The service's refusals in the planners' language: every message that reaches a page goes through here.

The JSON API speaks English (`RequestProblem.msg`, pydantic's messages); a planner reads Chinese. Known
messages are translated by pattern, with their numbers and names kept; anything else gets a Chinese
sentence that still names the field (in Chinese, with the API's name beside it) and keeps the detail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from serving.web.views import FAILURE_TYPES_ZH

#: request fields as the plan builder and the result form label them
FIELDS_ZH: dict[str, str] = {
    "name": "计划名称",
    "budget": "预算",
    "epsilon": "随机抽样比例 ε",
    "explore": "不确定探索比例",
    "per_merchant_cap": "每商家上限",
    "cap_scope": "上限范围",
    "seed": "随机种子",
    "quotas": "类目配额",
    "min_purchases": "最少件数",
    "max_purchases": "最多件数",
    "min_yuan": "最少金额",
    "max_yuan": "最多金额",
    "require_estimate": "估计要求",
    "results": "检测结果",
    "listing_id": "商品编号",
    "sampled_date": "抽样日期",
    "verdict": "检测结论",
    "failure_types": "不合格类型",
    "cost": "费用",
}
_VERDICTS_ZH = {"pass": "合格", "fail": "不合格"}

Translate = Callable[[re.Match[str]], str]


def _value_zh(raw: str) -> str:
    """A stored or sent value as a planner reads it: verdicts and failure types in Chinese."""
    v = raw.strip().strip("'\"")
    if v in _VERDICTS_ZH:
        return _VERDICTS_ZH[v]
    if v and all(part in FAILURE_TYPES_ZH for part in v.split(";")):
        return "、".join(FAILURE_TYPES_ZH[p] for p in v.split(";"))
    return v or "（空）"


def _differences_zh(text: str) -> str:
    out = []
    for part in text.split("; "):
        m = re.fullmatch(r"(\w+) stored (.+), sent (.+)", part)
        if m is None:
            out.append(part)
            continue
        label = FIELDS_ZH.get(m[1], m[1])
        out.append(f"{label}已录入为“{_value_zh(m[2])}”，本次为“{_value_zh(m[3])}”")
    return "；".join(out)


#: known English messages (the service's, the planner's, the record schemas'), most specific first
_PATTERNS: list[tuple[re.Pattern[str], Translate]] = [
    (
        re.compile(r"plan (\S+) already has a different result for listing (\S+): (.*) \(results are immutable"),
        lambda m: (
            f"商品 {m[2]} 的检测结果此前已录入，与本次不同（{_differences_zh(m[3])}）。检测结果一经记录不可更改。"
        ),
    ),
    (
        re.compile(r"listing '(.+)' is not a target of plan (\S+)"),
        lambda m: f"商品 {m[1]} 不在抽检计划 {m[2]} 的抽样名单中，不能录入它的检测结果。",
    ),
    (
        re.compile(r"listing '(.+)' appears twice in this request"),
        lambda m: f"商品 {m[1]} 在本次提交中出现了两次。",
    ),
    (
        re.compile(r"([\d,.]+) yuan is over this service's limit of ([\d,.]+) per plan"),
        lambda m: f"预算 {m[1]} 元超过本服务单个计划 {m[2]} 元的上限，请拆分为多个计划。",
    ),
    (
        re.compile(r"this plan would buy ([\d,]+) listings, over the limit of ([\d,]+)"),
        lambda m: f"该计划将购买 {m[1]} 件商品，超过单个计划 {m[2]} 件的上限，请降低预算。",
    ),
    (
        re.compile(r"no category '(.+?)' in the market"),
        lambda m: f"当前市场没有类目“{m[1]}”，请检查配额中的类目名称。",
    ),
    (
        re.compile(
            r"category '(.+?)': its minimum cannot be met within the budget, caps and maxima "
            r"\(short by (\d+) purchase\(s\) / (\d+) yuan\)"
        ),
        lambda m: (
            f"类目“{m[1]}”的最低配额在当前预算、每商家上限和最多件数下无法满足（还差 {m[2]} 件 / {m[3]} 元），"
            "请提高预算或降低配额。"
        ),
    ),
    (
        re.compile(r"the random arm cannot give every affordable listing a chance"),
        lambda m: "随机抽样部分无法让每个买得起的商品都有机会被抽中，请提高随机抽样比例 ε 或预算。",
    ),
    (
        re.compile(r"per_merchant_cap=1 with a random arm"),
        lambda m: (
            "每商家上限（per_merchant_cap）为 1 时，随机抽样可能占用任一商家唯一的名额，定向抽检将无从选择；"
            "请把每商家上限设为 2 或以上，或把随机抽样比例 ε 设为 0。"
        ),
    ),
    (re.compile(r"(\d{4}-\d{2}-\d{2}) is in the future"), lambda m: f"抽样日期 {m[1]} 在未来。"),
    (re.compile(r"(\S+) is outside (\S+)\.\.(\S+)"), lambda m: f"日期 {m[1]} 超出允许的范围（{m[2]} 至 {m[3]}）。"),
    (re.compile(r"a failed verdict needs at least one failure type"), lambda m: "不合格结论至少需要一种不合格类型。"),
    (re.compile(r"a passed verdict cannot carry failure types"), lambda m: "合格结论不能带不合格类型。"),
    (re.compile(r"max_purchases is below min_purchases"), lambda m: "最多件数小于最少件数。"),
    (re.compile(r"max_yuan is below min_yuan"), lambda m: "最多金额小于最少金额。"),
    (
        re.compile(r"no usable market for plan candidates: (.*)"),
        lambda m: f"当前市场数据不可用，无法生成计划（{m[1]}）。",
    ),
    (re.compile(r"plan (\S+) has no stored design frame"), lambda m: f"抽检计划 {m[1]} 没有保存设计数据，无法估计。"),
]


def known_zh(msg: str) -> str | None:
    """The Chinese of a known service message, or None."""
    for pattern, translate in _PATTERNS:
        m = pattern.search(msg)
        if m is not None:
            return translate(m)
    return None


def field_zh(loc: Sequence[str | int]) -> str:
    """`["body", "quotas", "洗发水", "min_purchases"]` → `类目“洗发水”的最少件数（quotas.洗发水.min_purchases）`."""
    parts = [str(p) for p in loc if not isinstance(p, int) and p not in ("body", "query", "path")]
    if not parts:
        return "请求"
    api_name = ".".join(parts)
    if parts[0] == "quotas" and len(parts) >= 2:
        label = f"类目“{parts[1]}”的" + (FIELDS_ZH.get(parts[2], parts[2]) if len(parts) > 2 else "配额")
    else:
        label = FIELDS_ZH.get(parts[-1], parts[-1])
    return f"{label}（{api_name}）"


def problem_zh(loc: Sequence[str | int], msg: str) -> str:
    """A `RequestProblem` (location and English message) as one Chinese sentence."""
    return known_zh(msg) or f"{field_zh(loc)}的取值不被接受：{msg}"


def _num(v: Any) -> str:
    """`0.0` → `0`, `0.99` → `0.99`: limits as a person writes them."""
    if isinstance(v, float) and v.is_integer():
        return f"{v:.0f}"
    return str(v)


def _error_zh(err: dict[str, Any]) -> str:
    """One pydantic error in Chinese, by its type and context (its English message only as a last resort)."""
    loc = list(err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    field = field_zh(loc)
    ctx = {k: _num(v) for k, v in (err.get("ctx") or {}).items()}
    kind = str(err.get("type", ""))
    if kind == "value_error":
        return known_zh(msg) or f"{field}的取值不被接受：{msg}"
    by_type: dict[str, str] = {
        "missing": f"请填写{field}。",
        "greater_than": f"{field}必须大于 {ctx.get('gt')}。",
        "greater_than_equal": f"{field}不能小于 {ctx.get('ge')}。",
        "less_than": f"{field}必须小于 {ctx.get('lt')}。",
        "less_than_equal": f"{field}不能大于 {ctx.get('le')}。",
        "int_parsing": f"{field}必须是整数。",
        "int_from_float": f"{field}必须是整数。",
        "float_parsing": f"{field}必须是数字。",
        "finite_number": f"{field}必须是有限的数。",
        "date_parsing": f"{field}不是有效日期。",
        "date_from_datetime_parsing": f"{field}不是有效日期。",
        "string_too_long": f"{field}太长（最多 {ctx.get('max_length')} 个字符）。",
        "string_too_short": f"{field}不能为空。",
        "too_long": f"{field}的条目太多（最多 {ctx.get('max_length')} 个）。",
        "too_short": f"{field}至少需要 {ctx.get('min_length')} 个条目。",
        "enum": f"{field}的取值无效（可选：{ctx.get('expected')}）。",
        "literal_error": f"{field}的取值无效（可选：{ctx.get('expected')}）。",
        "extra_forbidden": f"不认识的字段 {field}。",
    }
    return by_type.get(kind) or known_zh(msg) or f"{field}的取值不被接受：{msg}"


def validation_zh(e: ValidationError) -> str:
    """The first problem of a validation error, in Chinese, naming the field."""
    errors = e.errors()
    if not errors:
        return "请求无效。"
    more = f"（另有 {len(errors) - 1} 处问题）" if len(errors) > 1 else ""
    return _error_zh(dict(errors[0])) + more
