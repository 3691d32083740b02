"""The plan builder's form: strings in, a validated `PlanRequest` (or errors naming the field) out."""

from __future__ import annotations

import math

from sampling.plan_config import DEFAULT_EXPLORE
from serving.web.views import PlanForm, PlanRequest


class _Fields:
    """A form's fields, read one value at a time, and the Chinese errors found while reading them."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        self.errors: list[str] = []

    def one(self, name: str) -> str:
        return (self.fields.get(name) or [""])[0].strip()

    def number(self, name: str, label: str, *, integer: bool = False) -> float | None:
        raw = self.one(name)
        if raw == "":
            return None
        try:
            v = float(raw)
        except ValueError:
            self.errors.append(f"{label}：“{raw}”不是数字。")
            return None
        if not math.isfinite(v):
            self.errors.append(f"{label}必须是有限的数。")
            return None
        if integer and v != int(v):
            self.errors.append(f"{label}必须是整数。")
            return None
        return v


def _plan_numbers(f: _Fields) -> tuple[float | None, float | None, float | None, float | None, float | None]:
    """Budget, ε, exploration share, per-merchant cap and seed, each checked against its range."""
    budget = f.number("budget", "预算")
    if budget is None and not f.errors:
        f.errors.append("请填写预算。")
    elif budget is not None and budget <= 0:
        f.errors.append("预算必须大于 0 元。")
    epsilon = f.number("epsilon", "随机抽样比例 ε")
    if epsilon is None and f.one("epsilon") == "":
        f.errors.append("请填写随机抽样比例 ε。")
    elif epsilon is not None and not 0 <= epsilon < 1:
        f.errors.append("随机抽样比例 ε 必须不小于 0 且小于 1（例如 0.2）。")
    explore = f.number("explore", "不确定探索比例")
    if explore is not None and not 0 <= explore <= 1:
        f.errors.append("不确定探索比例必须在 0 到 1 之间（例如 0.1；留空为默认值）。")
    cap = f.number("per_merchant_cap", "每商家上限", integer=True)
    if cap is not None and cap < 1:
        f.errors.append("每商家上限至少为 1 件（留空表示不限）。")
    seed = f.number("seed", "随机种子", integer=True)
    if seed is None and f.one("seed") == "":
        f.errors.append("请填写随机种子。")
    elif seed is not None and not 0 <= seed < 2**32:
        f.errors.append("随机种子必须在 0 到 4294967295 之间。")
    return budget, epsilon, explore, cap, seed


def _quotas(f: _Fields, form: PlanForm) -> dict[str, tuple[int | None, int | None]]:
    """The category quota rows (`quota_cat__i`, `quota_min__i`, `quota_max__i`); what was typed goes back
    into `form` so a refused form shows it again."""
    quotas: dict[str, tuple[int | None, int | None]] = {}
    indices = sorted({k.split("__", 1)[1] for k in f.fields if k.startswith("quota_cat__")})
    for i in indices:
        cat = f.one(f"quota_cat__{i}")
        if not cat:
            continue
        lo_raw, hi_raw = f.one(f"quota_min__{i}"), f.one(f"quota_max__{i}")
        if lo_raw:
            form.quota_min[cat] = lo_raw
        if hi_raw:
            form.quota_max[cat] = hi_raw
        lo = f.number(f"quota_min__{i}", f"类目“{cat}”的最少件数", integer=True)
        hi = f.number(f"quota_max__{i}", f"类目“{cat}”的最多件数", integer=True)
        if (lo is not None and lo < 0) or (hi is not None and hi < 0):
            f.errors.append(f"类目“{cat}”的配额不能为负数。")
        elif lo is not None and hi is not None and lo > hi:
            f.errors.append(f"类目“{cat}”的最少件数（{lo:.0f}）大于最多件数（{hi:.0f}）。")
        if lo is not None or hi is not None:
            quotas[cat] = (None if lo is None else int(lo), None if hi is None else int(hi))
    return quotas


def parse_plan_form(fields: dict[str, list[str]]) -> tuple[PlanForm, PlanRequest | None, list[str]]:
    """Turn the builder's fields into a `PlanRequest`, or say in Chinese which field is wrong."""
    f = _Fields(fields)
    form = PlanForm(
        name=f.one("name"),
        budget=f.one("budget"),
        epsilon=f.one("epsilon"),
        explore=f.one("explore"),
        per_merchant_cap=f.one("per_merchant_cap"),
        seed=f.one("seed"),
    )
    if len(form.name) > 200:
        f.errors.append("计划名称最多 200 个字。")
    budget, epsilon, explore, cap, seed = _plan_numbers(f)
    quotas = _quotas(f, form)
    if f.errors or budget is None or epsilon is None or seed is None:
        return form, None, f.errors
    req = PlanRequest(
        budget=budget,
        epsilon=epsilon,
        explore=DEFAULT_EXPLORE if explore is None else explore,
        per_merchant_cap=None if cap is None else int(cap),
        seed=int(seed),
        quotas=quotas,
        confirm_small=f.one("confirm_small") == "1",
        name=form.name,
    )
    return form, req, []
