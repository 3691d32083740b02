"""MLflow tracking and model registry for the scorer bundle.

Defaults: a local SQLite tracking store and registry at `<project>/mlflow.db` with artifacts under
`<project>/mlartifacts/`; `CHOUJIAN_MLFLOW_URI` (any MLflow tracking URI) and
`CHOUJIAN_MLFLOW_ARTIFACTS` override them. The bundle is registered as `choujian-listing`; models move
through the aliases `challenger` and `champion` (`models:/choujian-listing@champion`), never stages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from models.bundle import ScorerBundle

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGISTERED_MODEL = "choujian-listing"
CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT = "choujian"
#: what a registered bundle needs at load time (the project itself, installed)
PIP_REQUIREMENTS = ["choujian", "lightgbm>=4.5,<5", "scikit-learn>=1.5,<1.9", "pandas>=2.2,<3", "numpy"]


def tracking_uri() -> str:
    """The tracking (and registry) URI: `CHOUJIAN_MLFLOW_URI`, else SQLite under the project root."""
    return os.environ.get("CHOUJIAN_MLFLOW_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def artifact_root() -> str:
    """Where new experiments keep artifacts: `CHOUJIAN_MLFLOW_ARTIFACTS`, else `<project>/mlartifacts`."""
    root = os.environ.get("CHOUJIAN_MLFLOW_ARTIFACTS")
    if root:
        return root
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        # keep artifacts next to the database so a temp tracking dir is self-contained
        return str(Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts")
    return str(PROJECT_ROOT / "mlartifacts")


def model_cache() -> Path:
    """Where downloaded registered models are kept: `CHOUJIAN_MODEL_CACHE`, else `<project>/data/cache/models`."""
    return Path(os.environ.get("CHOUJIAN_MODEL_CACHE") or PROJECT_ROOT / "data" / "cache" / "models")


def configure(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at `uri` (default `tracking_uri()`); returns the URI."""
    import mlflow

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str = EXPERIMENT) -> str:
    """Create the experiment (artifacts under `artifact_root()`) if missing; make it current."""
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        location = Path(artifact_root()) / name
        uri = location.resolve().as_uri() if "://" not in str(location) else str(location)
        exp_id = mlflow.create_experiment(name, artifact_location=uri)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return str(exp_id)


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def log_bundle(
    bundle: ScorerBundle, *, registered_model: str = REGISTERED_MODEL, alias: str | None = CHALLENGER
) -> ModelVersion:
    """Log the bundle as a pyfunc model in the active run, register it and set `alias` on the new version."""
    import mlflow.pyfunc

    from models.pyfunc import ChoujianPyfunc

    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(tmp) / "bundle"
        bundle.save(bundle_dir)
        info = mlflow.pyfunc.log_model(
            name="scorer",
            python_model=ChoujianPyfunc(),
            artifacts={"bundle": str(bundle_dir)},
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=registered_model,
            metadata={"choujian": bundle.metadata.get("summary", {})},
        )
    version = str(info.registered_model_version)
    client = _client()
    mv = client.get_model_version(registered_model, version)
    for key, value in bundle.metadata.get("summary", {}).items():
        client.set_model_version_tag(registered_model, version, key, str(value))
    if alias:
        client.set_registered_model_alias(registered_model, alias, version)
        logger.info("registered %s version %s as @%s", registered_model, version, alias)
    return mv


def set_alias(alias: str, version: str, *, registered_model: str = REGISTERED_MODEL) -> None:
    """Point `alias` at `version`."""
    _client().set_registered_model_alias(registered_model, alias, version)


def _model_uri(ref: str, registered_model: str) -> str:
    if "://" in ref or ref.startswith(("models:/", "runs:/")):
        return ref
    if ref.isdigit():
        return f"models:/{registered_model}/{ref}"
    return f"models:/{registered_model}@{ref}"


def resolve_version(ref: str, *, registered_model: str = REGISTERED_MODEL) -> ModelVersion:
    """The registry entry for an alias (`champion`), a version number or a `models:/` URI."""
    client = _client()
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
    target = model_cache() / key
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
    client = _client()
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
    client = _client()
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


# -- promotion ---------------------------------------------------------------------------------------
PROMOTION_METRICS = {
    "lab_fail_pr_auc": "holdout_lab_fail_pr_auc",
    "truth_pr_auc": "truth_pr_auc",
    "truth_captured_lift_0.05": "truth_captured_lift_0.05",
    "truth_hit_rate_0.05": "truth_hit_rate_0.05",
}


@dataclass
class Decision:
    """What `promote` did and why."""

    promoted: bool
    reason: str
    metric: str
    challenger: str | None = None
    champion_before: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    n_holdout: int = 0
    notes: list[str] | None = None


def _try_version(ref: str, registered_model: str) -> ModelVersion | None:
    try:
        return resolve_version(ref, registered_model=registered_model)
    except Exception:  # MLflow raises RestException / MlflowException for a missing alias
        return None


