"""Settings for the serving deployable: one pydantic-settings object, read from `CHOUJIAN_*` variables.

Every value has a safe default for a laptop (`development`); outside development the validators refuse
placeholder secrets so a copied `.env` cannot go to production with `changethis` in it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings import SharedSettings
from models.contract import LISTING_RISKS, MERCHANT_RISK
from serving.decisions import MIN_MERCHANT_REVIEWS

#: values that people paste into config files and forget: never allowed outside development
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "changeme", "secret", "password", "admin", "test", "xxx"})

#: default decision thresholds per listing risk: (review at or above, block at or above)
DEFAULT_REVIEW = {"lab_fail": 0.35, "counterfeit": 0.4, "false_advertising": 0.4}
DEFAULT_BLOCK = {"lab_fail": 0.8, "counterfeit": 0.85, "false_advertising": 0.9}


class Settings(SharedSettings):
    """Everything `choujian serve` and the store need; override any field with `CHOUJIAN_<FIELD>`.

    It extends the settings every deployable shares (`core.settings`: MLflow, caches, reference tables).
    """

    model_config = SettingsConfigDict(env_prefix="CHOUJIAN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default="sqlite:///choujian.db", description="SQLAlchemy URL of the store")
    migrate_on_start: bool = Field(default=True, description="run Alembic migrations when the app starts")
    market_dir: Path = Field(default=Path("data/market"), description="current market: the plan candidates")
    market_source: Literal["auto", "files", "store"] = Field(
        default="auto",
        description="where the plan candidates come from: the market directory (files), the store's ingested "
        "market (store), or the store once it holds listings and the directory before (auto)",
    )

    # model: a registry alias (default) or an explicit URI / local bundle path; the registry itself is
    # found by models.registry (CHOUJIAN_MLFLOW_URI, default <project>/mlflow.db)
    model_name: str = "choujian-listing"
    model_alias: str = "champion"
    model_uri: str | None = Field(default=None, description="overrides name@alias, e.g. a local bundle path")
    load_model_on_start: bool = True
    warm_market_on_start: bool = Field(default=True, description="score the market in the background at start")
    warm_pace: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="the start-up scoring rests this many times as long as each chunk of it took (0: no rests)",
    )
    freeze_model_heap: bool = Field(
        default=True,
        description="after each model load, take the process's live objects out of full garbage collections "
        "(serving.runtime.settle_heap: one collection then, instead of a 0.4 s stall of every request at each "
        "full collection later)",
    )
    warm_isolation: bool = Field(
        default=True,
        description="a server that scores its market while it serves (one worker) does so in a child forked "
        "from it, at full speed, so its requests keep the interpreter (POSIX; false: paced, in a thread)",
    )

    # secrets: without CHOUJIAN_SECRET_KEY each installation generates its own (serving/security.py)
    secret_key: SecretStr | None = Field(default=None, description="signs web session cookies")
    secret_key_file: Path = Field(
        default=Path(".choujian/secret_key"), description="the generated secret when none is set (mode 0600)"
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="a key verified this recently is not looked up again; one revoked other than through this "
        "process's API (the CLI, another worker) stops working within this many seconds (0: look up every request)",
    )
    bootstrap_admin_key: SecretStr | None = Field(
        default=None, description="if set, an admin key with this value is ensured at start (first deployment)"
    )

    # decision rules
    review_thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_REVIEW))
    block_thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_BLOCK))
    grade_yellow_at: float = Field(default=0.3, ge=0, le=1, description="merchant complaint risk → yellow")
    grade_red_at: float = Field(default=0.6, ge=0, le=1, description="merchant complaint risk → red")
    merchant_min_reviews: int = Field(
        default=MIN_MERCHANT_REVIEWS,
        ge=0,
        le=10_000,
        description="fewer reviews than this: too little evidence for the complaint score alone to grade red",
    )

    # request limits
    max_batch: int = Field(default=1000, ge=1, le=10_000)
    # 1,000 listings with long descriptions and a few dozen reviews each is a few MB of UTF-8 JSON
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    top_reasons: int = Field(default=3, ge=0, le=20)
    score_coalesce: int = Field(
        default=64,
        ge=1,
        le=1_000,
        description="single-listing requests waiting together are scored in one call of at most this many (1: off)",
    )
    plan_isolation: bool = Field(
        default=True,
        description="plans are drawn and explained in a child forked from the serving process, so a large plan "
        "does not slow the scoring requests that process serves meanwhile (POSIX; false: in the request's thread)",
    )
    score_with_store: bool = Field(
        default=True,
        description="scoring requests naming a merchant the store knows are scored with its stored listings, reviews "
        "and lab results (serving/context.py); false: the request body alone",
    )
    # one push to POST /v1/ingest, all tables together: a few seconds of validation and writing
    max_ingest_records: int = Field(default=20_000, ge=1, le=1_000_000, description="records in one ingest push")
    onboarding_refuse_lab_failures: int = Field(
        default=3, ge=1, le=1000, description="lab failures of a shop sharing a credit code or phone that refuse"
    )
    # one plan request's work (serving/limits.py): the demo's plan is 200,000 yuan and ~200 purchases
    max_plan_budget: float = Field(default=5_000_000, gt=0, le=1e10, description="yuan")
    max_plan_targets: int = Field(default=2_000, ge=1, le=100_000, description="purchases in one plan")

    # drift of today's market from the model's training market (models/drift.py), on /v1/model and the overview
    drift_psi_warn: float = Field(default=0.2, gt=0, le=10, description="a PSI at or above this warns")
    drift_min_listings: int = Field(
        default=200, ge=1, description="a category is compared only with this many listings at training and today"
    )

    # the planner pages show times in this zone (the store keeps UTC)
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of the times the web pages show")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}: use an IANA name such as 'Asia/Shanghai' or 'UTC'") from e
        return v

    @field_validator("review_thresholds", "block_thresholds")
    @classmethod
    def _known_risks(cls, v: dict[str, float]) -> dict[str, float]:
        allowed = set(LISTING_RISKS) | {MERCHANT_RISK}
        for risk, t in v.items():
            if risk not in allowed:
                raise ValueError(f"unknown risk {risk!r}; expected one of {sorted(allowed)}")
            if not 0 <= t <= 1:
                raise ValueError(f"threshold for {risk} must be within [0, 1], got {t}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        for risk, block in self.block_thresholds.items():
            review = self.review_thresholds.get(risk)
            if review is not None and review > block:
                raise ValueError(f"review threshold for {risk} ({review}) is above its block threshold ({block})")
        if self.grade_yellow_at > self.grade_red_at:
            raise ValueError("grade_yellow_at must not exceed grade_red_at")
        if self.environment != "development":
            _refuse_placeholder("secret_key", self.secret_key or SecretStr(""))
            if self.bootstrap_admin_key is not None:
                _refuse_placeholder("bootstrap_admin_key", self.bootstrap_admin_key)
        return self

    @property
    def model_ref(self) -> str:
        """What to load: the explicit URI, or `models:/<name>@<alias>`."""
        return self.model_uri or f"models:/{self.model_name}@{self.model_alias}"


def _refuse_placeholder(name: str, value: SecretStr) -> None:
    raw = value.get_secret_value()
    if raw.strip().lower() in PLACEHOLDER_SECRETS or len(raw) < 16:
        raise ValueError(
            f"CHOUJIAN_{name.upper()} is a placeholder or shorter than 16 characters; outside development set it "
            "to a random value, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
