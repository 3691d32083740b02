"""The registry's write side: log a run's bundle, register it as `@challenger`, promote it to `@champion`.

Reading (resolve an alias, load a bundle, list versions) is `models.registry`, which serving uses too.
New experiments keep their artifacts under `<project>/mlartifacts/` (`CHOUJIAN_MLFLOW_ARTIFACTS`).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import shared_settings
from models.registry import (
    CHALLENGER,
    CHAMPION,
    REGISTERED_MODEL,
    configure,
    load_scorer,
    registry_client,
    resolve_version,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from models.bundle import ScorerBundle

logger = logging.getLogger(__name__)

EXPERIMENT = "choujian"
#: what a registered bundle needs at load time (the project itself, installed)
PIP_REQUIREMENTS = ["choujian", "lightgbm>=4.5,<5", "scikit-learn>=1.5,<1.9", "pandas>=2.2,<3", "numpy"]


def ensure_experiment(name: str = EXPERIMENT) -> str:
    """Create the experiment (artifacts under `artifact_root()`) if missing; make it current."""
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        location = Path(shared_settings().artifact_root()) / name
        uri = location.resolve().as_uri() if "://" not in str(location) else str(location)
        exp_id = mlflow.create_experiment(name, artifact_location=uri)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return str(exp_id)


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
    client = registry_client()
    mv = client.get_model_version(registered_model, version)
    for key, value in bundle.metadata.get("summary", {}).items():
        client.set_model_version_tag(registered_model, version, key, str(value))
    if alias:
        client.set_registered_model_alias(registered_model, alias, version)
        logger.info("registered %s version %s as @%s", registered_model, version, alias)
    return mv


def set_alias(alias: str, version: str, *, registered_model: str = REGISTERED_MODEL) -> None:
    """Point `alias` at `version`."""
    registry_client().set_registered_model_alias(registered_model, alias, version)


# -- promotion ---------------------------------------------------------------------------------------
PROMOTION_METRICS = {
    "lab_fail_pr_auc": "holdout_lab_fail_pr_auc",
    "truth_pr_auc": "truth_pr_auc",
    "truth_captured_lift_0.05": "truth_captured_lift_0.05",
    "truth_hit_rate_0.05": "truth_hit_rate_0.05",
}


@dataclass
class PromotionDecision:
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
    #: every held-out metric of both models on the same listings (what a round report shows)
    challenger_metrics: dict[str, float] | None = None
    champion_metrics: dict[str, float] | None = None


def _try_version(ref: str, registered_model: str) -> ModelVersion | None:
    try:
        return resolve_version(ref, registered_model=registered_model)
    except Exception:  # MLflow raises RestException / MlflowException for a missing alias
        return None


@dataclass
class _Holdout:
    """The challenger's held-out listings, scored by both models the same way."""

    market: Any  # the whole market (its lab results weight the observed metric)
    scoring: Any  # only the held-out listings, their lab results hidden
    ids: list[str]
    truth: Any  # the simulator's ground truth, for truth_* metrics
    config: Any  # the challenger's TrainConfig

    def metrics(self, bundle: ScorerBundle) -> dict[str, float]:
        """The observed (1/π-weighted) held-out metrics, and the truth_* ones where the market has a truth."""
        from training.holdout import holdout_metrics

        frame = bundle.score_frame(self.scoring)
        values = holdout_metrics(frame, self.market, self.ids, ipw_cap=self.config.ipw_cap, truth=self.truth)
        return {k: float(v) for k, v in values.items()}

    @staticmethod
    def score(values: dict[str, float], metric: str) -> float | None:
        return values.get(PROMOTION_METRICS[metric])


def _challenger_holdout(challenger: ScorerBundle, data_dir: str | Path | None, metric: str) -> _Holdout:
    """The challenger's holdout from its data directory (or `data_dir`), as it was split at training."""
    from features.market import load_market
    from training.config import TrainConfig
    from training.holdout import holdout_scoring_market, load_ground_truth

    source = Path(data_dir or challenger.metadata.get("data_dir", ""))
    if not source.is_dir():
        raise FileNotFoundError(f"the challenger's data directory {source} is missing: pass --data")
    config = TrainConfig.model_validate(challenger.metadata["config"])
    market = load_market(source)
    scoring, holdout_ids = holdout_scoring_market(market, config.split)
    truth = load_ground_truth(source)
    if metric.startswith("truth_") and truth is None:
        raise FileNotFoundError(f"metric {metric} needs {source}/ground_truth_listings.parquet")
    return _Holdout(market, scoring.subset(holdout_ids), holdout_ids, truth, config)