def promote(
    *,
    data_dir: str | Path | None = None,
    metric: str = "lab_fail_pr_auc",
    min_gain: float = 0.0,
    registered_model: str = REGISTERED_MODEL,
) -> Decision:
    """Move `champion` to the challenger only if it scores better on the challenger's own holdout.

    Both models score the same held-out listings (the challenger's split, from its data directory); the
    default metric is the lab-failure PR-AUC on the held-out listings that have lab results, weighted by
    1/π: what a regulator can measure. `truth_*` metrics need a simulated market's ground truth.
    """
    from features.market import load_market
    from training.train import (
        TrainConfig,
        _subset,
        holdout_mask,
        holdout_scoring_market,
        load_ground_truth,
        observed_holdout_metrics,
        truth_holdout_metrics,
    )

    if metric not in PROMOTION_METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(PROMOTION_METRICS)}")
    configure()
    chal_mv = _try_version(CHALLENGER, registered_model)
    if chal_mv is None:
        return Decision(False, "there is no @challenger: run `choujian train` first", metric)
    chal = str(chal_mv.version)
    champ_mv = _try_version(CHAMPION, registered_model)
    client = _client()
    if champ_mv is None:
        client.set_registered_model_alias(registered_model, CHAMPION, chal)
        client.set_model_version_tag(registered_model, chal, "promotion", "first model: champion by default")
        return Decision(True, f"no champion yet: version {chal} becomes @champion", metric, challenger=chal)
    champ = str(champ_mv.version)
    if champ == chal:
        return Decision(False, f"version {chal} is already @champion", metric, challenger=chal, champion_before=champ)

    challenger = load_scorer(chal, registered_model=registered_model)
    champion = load_scorer(champ, registered_model=registered_model)
    source = Path(data_dir or challenger.metadata.get("data_dir", ""))
    if not source.is_dir():
        raise FileNotFoundError(f"the challenger's data directory {source} is missing: pass --data")
    config = TrainConfig.model_validate(challenger.metadata["config"])
    market = load_market(source)
    scoring, holdout_ids = holdout_scoring_market(market, config.split)
    sub = _subset(scoring, holdout_ids)
    truth = load_ground_truth(source) if metric.startswith("truth_") else None
    if metric.startswith("truth_") and truth is None:
        raise FileNotFoundError(f"metric {metric} needs {source}/ground_truth_listings.parquet")

    def score(bundle: ScorerBundle) -> float | None:
        frame = bundle.score_frame(sub)
        if truth is not None:
            values = truth_holdout_metrics(frame, truth, holdout_ids)
        else:
            values = observed_holdout_metrics(frame, market, holdout_ids, ipw_cap=config.ipw_cap)
        v = values.get(PROMOTION_METRICS[metric])
        return None if v is None else float(v)

    notes: list[str] = []
    if challenger.metadata.get("data_sha256") and challenger.metadata.get("data_sha256") != champion.metadata.get(
        "data_sha256"
    ):
        notes.append("the champion was trained on other data; it is re-scored on the challenger's holdout")
    champ_split = champion.metadata.get("split")
    if champion.metadata.get("data_sha256") == challenger.metadata.get("data_sha256") and champ_split:
        from training.train import SplitConfig

        seen_by_champ = ~holdout_mask(pd_series(holdout_ids), SplitConfig.model_validate(champ_split))
        if seen_by_champ.any():
            notes.append(
                f"{int(seen_by_champ.sum())} of the held-out listings were in the champion's training split "
                "(a different split): the comparison favours the champion"
            )
    s_chal, s_champ = score(challenger), score(champion)
    base = Decision(
        False,
        "",
        metric,
        challenger=chal,
        champion_before=champ,
        challenger_score=s_chal,
        champion_score=s_champ,
        n_holdout=len(holdout_ids),
        notes=notes,
    )
    if s_chal is None or s_champ is None:
        base.reason = f"{metric} is undefined on this holdout (no labelled failures?): champion stays {champ}"
        return base
    if s_chal > s_champ + min_gain:
        client.set_registered_model_alias(registered_model, CHAMPION, chal)
        client.set_model_version_tag(
            registered_model, chal, "promotion", f"{metric} {s_chal:.4f} > champion v{champ} {s_champ:.4f}"
        )
        base.promoted = True
        base.reason = (
            f"challenger v{chal} wins on {metric}: {s_chal:.4f} vs champion v{champ} {s_champ:.4f} "
            f"on the same {len(holdout_ids)} held-out listings; v{chal} is now @champion"
        )
    else:
        base.reason = (
            f"challenger v{chal} does not beat champion v{champ} on {metric}: {s_chal:.4f} vs {s_champ:.4f}"
            + (f" (needs > {s_champ + min_gain:.4f})" if min_gain else "")
            + f" on the same {len(holdout_ids)} held-out listings; champion stays v{champ}"
        )
    return base


def pd_series(values: list[str]) -> Any:
    """A pandas Series of ids (pandas is imported lazily to keep this module light)."""
    import pandas as pd

    return pd.Series(values, dtype=str)
