"""`choujian evaluate --cross-world`: `reports/evaluation.json` carries, next to the own market's ranking, each
world's captured lift at 1/5/10% and AUC, the ablations and the train-on-one / test-on-the-other matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.bundle import ScorerBundle
from training.crossworld import drops
from training.simulator import Simulation, write_simulation

pytestmark = pytest.mark.slow
METRICS = ("captured_lift_0.01", "captured_lift_0.05", "captured_lift_0.1", "auc")


@pytest.fixture(scope="module")
def market_and_bundle(
    tiny_simulation: Simulation, tiny_bundle: ScorerBundle, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The session's tiny market (with its ground truth) and bundle (tests/conftest.py), written out."""
    tmp = tmp_path_factory.mktemp("evaluation")
    write_simulation(tiny_simulation, tmp / "market")
    return tmp / "market", tiny_bundle.save(tmp / "bundle")


def test_report_carries_worlds_ablations_and_matrix(market_and_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    from cli.main import app

    data, bundle = market_and_bundle
    out = tmp_path / "evaluation.json"
    ablations = ["full", "no_lexicon", "no_review_model", "no_identity"]
    res = CliRunner().invoke(
        app,
        ["evaluate", "--data", str(data), "--model", str(bundle), "--out", str(out), "--no-mlflow", "--cross-world",
         "--world-seeds", "1,2", "--world-merchants", "60", "--world-listings", "1000",
         "--world-ablations", ",".join(ablations)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["ranking"]) == {"0.01", "0.05", "0.1"}  # the own market's figures are still there
    cw = report["cross_world"]
    assert cw["setup"]["seeds"] == [1, 2] and cw["setup"]["listings"] == 1000
    assert cw["setup"]["ablations"] == {a: list(drops(a)) for a in ablations}
    assert cw["matrix_ablation"] == "full"
    for w in ("a", "b"):
        assert set(cw["per_world"][w]) == set(ablations)
        for cell in [*cw["per_world"][w].values(), *cw["matrix"][w].values()]:
            for m in METRICS:
                assert cell[m] is None or -1.5 <= cell[m] <= 1.5, m
            assert 0.0 <= cell["auc"] <= 1.0
            spread = cell["spread"]["captured_lift_0.05"]
            assert spread["min"] <= cell["captured_lift_0.05"] <= spread["max"] and spread["sd"] >= 0
        assert set(cw["matrix"][w]) == {"a", "b"}
    # the diagonal of the matrix is the world's own full-pipeline figure
    assert cw["matrix"]["b"]["b"] == cw["per_world"]["b"]["full"]
    assert "across worlds" in res.output
