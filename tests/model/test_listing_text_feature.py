"""The transformer listing text model as a risk-model feature: cross-fitted in training, inside the
bundle afterwards, and scored the same way by a loaded bundle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from features.market import Market
from models.bundle import ScorerBundle
from tests.support.tiny import TINY_CONFIG, fit_tiny
from training.config import ListingTextConfig
from training.simulator import Simulation, write_simulation

pytestmark = pytest.mark.slow
CONFIG = TINY_CONFIG


def test_listing_text_model_is_cross_fitted_bundled_and_reloaded(
    tiny_market: Market, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    # its own fit: this tests the listing text feature's training, which the session's tiny bundle leaves off
    text = ListingTextConfig(enabled=True, pretrained=str(tiny_checkpoint), epochs=1.0, max_len=32)
    market = tiny_market
    bundle = fit_tiny(market, listing_text=text).bundle
    names = bundle.metadata["feature_names"]
    assert "listing_text__p_counterfeit" in names and "listing_text__p_false_advertising" in names
    assert bundle.metadata["summary"]["listing_text_model"] == "cross-fitted"
    step = dict(bundle.listing_pipeline.transformer_list)["listing_text"]
    assert step.cross_fitted is None, "out-of-fold training scores are not part of the model"
    assert step.text_model.backend == "onnx"

    path = bundle.save(tmp_path / "bundle")
    assert [p.name for p in (path / "text_models").iterdir()] == [f"00-{Path(step.text_model.path).name}"]
    loaded = ScorerBundle.load(path)
    sub = market.listings.head(60)
    part = market.subset(sub["listing_id"].astype(str).tolist())
    pd.testing.assert_frame_equal(bundle.score_frame(part), loaded.score_frame(part))
    # the feature is the model's reading of the title: a changed title changes it
    _, X = loaded.listing_features(part)
    col = names.index("listing_text__p_counterfeit")
    edited = part.listings.copy()
    edited["title"] = "高仿 " + edited["title"].astype(str)
    _, X2 = loaded.listing_features(dataclasses.replace(part, listings=edited))
    assert (X[:, col] != X2[:, col]).any()


def test_train_command_turns_the_listing_text_model_on(
    tiny_simulation: Simulation, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import yaml
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("CHOUJIAN_MLFLOW_ARTIFACTS", raising=False)
    raw = yaml.safe_load(CONFIG.read_text())
    raw["listing_text"] = {"enabled": False, "pretrained": str(tiny_checkpoint), "epochs": 1.0, "max_len": 32}
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    data = tmp_path / "market"
    write_simulation(tiny_simulation, data)  # trains through the command: what this test checks
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--config", str(config), "--data", str(data), "--no-register", "--listing-text"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=[raw["experiment"]], output_format="list")
    assert run.data.params["listing_text.enabled"] == "True"
