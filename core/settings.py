"""Settings every deployable shares (the CLI, batch jobs and the service), read from `CHOUJIAN_*` variables.

This is the only place the project reads its environment: the service's own settings
(`serving.settings.Settings`) extend `SharedSettings`, and the paths below default to `core.paths`.
Values are read when asked for, not cached, so a process that changes its environment (a test, a
notebook) sees the change.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import paths

_OFF = ("", "off", "none", "0", "false")


class SharedSettings(BaseSettings):
    """Where models, runs and caches live; override any field with `CHOUJIAN_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="CHOUJIAN_", env_file=".env", extra="ignore")

    mlflow_uri: str | None = Field(
        default=None, description="MLflow tracking and registry URI (default: sqlite:///<project>/mlflow.db)"
    )
    mlflow_artifacts: str | None = Field(
        default=None, description="artifact root of new experiments (default: mlartifacts/ beside the SQLite file)"
    )
    model_cache: Path | None = Field(
        default=None, description="downloaded registered models (default: data/cache/models)"
    )
    score_cache: str | None = Field(
        default=None, description="review-score cache folder, or 'off' (default: data/processed/score-cache)"
    )
    review_model: Path | None = Field(
        default=None, description="review model directory (default: data/processed/review_model)"
    )
    lexicon_dir: Path | None = Field(
        default=None,
        description="lexicon directory that training reads and accepted suggestions are written to "
        "(default: the shipped data/lexicons)",
    )
    reference_dir: Path | None = Field(
        default=None, description="reference tables such as lab_fees.csv (default: the shipped data/reference)"
    )
    # plan costs: purchase price + the category's lab fee (yuan)
    lab_fees: dict[str, float] = Field(
        default_factory=dict, description="per-category fees on top of the reference table (JSON object)"
    )
    lab_fee_default: float = Field(default=800.0, ge=0, description="fee of a category in neither")

    def tracking_uri(self) -> str:
        """The MLflow tracking (and registry) URI."""
        return self.mlflow_uri or f"sqlite:///{paths.MLFLOW_DB}"

    def artifact_root(self) -> str:
        """Where new experiments keep artifacts: beside a SQLite tracking file, so a temporary one is whole."""
        if self.mlflow_artifacts:
            return self.mlflow_artifacts
        uri = self.tracking_uri()
        if uri.startswith("sqlite:///"):
            return str(Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts")
        return str(paths.MLFLOW_ARTIFACTS)

    def model_cache_dir(self) -> Path:
        return self.model_cache or paths.MODEL_CACHE_DIR

    def score_cache_dir(self) -> Path | None:
        """The score cache folder, None when switched off."""
        if self.score_cache is None:
            return paths.SCORE_CACHE_DIR
        return None if self.score_cache.strip().lower() in _OFF else Path(self.score_cache)

    def review_model_dir(self) -> Path:
        return self.review_model or paths.REVIEW_MODEL_DIR

    def lexicon_path(self) -> Path:
        return self.lexicon_dir or paths.LEXICON_DIR

    def reference_path(self, name: str) -> Path:
        """A reference table: the deployment's own when `reference_dir` holds it, else the shipped one."""
        if self.reference_dir is not None and (self.reference_dir / name).is_file():
            return self.reference_dir / name
        return paths.REFERENCE_DIR / name


def shared_settings() -> SharedSettings:
    """The shared settings as the environment says now."""
    return SharedSettings()
