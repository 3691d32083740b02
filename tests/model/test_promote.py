"""Promotion through registry aliases: the first model becomes champion, a better challenger replaces it
on the same holdout, a worse one is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import registry as read_side
from training import registry
from training.config import TrainConfig, load_config
from training.simulator import simulate, write_simulation
from training.train import train

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train-tiny.yaml"


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A market directory and a fresh registry: promotion is tested on bundles `train` registers here (a useless
    one and a real one), so no session bundle serves."""
    monkeypatch.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CHOUJIAN_MODEL_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.delenv("CHOUJIAN_MLFLOW_ARTIFACTS", raising=False)
    data = tmp_path / "market"
    write_simulation(simulate(150, 2500, seed=9), data)
    return data


def _useless(config: TrainConfig) -> TrainConfig:
    """Every listing model falls back to its base rate: a constant score, the worst possible ranking."""
    return config.model_copy(update={"lightgbm": config.lightgbm.model_copy(update={"min_positives": 10**9})})


def test_promotion_follows_the_same_holdout(store: Path) -> None:
    good = load_config(CONFIG)
    bad = _useless(good)

    v1 = train(bad, store)
    assert v1.version == "1"
    first = registry.promote()
    assert first.promoted and "no champion yet" in first.reason
    assert str(read_side.resolve_version("champion").version) == "1"

    v2 = train(good, store)
    assert str(read_side.resolve_version("challenger").version) == v2.version == "2"
    better = registry.promote()
    assert better.promoted, better.reason
    assert better.challenger_score is not None and better.champion_score is not None
    assert better.challenger_score > better.champion_score
    assert str(read_side.resolve_version("champion").version) == "2"

    train(bad, store)
    refused = registry.promote()
    assert not refused.promoted
    assert "does not beat" in refused.reason and "champion stays v2" in refused.reason
    assert refused.challenger_score is not None and refused.champion_score is not None
    assert refused.challenger_score < refused.champion_score
    assert refused.n_holdout > 0
    assert str(read_side.resolve_version("champion").version) == "2"
    assert str(read_side.resolve_version("challenger").version) == "3"
    # aliases only: nothing is ever put in a stage
    assert {r.version: r.aliases for r in read_side.list_versions()} == {
        "3": ["challenger"],
        "2": ["champion"],
        "1": [],
    }
    # the champion loads and says which version it is
    assert read_side.load_champion().version == "2"


def test_promote_without_a_challenger_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    decision = registry.promote()
    assert not decision.promoted and "no @challenger" in decision.reason
