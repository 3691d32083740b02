"""Record schemas for the four things a user brings: merchants, listings, reviews and lab results.

These are the data contract shared by the simulator, the loaders, the feature pipeline and the API.
Column names in CSV/Parquet files are the field names below.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# 统一社会信用代码 (GB 32100-2015): 18 characters from this alphabet, the last a check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_RE = re.compile(rf"^[{_CREDIT_ALPHABET}]{{18}}$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9\-]{5,19}$")


def _is_blank(v: object) -> bool:
    """Missing in CSV/Parquet terms: None, NaN or an empty string."""
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """True when `code` is a well-formed unified social credit code with a correct check character."""
    return bool(_CREDIT_RE.match(code)) and credit_code_check_char(code[:17]) == code[17]


class RegistryStatus(StrEnum):
    """Registration status of the business entity behind a shop (国家企业信用信息公示系统)."""

    normal = "normal"
    abnormal_operations = "abnormal_operations"  # 经营异常名录
    serious_violation = "serious_violation"  # 严重违法失信名单
    revoked = "revoked"  # 吊销 / 注销


class FailureType(StrEnum):
    """Why a purchased sample failed its lab test."""

    counterfeit = "counterfeit"  # 假冒
    false_advertising = "false_advertising"  # 虚假标注 / 虚假宣传
    quality = "quality"  # 质量不合格
    three_no = "three_no"  # 三无产品


class Verdict(StrEnum):
    passed = "pass"
    failed = "fail"


def check_credit_code(v: str) -> str:
    """A credit code as the records keep it (upper-cased), or ValueError: the one check of that field."""
    v = v.strip().upper()
    if not is_valid_credit_code(v):
        raise ValueError("not a valid 18-character unified social credit code (format or check character)")
    return v


def check_phone(v: str) -> str:
    """A phone number as the records keep it (spaces dropped), or ValueError: the one check of that field."""
    v = str(v).replace(" ", "")
    if not _PHONE_RE.match(v):
        raise ValueError("phone must be digits, optionally with '+' and '-'")
    return v


_Id = Annotated[str, Field(min_length=1, max_length=64)]


def _plausible_date(d: date) -> date:
    # pandas timestamps span 1677-2262; anything outside 1900-2200 is a typo in a market record
    if not date(1900, 1, 1) <= d <= date(2200, 12, 31):
        raise ValueError("date must be between 1900-01-01 and 2200-12-31")
    return d


_Date = Annotated[date, AfterValidator(_plausible_date)]
_Text = Annotated[str, Field(max_length=20_000)]


class _Record(BaseModel):
    # NaN and infinity are never a price, a count or a cost: say "finite number", not "less than 10000000"
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True, allow_inf_nan=False)


class Merchant(_Record):
    """A shop on one platform, with the business registration behind it."""

    merchant_id: _Id
    platform: _Id
    shop_name: Annotated[str, Field(min_length=1, max_length=200)]
    credit_code: str | None = Field(default=None, description="统一社会信用代码, 18 characters")
    phone: str | None = None
    region: Annotated[str, Field(max_length=64)] = ""
    opened_date: _Date
    registry_status: RegistryStatus = RegistryStatus.normal
    # bounded where the feature pipeline's int64 columns and any real shop's history end
    removals_elsewhere: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=0, description="times this shop was removed from other platforms, as the shop reports or is known"
    )

    @field_validator("credit_code", "phone", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if _is_blank(v) else v

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, v: str | None) -> str | None:
        return None if v is None else check_credit_code(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v is None else check_phone(v)


class Listing(_Record):
    """A product listing as a platform shows it."""

    listing_id: _Id
    merchant_id: _Id
    platform: _Id
    category: Annotated[str, Field(min_length=1, max_length=64)]
    brand: Annotated[str, Field(max_length=100)] = ""
    title: Annotated[str, Field(min_length=1, max_length=500)]
    description: _Text = ""
    price: Annotated[float, Field(gt=0, lt=10_000_000)]
    sales: Annotated[int, Field(ge=0, le=10_000_000_000)] = 0  # above any listing's sales; fits int64 and float
    ccc_cert: str | None = Field(default=None, description="3C certificate number, if the listing shows one")
    listed_date: _Date

    @field_validator("ccc_cert", mode="before")
    @classmethod
    def _cert_blank(cls, v: object) -> object:
        return None if _is_blank(v) else v

    @field_validator("brand", "description", mode="before")
    @classmethod
    def _text_blank(cls, v: object) -> object:
        return "" if _is_blank(v) else v


class Review(_Record):
    """A buyer's review of a listing."""

    listing_id: _Id
    text: Annotated[str, Field(min_length=1, max_length=5_000)]
    rating: Annotated[int, Field(ge=1, le=5)]
    review_date: _Date


class LabResult(_Record):
    """A lab verdict on a purchased sample, recorded against the plan that chose it."""

    listing_id: _Id
    sampled_date: _Date
    plan_id: _Id
    verdict: Verdict
    failure_types: list[FailureType] = Field(default_factory=list)
    cost: Annotated[float, Field(ge=0, le=1e9)] = 0.0
    inclusion_prob: float | None = Field(
        default=None, gt=0, le=1, description="probability the plan that bought it had of choosing this listing"
    )

    @field_validator("failure_types", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        return split_failure_types(v) if _is_blank(v) or isinstance(v, str) else v

    @field_validator("inclusion_prob", mode="before")
    @classmethod
    def _nan_none(cls, v: object) -> object:
        return None if _is_blank(v) else v

    @model_validator(mode="after")
    def _verdict_matches_types(self) -> LabResult:
        if self.verdict is Verdict.failed and not self.failure_types:
            raise ValueError("a failed verdict needs at least one failure type")
        if self.verdict is Verdict.passed and self.failure_types:
            raise ValueError("a passed verdict cannot carry failure types")
        return self


class Removal(_Record):
    """A shop taken off a platform (清退/下架): which platform, when and why. Not one of a market's four
    tables (training never reads it); the store keeps removals for the identity registry, and a market
    directory may carry them as `removals.csv` / `removals.parquet`."""

    merchant_id: _Id
    platform: _Id
    removed_date: _Date
    reason: Annotated[str, Field(min_length=1, max_length=500)]


def split_failure_types(value: object) -> list[str]:
    """The failure types of one stored value: the tables keep them as one ';'-joined string (`,` and `|`
    are read too, as people type them); blank or missing is none. The one parser of that column."""
    if isinstance(value, list | tuple):
        return [str(t) for t in value]
    if _is_blank(value) or not isinstance(value, str):
        return []
    return [p.strip() for p in re.split(r"[;,|]", value) if p.strip()]


def join_failure_types(types: object) -> str:
    """How the tables store a lab result's failure types: one ';'-joined string."""
    return ";".join(str(t) for t in (types if isinstance(types, list | tuple) else split_failure_types(types)))


TABLES: dict[str, type[_Record]] = {
    "merchants": Merchant,
    "listings": Listing,
    "reviews": Review,
    "lab_results": LabResult,
}

#: the tables a market directory may carry besides the four: read and validated as they are, never trained on
EXTRA_TABLES: dict[str, type[_Record]] = {"removals": Removal}