def _comparison_notes(challenger: ScorerBundle, champion: ScorerBundle, holdout_ids: list[str]) -> list[str]:
    """What a reader of the decision should know about how fair the comparison is."""
    from training.config import SplitConfig
    from training.labels import holdout_mask

    notes: list[str] = []
    chal_sha, champ_sha = challenger.metadata.get("data_sha256"), champion.metadata.get("data_sha256")
    if chal_sha and chal_sha != champ_sha:
        notes.append("the champion was trained on other data; it is re-scored on the challenger's holdout")
    champ_split = champion.metadata.get("split")
    if champ_sha == chal_sha and champ_split:
        seen_by_champ = ~holdout_mask(pd_series(holdout_ids), SplitConfig.model_validate(champ_split))
        if seen_by_champ.any():
            notes.append(
                f"{int(seen_by_champ.sum())} of the held-out listings were in the champion's training split "
                "(a different split): the comparison favours the champion"
            )
    return notes


def promote(
    *,
    data_dir: str | Path | None = None,
    metric: str = "lab_fail_pr_auc",
    min_gain: float = 0.0,
    registered_model: str = REGISTERED_MODEL,
) -> PromotionDecision:
    """Move `champion` to the challenger only if it scores better on the challenger's own holdout.

    Both models score the same held-out listings (the challenger's split, from its data directory); the
    default metric is the lab-failure PR-AUC on the held-out listings that have lab results, weighted by
    1/π: what a regulator can measure. `truth_*` metrics need a simulated market's ground truth.
    """
    if metric not in PROMOTION_METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(PROMOTION_METRICS)}")
    configure()
    chal_mv = _try_version(CHALLENGER, registered_model)
    if chal_mv is None:
        return PromotionDecision(False, "there is no @challenger: run `choujian train` first", metric)
    chal = str(chal_mv.version)
    champ_mv = _try_version(CHAMPION, registered_model)
    client = registry_client()
    if champ_mv is None:
        client.set_registered_model_alias(registered_model, CHAMPION, chal)
        client.set_model_version_tag(registered_model, chal, "promotion", "first model: champion by default")
        return PromotionDecision(True, f"no champion yet: version {chal} becomes @champion", metric, challenger=chal)
    champ = str(champ_mv.version)
    if champ == chal:
        return PromotionDecision(
            False, f"version {chal} is already @champion", metric, challenger=chal, champion_before=champ
        )

    challenger = load_scorer(chal, registered_model=registered_model)
    champion = load_scorer(champ, registered_model=registered_model)
    holdout = _challenger_holdout(challenger, data_dir, metric)
    n = len(holdout.ids)
    m_chal, m_champ = holdout.metrics(challenger), holdout.metrics(champion)
    s_chal, s_champ = holdout.score(m_chal, metric), holdout.score(m_champ, metric)
    base = PromotionDecision(
        False,
        "",
        metric,
        challenger=chal,
        champion_before=champ,
        challenger_score=s_chal,
        champion_score=s_champ,
        n_holdout=n,
        notes=_comparison_notes(challenger, champion, holdout.ids),
        challenger_metrics=m_chal,
        champion_metrics=m_champ,
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
            f"on the same {n} held-out listings; v{chal} is now @champion"
        )
    else:
        base.reason = (
            f"challenger v{chal} does not beat champion v{champ} on {metric}: {s_chal:.4f} vs {s_champ:.4f}"
            + (f" (needs > {s_champ + min_gain:.4f})" if min_gain else "")
            + f" on the same {n} held-out listings; champion stays v{champ}"
        )
    return base


def pd_series(values: list[str]) -> Any:
    """A pandas Series of ids (pandas is imported lazily to keep this module light)."""
    import pandas as pd

    return pd.Series(values, dtype=str)
