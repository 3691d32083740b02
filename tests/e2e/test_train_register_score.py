"""End to end through the CLI: simulate (CSV) → train → register → promote → load → score → evaluate,
all against a temporary MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from features.market import load_market

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train-tiny.yaml"


def _ok(result: object) -> str:
    out = getattr(result, "output", "")
    assert getattr(result, "exit_code", 1) == 0, out + repr(getattr(result, "exception", None))
    return str(out)


def test_train_register_load_score_evaluate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CHOUJIAN_MODEL_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.delenv("CHOUJIAN_MLFLOW_ARTIFACTS", raising=False)
    # trains its own bundle, not the session's tiny one: `choujian train` on CSV files is what this test checks
    runner = CliRunner()
    data = tmp_path / "market"
    # a user's own export: CSV files in the schema
    _ok(runner.invoke(app, ["simulate", "--seed", "4", "--merchants", "120", "--listings", "1500",
                            "--out", str(data), "--format", "csv"]))  # fmt: skip
    assert (data / "listings.csv").is_file()

    out = _ok(runner.invoke(app, ["train", "--config", str(CONFIG), "--data", str(data)]))
    assert "registered choujian-listing version 1 as @challenger" in out
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts beside the temporary store, not in the project
    assert not list((tmp_path / "model-cache").glob("*"))  # nothing downloaded yet

    out = _ok(runner.invoke(app, ["models", "list"]))
    assert "challenger" in out
    out = _ok(runner.invoke(app, ["promote"]))
    assert "promoted" in out and "@champion" in out
    info = json.loads(_ok(runner.invoke(app, ["models", "info", "champion"])))
    assert info["version"] == "1" and info["aliases"] == ["challenger", "champion"]
    assert info["params"]["weighting"] == "ipw" and "holdout_lab_fail_pr_auc" in info["metrics"]

    from models.registry import load_champion, load_scorer

    scorer = load_champion()
    assert scorer.version == "1"
    assert len(list((tmp_path / "model-cache").glob("choujian-listing-v1-*"))) == 1  # kept for reloads
    market = load_market(data)
    frame = scorer.score_frame(market)
    assert len(frame) == 1500 and frame["p_lab_fail"].between(0, 1).all()
    listing = scorer.score_listings(market)[0]
    assert listing.listing_id == market.listings["listing_id"].iloc[0]
    assert set(listing.risks) == {"lab_fail", "counterfeit", "false_advertising", "merchant_complaint"}

    # the same model through the MLflow URI and through plain pyfunc
    by_uri = load_scorer("models:/choujian-listing@champion")
    pd.testing.assert_frame_equal(by_uri.score_frame(market), frame)
    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model("models:/choujian-listing@champion")
    # every table: a listing's merchant's lab results are part of its record (serving.context, features)
    tables = {
        "merchants": market.merchants,
        "listings": market.listings,
        "reviews": market.reviews,
        "lab_results": market.lab_results,
    }
    tables = {k: v.astype({c: str for c in v.columns if "date" in c}) for k, v in tables.items()}
    via_pyfunc = pyfunc.predict(tables)
    np.testing.assert_allclose(via_pyfunc["p_lab_fail"].to_numpy(), frame["p_lab_fail"].to_numpy())

    report_path = tmp_path / "reports" / "evaluation.json"
    out = _ok(runner.invoke(app, ["evaluate", "--data", str(data), "--out", str(report_path), "--model", "champion"]))
    report = json.loads(report_path.read_text(encoding="utf-8"))
    for key in ("accuracy", "baseline_accuracy", "n_test"):
        assert key in report["review"]
    for share in ("0.01", "0.05", "0.1"):
        row = report["ranking"][share]
        for method in ("random", "rules", "tfidf_lr", "lightgbm", "lightgbm_transformer", "oracle"):
            assert 0.0 <= row[method] <= 1.0, (share, method)
        assert "captured_lift" in row
        assert row["oracle"] >= row["random"]
    assert report["data"]["n_holdout"] > 0 and report["data"]["same_data_as_training"]
    assert set(report["methods"]) >= {"lightgbm", "tfidf_lr", "oracle"}
    assert report["by_category"] and report["weighting"]["used"] == "ipw"
    for name in report["plots"].values():
        assert (report_path.parent / name).stat().st_size > 1000
