"""The registry's read side: resolve an alias or version, load a scorer bundle, list versions.

Defaults: a local SQLite tracking store and registry at `<project>/mlflow.db` (`CHOUJIAN_MLFLOW_URI`
overrides it, `core.settings`). The bundle is registered as `choujian-listing`; models move through the
aliases `challenger` and `champion` (`models:/choujian-listing@champion`), never stages. Serving and the
batch commands load through here; registering and promoting (`training.registry`) write.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import shared_settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from models.bundle import ScorerBundle

logger = logging.getLogger(__name__)

REGISTERED_MODEL = "choujian-listing"
CHAMPION = "champion"
CHALLENGER = "challenger"


class ModelNotFound(LookupError):
    """No scorer behind a reference: an alias nobody set, a missing version or folder."""


def tracking_uri() -> str:
    """The tracking (and registry) URI: `CHOUJIAN_MLFLOW_URI`, else SQLite under the project root."""
    return shared_settings().tracking_uri()


def configure(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at `uri` (default `tracking_uri()`); returns the URI."""
    import mlflow

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def registry_client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def _model_uri(ref: str, registered_model: str) -> str:
    if "://" in ref or ref.startswith(("models:/", "runs:/")):
        return ref
    if ref.isdigit():
        return f"models:/{registered_model}/{ref}"
    return f"models:/{registered_model}@{ref}"


def _is_path(ref: str) -> bool:
    """A folder rather than an alias, a version number or a URI (aliases hold no `/`, `\\` or leading `.`)."""
    if "://" in ref or ref.startswith(("models:/", "runs:/")):
        return False
    return "/" in ref or "\\" in ref or ref.startswith((".", "~"))


def resolve_version(ref: str, *, registered_model: str = REGISTERED_MODEL) -> ModelVersion:
    """The registry entry for an alias (`champion`), a version number or a `models:/` URI."""
    client = registry_client()
    if ref.startswith("models:/"):
        rest = ref.removeprefix("models:/")
        name, _, tail = rest.partition("@") if "@" in rest else rest.partition("/")
        if "@" in rest:
            return client.get_model_version_by_alias(name, tail)
        return client.get_model_version(name, tail)
    if ref.isdigit():
        return client.get_model_version(registered_model, ref)
    return client.get_model_version_by_alias(registered_model, ref)


def load_scorer(ref: str = CHAMPION, *, registered_model: str = REGISTERED_MODEL) -> ScorerBundle:
    """Load a scorer bundle from an alias, a version number, an MLflow model URI or a local bundle folder."""
    import mlflow.artifacts

    from models.bundle import ScorerBundle

    local = Path(ref)
    if local.is_dir() and (local / "bundle.pkl").exists():
        return ScorerBundle.load(local)
    if local.is_dir() and (local / "artifacts" / "bundle" / "bundle.pkl").exists():
        return ScorerBundle.load(local / "artifacts" / "bundle")
    if _is_path(ref):  # an alias is never a path: do not ask the registry about one
        raise FileNotFoundError(
            f"{ref} is not a scorer bundle folder (no bundle.pkl)" if local.exists() else f"{ref} does not exist"
        )
    configure()
    uri = _model_uri(ref, registered_model)
    version = None
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    if uri.startswith("models:/"):
        mv = resolve_version(uri, registered_model=registered_model)
        version = str(mv.version)
        # download by version so a concurrent alias move cannot mix two models
        uri = f"models:/{mv.name}/{mv.version}"
        key = f"{mv.name}-v{mv.version}-{mv.run_id or key}"
    # a registered version never changes, so its download is kept: the text models inside the bundle
    # load from (and pickle by reference to) these folders, which must outlive this call
    target = shared_settings().model_cache_dir() / key
    if not (target / "artifacts" / "bundle" / "bundle.pkl").exists():
        partial = target.with_name(target.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(partial))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    bundle = ScorerBundle.load(target / "artifacts" / "bundle")
    if version is not None:
        bundle.version = version
    logger.info("loaded %s (version %s)", uri, bundle.version)
    return bundle


def load_champion(*, registered_model: str = REGISTERED_MODEL) -> ScorerBundle:
    """The bundle behind `models:/choujian-listing@champion`."""
    return load_scorer(CHAMPION, registered_model=registered_model)


@dataclass
class VersionRow:
    version: str
    aliases: list[str]
    run_id: str | None
    created: int
    tags: dict[str, str]


def list_versions(*, registered_model: str = REGISTERED_MODEL) -> list[VersionRow]:
    """All registered versions, newest first, with their aliases and tags."""
    client = registry_client()
    try:
        versions = client.search_model_versions(f"name='{registered_model}'")
    except Exception as e:  # a fresh store has no registered model table rows yet
        logger.debug("no versions: %s", e)
        return []
    aliases: dict[str, list[str]] = {}
    try:
        rm = client.get_registered_model(registered_model)
        for a, v in (rm.aliases or {}).items():
            aliases.setdefault(str(v), []).append(a)
    except Exception:  # no registered model yet
        return []
    rows = [
        VersionRow(
            version=str(v.version),
            aliases=sorted(aliases.get(str(v.version), [])),
            run_id=v.run_id,
            created=int(v.creation_timestamp or 0),
            tags=dict(v.tags or {}),
        )
        for v in versions
    ]
    return sorted(rows, key=lambda r: -int(r.version))


def version_info(ref: str, *, registered_model: str = REGISTERED_MODEL) -> dict[str, Any]:
    """Registry entry, run parameters and metrics of one version (alias or number)."""
    client = registry_client()
    mv = resolve_version(ref, registered_model=registered_model)
    rm = client.get_registered_model(mv.name)
    info: dict[str, Any] = {
        "name": mv.name,
        "version": str(mv.version),
        "aliases": sorted(a for a, v in (rm.aliases or {}).items() if str(v) == str(mv.version)),
        "run_id": mv.run_id,
        "source": mv.source,
        "tags": dict(mv.tags or {}),
    }
    if mv.run_id:
        run = client.get_run(mv.run_id)
        info["params"] = dict(run.data.params)
        info["metrics"] = dict(run.data.metrics)
    return info


def registry_facts(name: str, version: str) -> tuple[str | None, dict[str, float]]:
    """Training date and run metrics of a registered version (None / {} when the registry cannot say)."""
    try:
        client = registry_client()
        mv = client.get_model_version(name, version)
        stamp = mv.creation_timestamp
        metrics: dict[str, float] = {}
        if mv.run_id:
            run = client.get_run(mv.run_id)
            stamp = run.info.start_time or stamp
            metrics = {k: float(v) for k, v in run.data.metrics.items()}
        trained = datetime.fromtimestamp(stamp / 1000, UTC).isoformat(timespec="seconds") if stamp else None
        return trained, metrics
    except Exception as e:  # model info is descriptive: a registry hiccup must not stop serving
        logger.warning("no registry facts for %s version %s: %s", name, version, e)
        return None, {}
