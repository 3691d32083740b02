"""Every known failure of the `choujian` command is one `error:` line and a non-zero exit code, never a
traceback: a missing model, alias, version, folder or file, and a challenger that `promote` refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app


@pytest.fixture(scope="module")
def small_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.simulator import simulate

    out = tmp_path_factory.mktemp("cli-market")
    simulate(20, 100, seed=3).market.write(out)
    return out


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty MLflow store of this test's own."""
    monkeypatch.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CHOUJIAN_MODEL_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.delenv("CHOUJIAN_MLFLOW_ARTIFACTS", raising=False)
    return tmp_path


def _one_error(result: Result, code: int = 2) -> str:
    """The single `error:` line of a failed command (spinners and notes may precede it, a traceback may not)."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # typer.Exit, not an escaped exception
    assert "Traceback" not in result.output and "╭" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_score_batch_with_no_champion_after_train(registry: Path, small_market: Path, tmp_path: Path) -> None:
    from models.registry import REGISTERED_MODEL, configure, registry_client

    configure()
    registry_client().create_registered_model(REGISTERED_MODEL)  # what `train` leaves: no @champion yet
    r = CliRunner().invoke(app, ["score-batch", "--input", str(small_market), "--output", str(tmp_path / "s.parquet")])
    line = _one_error(r)
    assert "'champion'" in line and "alias champion not found" in line and "choujian promote" in line


def test_score_batch_and_plan_with_a_bad_model_path(registry: Path, small_market: Path, tmp_path: Path) -> None:
    args = ["score-batch", "--input", str(small_market), "--output", str(tmp_path / "s.parquet")]
    line = _one_error(CliRunner().invoke(app, [*args, "--model", "/bad/path"]))
    assert "/bad/path does not exist" in line and "--model" in line
    line = _one_error(CliRunner().invoke(app, [*args, "--model", str(tmp_path)]))
    assert "not a scorer bundle folder" in line
    plan = ["plan", "--market", str(small_market), "--out", str(tmp_path / "plan.csv"), "--model", "/bad/path"]
    assert "/bad/path does not exist" in _one_error(CliRunner().invoke(app, plan))


def test_score_batch_with_no_registered_model(registry: Path, small_market: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["score-batch", "--input", str(small_market), "--output", str(tmp_path / "s.parquet")])
    assert "choujian train" in _one_error(r)


def test_models_info_and_evaluate_without_the_model(registry: Path, small_market: Path) -> None:
    line = _one_error(CliRunner().invoke(app, ["models", "info", "champion"]))
    assert "no version 'champion'" in line
    assert "'7'" in _one_error(CliRunner().invoke(app, ["models", "info", "7"]))
    line = _one_error(CliRunner().invoke(app, ["evaluate", "--data", str(small_market / "nowhere"), "--no-mlflow"]))
    assert "is not a directory" in line


def test_estimate_with_missing_or_wrong_files(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    line = _one_error(CliRunner().invoke(app, ["estimate", "--plan", str(tmp_path / "p.parquet"), "--results", "r"]))
    assert line == f"error: --plan: {tmp_path / 'p.parquet'} does not exist"
    bad = tmp_path / "plan.frame.parquet"
    bad.write_text("not parquet", encoding="utf-8")
    line = _one_error(CliRunner().invoke(app, ["estimate", "--plan", str(bad), "--results", str(results)]))
    assert line.startswith("error: --results:")
    results.write_text("listing_id,verdict\nL1,pass\n", encoding="utf-8")
    line = _one_error(CliRunner().invoke(app, ["estimate", "--plan", str(bad), "--results", str(results)]))
    assert "cannot read" in line and "plan.frame.parquet" in line


def test_promote_refusal_exits_3_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from training import registry as training_registry
    from training.registry import PromotionDecision

    reason = "challenger v2 lab_fail_pr_auc 0.41 does not beat\nchampion v1 0.44 (+0.000 required)"
    monkeypatch.setattr(
        training_registry, "promote", lambda **_: PromotionDecision(False, reason, "lab_fail_pr_auc", challenger="2")
    )
    r = CliRunner().invoke(app, ["promote"])
    assert r.exit_code == 3 and isinstance(r.exception, SystemExit), r.output
    assert "not promoted: challenger v2 lab_fail_pr_auc 0.41 does not beat champion v1 0.44" in r.output
    assert "Traceback" not in r.output
    monkeypatch.setattr(
        training_registry, "promote", lambda **_: PromotionDecision(True, "v2 wins", "lab_fail_pr_auc", challenger="2")
    )
    r = CliRunner().invoke(app, ["promote"])
    assert r.exit_code == 0 and "promoted: v2 wins" in r.output
