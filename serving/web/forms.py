"""The plan builder's form: strings in, a validated `PlanRequest` (or errors naming the field) out."""

from __future__ import annotations

import math

from sampling.plan_config import DEFAULT_EXPLORE
from serving.web.views import PlanForm, PlanRequest


def parse_plan_form(fields: dict[str, list[str]]) -> tuple[PlanForm, PlanRequest | None, list[str]]:
    """Turn the builder's fields into a `PlanRequest`, or say in Chinese which field is wrong."""

    def one(name: str) -> str:
        return (fields.get(name) or [""])[0].strip()

    form = PlanForm(
        name=one("name"),
        budget=one("budget"),
        epsilon=one("epsilon"),
        explore=one("explore"),
        per_merchant_cap=one("per_merchant_cap"),
        seed=one("seed"),
    )
    errors: list[str] = []
    if len(form.name) > 200:
        errors.append("计划名称最多 200 个字。")

    def number(name: str, label: str, *, integer: bool = False) -> float | None:
        raw = one(name)
        if raw == "":
            return None
        try:
            v = float(raw)
        except ValueError:
            errors.append(f"{label}：“{raw}”不是数字。")
            return None
        if not math.isfinite(v):
            errors.append(f"{label}必须是有限的数。")
            return None
        if integer and v != int(v):
            errors.append(f"{label}必须是整数。")
            return None
        return v

    budget = number("budget", "预算")
    if budget is None and not errors:
        errors.append("请填写预算。")
    elif budget is not None and budget <= 0:
        errors.append("预算必须大于 0 元。")
    epsilon = number("epsilon", "随机抽样比例 ε")
    if epsilon is None and one("epsilon") == "":
        errors.append("请填写随机抽样比例 ε。")
    elif epsilon is not None and not 0 <= epsilon < 1:
        errors.append("随机抽样比例 ε 必须不小于 0 且小于 1（例如 0.2）。")
    explore = number("explore", "不确定探索比例")
    if explore is not None and not 0 <= explore <= 1:
        errors.append("不确定探索比例必须在 0 到 1 之间（例如 0.1；留空为默认值）。")
    cap = number("per_merchant_cap", "每商家上限", integer=True)
    if cap is not None and cap < 1:
        errors.append("每商家上限至少为 1 件（留空表示不限）。")
    seed = number("seed", "随机种子", integer=True)
    if seed is None and one("seed") == "":
        errors.append("请填写随机种子。")
    elif seed is not None and not 0 <= seed < 2**32:
        errors.append("随机种子必须在 0 到 4294967295 之间。")

    quotas: dict[str, tuple[int | None, int | None]] = {}
    indices = sorted({k.split("__", 1)[1] for k in fields if k.startswith("quota_cat__")})
    for i in indices:
        cat = one(f"quota_cat__{i}")
        if not cat:
            continue
        lo_raw, hi_raw = one(f"quota_min__{i}"), one(f"quota_max__{i}")
        if lo_raw:
            form.quota_min[cat] = lo_raw
        if hi_raw:
            form.quota_max[cat] = hi_raw
        lo = number(f"quota_min__{i}", f"类目“{cat}”的最少件数", integer=True)
        hi = number(f"quota_max__{i}", f"类目“{cat}”的最多件数", integer=True)
        if (lo is not None and lo < 0) or (hi is not None and hi < 0):
            errors.append(f"类目“{cat}”的配额不能为负数。")
        elif lo is not None and hi is not None and lo > hi:
            errors.append(f"类目“{cat}”的最少件数（{lo:.0f}）大于最多件数（{hi:.0f}）。")
        if lo is not None or hi is not None:
            quotas[cat] = (None if lo is None else int(lo), None if hi is None else int(hi))
    if errors or budget is None or epsilon is None or seed is None:
        return form, None, errors
    req = PlanRequest(
        budget=budget,
        epsilon=epsilon,
        explore=DEFAULT_EXPLORE if explore is None else explore,
        per_merchant_cap=None if cap is None else int(cap),
        seed=int(seed),
        quotas=quotas,
        confirm_small=one("confirm_small") == "1",
        name=form.name,
    )
    return form, req, []
