"""What a planner asks for: the budget, the random arm's share, seller caps, category quotas and the seed.

`PlanConfig` is the planner's one request type (the CLI, the API and the round simulation build it);
`CategoryQuota.parse` reads the CLI's quota strings. Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: the exploration share a plan gets unless it asks otherwise (tuned by `choujian simulate-rounds`:
#: docs/evaluation.md)
DEFAULT_EXPLORE = 0.0
EXPLORE_HELP = (
    "share of the targeted budget spent on the listings whose failure probability is most uncertain "
    "(arm 'explore', π = 1)"
)


class PlanInfeasibleError(ValueError):
    """The constraints cannot all be met (e.g. a category minimum the budget cannot buy)."""


class CategoryQuota(BaseModel):
    """Limits on one category's purchases over the whole plan (both arms, every draw)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_purchases: int = Field(default=0, ge=0)
    max_purchases: int | None = Field(default=None, ge=0)
    min_yuan: float = Field(default=0.0, ge=0)
    max_yuan: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> CategoryQuota:
        if self.max_purchases is not None and self.max_purchases < self.min_purchases:
            raise ValueError("max_purchases is below min_purchases")
        if self.max_yuan is not None and self.max_yuan < self.min_yuan:
            raise ValueError("max_yuan is below min_yuan")
        return self

    @classmethod
    def parse(cls, spec: str) -> tuple[str, CategoryQuota]:
        """`'CATEGORY:min_purchases=3,max_yuan=20000'` → (category, quota), as the CLI writes quotas.

        The keys are the quota's own field names (the API's too); an unknown key, a missing category or a
        value that is not a number is refused with a message naming it.
        """
        cat, sep, body = spec.partition(":")
        cat = cat.strip()
        if not cat or not sep:
            raise ValueError(f"{spec!r}: write CATEGORY:KEY=VALUE[,KEY=VALUE...], e.g. '智能手机:min_purchases=3'")
        values: dict[str, float] = {}
        for part in (p.strip() for p in body.split(",")):
            if not part:
                continue
            key, eq, raw = (x.strip() for x in part.partition("="))
            if key not in cls.model_fields:
                raise ValueError(f"{spec!r}: unknown key {key!r}; use {', '.join(cls.model_fields)}")
            if not eq:
                raise ValueError(f"{spec!r}: {key} needs a value ({key}=...)")
            try:
                values[key] = float(raw)
            except ValueError:
                raise ValueError(f"{spec!r}: {key}={raw!r} is not a number") from None
        if not values:
            raise ValueError(f"{spec!r}: no limit given; use {', '.join(cls.model_fields)}")
        for key in ("min_purchases", "max_purchases"):
            if key in values and not float(values[key]).is_integer():
                raise ValueError(f"{spec!r}: {key} must be a whole number of purchases")
        return cat, cls.model_validate(values)


class PlanConfig(BaseModel):
    """What the user asks for: budget, the random arm's share ε, the exploration share, caps, quotas and the seed."""

    model_config = ConfigDict(frozen=True)

    budget: float = Field(gt=0, description="yuan, purchases plus lab fees")
    epsilon: float = Field(default=0.2, ge=0, lt=1, description="share of the budget for the random arm (ε)")
    explore: float = Field(default=DEFAULT_EXPLORE, ge=0, le=1, description=EXPLORE_HELP)
    per_merchant_cap: int | None = Field(default=None, ge=1, description="max purchases per merchant or identity")
    cap_scope: Literal["plan", "targeted"] = "plan"
    quotas: dict[str, CategoryQuota] = Field(default_factory=dict)
    seed: int = Field(default=0, ge=0)
    plan_id: str | None = None

    @model_validator(mode="after")
    def _cap_leaves_room(self) -> PlanConfig:
        if self.epsilon > 0 and self.cap_scope == "plan" and self.per_merchant_cap == 1:
            raise ValueError(
                "per_merchant_cap=1 with a random arm: the random arm may need that one slot for any merchant, "
                "so nothing could be targeted; use per_merchant_cap >= 2, cap_scope='targeted', or epsilon=0"
            )
        return self
