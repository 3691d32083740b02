"""The loop closed, on a small SQLite store: ingest → `choujian round` (the first model becomes champion and
the next plan is stored) → lab results recorded against that plan, as the API records them → `choujian train
--store` registers a challenger trained with them at their exact inclusion probabilities → a second round
counts them as new labels, decides with a reason and writes its report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from features.market import load_market

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train-tiny.yaml"
RECORDED = 8


def _ok(result: object) -> str:
    out = getattr(result, "output", "")
    assert getattr(result, "exit_code", 1) == 0, out + repr(getattr(result, "exception", None))
    return str(out)


def _record(url: str, plan_id: str, n: int) -> dict[str, float]:
    """Results for the first `n` targets, through the function `POST /v1/plans/{id}/results` calls."""
    from serving import service, store
    from serving.db import make_engine, make_sessionmaker
    from serving.schemas import ResultIn

    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        row = store.get_plan(s, plan_id)
        assert row is not None and len(row.targets) >= n
        targets = sorted(row.targets, key=lambda t: t.rank)[:n]
        results = [
            ResultIn(
                listing_id=t.listing_id,
                sampled_date=date(2026, 12, 1),
                verdict="fail" if i % 2 else "pass",
                failure_types=["quality"] if i % 2 else [],
            )
            for i, t in enumerate(targets)
        ]
        service.record_results(s, row, results, recorded_by="test")
        pis = {t.listing_id: float(t.inclusion_prob) for t in targets}
    engine.dispose()
    return pis


def _report(reports: Path) -> dict:
    newest = sorted(reports.glob("round-*.json"))[-1]
    assert newest.with_suffix(".md").is_file()
    return dict(json.loads(newest.read_text(encoding="utf-8")))


def test_round_train_store_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.simulator import simulate

    monkeypatch.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CHOUJIAN_MODEL_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.delenv("CHOUJIAN_MLFLOW_ARTIFACTS", raising=False)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("CHOUJIAN_DATABASE_URL", url)
    reports, exports = tmp_path / "reports", tmp_path / "exports"
    runner = CliRunner()
    common = ["--config", str(CONFIG), "--export-root", str(exports)]
    round_args = ["round", *common, "--out-dir", str(reports), "--budget", "20000", "--epsilon", "0.3"]

    # an empty store: one line, no traceback
    empty = runner.invoke(app, round_args)
    assert empty.exit_code == 2 and "the store holds no listings" in empty.output

    # the rounds train their own bundles from the store (what this test checks), not the session's tiny one
    market = tmp_path / "market"
    simulate(80, 800, seed=12).market.write(market)
    _ok(runner.invoke(app, ["ingest", str(market)]))

    out = _ok(runner.invoke(app, round_args))
    assert "first round" in out and "becomes @champion" in out
    first = _report(reports)
    assert first["models"] == {"champion_before": None, "challenger": "1", "champion_after": "1"}
    assert first["decision"]["promoted"] and first["decision"]["first_champion"]
    assert first["decision"]["challenger_metrics"], "the first model's held-out metrics"
    plan = first["plan"]
    assert plan["plan_id"] and plan["n_targets"] >= RECORDED and plan["cost"] <= plan["budget"] == 20000
    assert plan["expected_failures"] > 0 and plan["model_version"] == "1"

    pis = _record(url, plan["plan_id"], RECORDED)

    out = _ok(runner.invoke(app, ["train", "--store", *common]))
    assert "registered choujian-listing version 2 as @challenger" in out
    from models.registry import load_scorer

    challenger = load_scorer("challenger")
    trained_on = load_market(challenger.metadata["data_dir"]).lab_results
    mine = trained_on[trained_on["plan_id"] == plan["plan_id"]]
    assert dict(zip(mine["listing_id"], mine["inclusion_prob"], strict=True)) == pytest.approx(pis)

    # --data and --store exclude each other
    both = runner.invoke(app, ["train", "--store", "--data", str(market), "--config", str(CONFIG)])
    assert both.exit_code == 2 and "either --data" in both.output

    out = _ok(runner.invoke(app, [*round_args, "--seed", "1"]))
    second = _report(reports)
    assert second["new_labels"] == RECORDED == second["recorded_total"] == second["data"]["recorded"]
    assert second["models"]["champion_before"] == "1" and second["models"]["challenger"] == "3"
    d = second["decision"]
    assert d["reason"] and d["metric"] == "lab_fail_pr_auc" and not d["first_champion"]
    assert d["champion_metrics"] and d["challenger_metrics"] and d["n_holdout"] > 0
    assert second["models"]["champion_after"] == ("3" if d["promoted"] else "1")
    assert second["plan"]["plan_id"] != plan["plan_id"]
    md = sorted(reports.glob("round-*.md"))[-1].read_text(encoding="utf-8")
    assert "new labels since the champion was trained: **8**" in md and "## Decision" in md
