"""`choujian train`: train the risk models on any market directory, log everything to MLflow, register the bundle.

What the models learn from is only what a regulator has (`training.labels`): the recorded lab results, each
weighted by the inverse of its inclusion probability, and merchants' later reviews. A simulator's ground truth
is never read here except to report held-out metrics, clearly named `truth_*` (`training.holdout`).

The stages, each a module: `training.config` (the YAML config), `training.labels` (splits and labels),
`training.fit` (features, models, the bundle), `training.holdout` (held-out metrics); this module runs them
and logs the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.bundle import ScorerBundle
from models.contract import MERCHANT_RISK
from training import metrics as M
from training.config import TrainConfig
from training.fit import (
    fit_bundle,
    resolve_review_scorer,
)
from training.holdout import holdout_metrics, holdout_scoring_market, load_ground_truth

logger = logging.getLogger(__name__)


def fingerprint(data_dir: str | Path) -> dict[str, Any]:
    """SHA-256 and size of every table file in a market directory (what exactly was trained on)."""
    out: dict[str, Any] = {}
    for p in sorted(Path(data_dir).iterdir()):
        if p.suffix in (".parquet", ".csv") and p.is_file():
            with p.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            out[p.name] = {"sha256": digest, "bytes": p.stat().st_size}
    return out


@dataclass
class TrainResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    bundle: ScorerBundle


def train(
    config: TrainConfig,
    data_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    register: bool = True,
    progress: Any = None,
) -> TrainResult:
    """Train on `data_dir`, log params/metrics/config/fingerprints/plots to MLflow, register as challenger."""
    import mlflow

    from features.market import load_market
    from training import registry

    step = progress or (lambda msg: logger.info(msg))
    registry.configure()
    registry.ensure_experiment(config.experiment)
    step(f"loading market from {data_dir}")
    market = load_market(data_dir)
    review_scorer, review_ref = resolve_review_scorer(config.review_model, backend=config.review_backend)
    with mlflow.start_run(run_name=f"train-{Path(data_dir).name}") as run:
        fp = _log_inputs(config, data_dir, config_path=config_path, review_ref=review_ref)
        result = fit_bundle(market, config, review_scorer=review_scorer, review_model_ref=review_ref, progress=step)
        bundle = result.bundle
        mlflow.log_params({"lexicon_version": bundle.metadata["summary"]["lexicon_version"][:500]})
        mlflow.log_dict(bundle.metadata["lexicon"], "lexicon.json")
        bundle.metadata["data_dir"] = str(Path(data_dir).resolve())
        bundle.metadata["data_fingerprint"] = fp
        bundle.metadata["data_sha256"] = _combined_sha(fp)
        metrics: dict[str, float] = {}
        for risk, info in bundle.metadata["models"].items():
            for k in ("best_iteration", "n_positive", "valid_logloss"):
                if k in info:
                    metrics[f"{risk}.{k}"] = float(info[k])

        step(f"scoring {len(result.holdout_ids)} held-out listings")
        scoring_market, holdout_ids = holdout_scoring_market(market, config.split)
        scores = bundle.score_frame(scoring_market.subset(holdout_ids))
        truth = load_ground_truth(data_dir)
        metrics.update(holdout_metrics(scores, market, holdout_ids, ipw_cap=config.ipw_cap, truth=truth))
        mlflow.log_metrics(metrics)
        bundle.metadata["summary"].update({k: round(v, 4) for k, v in metrics.items() if k.startswith("holdout_")})
        _log_training_plots(bundle)
        version = "unregistered"
        if register:
            step("registering the bundle")
            mv = registry.log_bundle(bundle, registered_model=config.registered_model)
            version = str(mv.version)
            bundle.version = version
        return TrainResult(run_id=run.info.run_id, version=version, metrics=metrics, bundle=bundle)


def _log_inputs(
    config: TrainConfig, data_dir: str | Path, *, config_path: str | Path | None, review_ref: str | None
) -> dict[str, Any]:
    """Log what the run is made of to the active MLflow run: flat params, the config, the data's fingerprint
    (returned)."""
    import mlflow

    mlflow.set_tags({"choujian.command": "train", "choujian.data_dir": str(Path(data_dir).resolve())})
    flat = {
        "data_dir": str(Path(data_dir).resolve()),
        "seed": config.seed,
        "weighting": config.weighting,
        "ipw_cap": config.ipw_cap,
        "calibration": config.calibration,
        "review_model": review_ref or "none",
        **{f"listing_text.{k}": v for k, v in config.listing_text.model_dump().items()},
        **{f"split.{k}": v for k, v in config.split.model_dump().items()},
        **{f"lgb.{k}": v for k, v in config.lightgbm.model_dump().items()},
        **{f"merchant_lgb.{k}": v for k, v in config.merchant_lightgbm.model_dump().items()},
        **{f"merchant_label.{k}": v for k, v in config.merchant_label.model_dump().items()},
        **{f"features.{k}": v for k, v in config.features.items()},
    }
    mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
    mlflow.log_dict(config.model_dump(mode="json"), "config/train.json")
    if config_path is not None:
        mlflow.log_artifact(str(config_path), "config")
    fp = fingerprint(data_dir)
    mlflow.log_dict(fp, "data/fingerprint.json")
    mlflow.set_tag("choujian.data_sha256", _combined_sha(fp))
    return fp


def _combined_sha(fp: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()


def _log_training_plots(bundle: ScorerBundle) -> None:
    """Feature-importance bar charts, one per risk model."""
    import tempfile

    import mlflow

    plt = M.pyplot()
    with tempfile.TemporaryDirectory() as tmp:
        for risk, model in {**bundle.listing_models, MERCHANT_RISK: bundle.merchant_model}.items():
            imp = list(model.importance().items())[:15]
            if not imp:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.barh([n[:40] for n, _ in imp][::-1], [g for _, g in imp][::-1])
            ax.set_title(f"{risk}: gain importance")
            fig.tight_layout()
            path = Path(tmp) / f"importance_{risk}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            mlflow.log_artifact(str(path), "plots")
