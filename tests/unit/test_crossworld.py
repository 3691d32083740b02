"""The cross-world report: every world pair and ablation, metrics in range, and the CLI writes the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from features.market import Market
from training.config import load_config
from training.crossworld import ABLATIONS, _keep, cross_world_report, ranking_metrics

TINY = Path(__file__).parents[2] / "configs" / "train-tiny.yaml"


def test_ablation_drops_only_its_prefixes() -> None:
    names = ["merchant__lab_fails", "text__title_counterfeit_cue_hits", "text__title_len", "reviews__n"]
    assert _keep(names, ABLATIONS["no_merchant"]).tolist() == [False, True, True, True]
    assert _keep(names, ABLATIONS["no_lexicon"]).tolist() == [True, False, True, True]
    assert _keep(names, ABLATIONS["full"]).all()


def test_ranking_metrics_oracle_and_random() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(float)
    perfect = ranking_metrics(p, y, p, seed=0)
    assert perfect["expected_captured_lift_0.05"] == pytest.approx(1.0)
    assert perfect["captured_lift_0.05"] == pytest.approx(1.0)
    noise = ranking_metrics(rng.random(2000), y, p, seed=0)
    assert abs(noise["expected_captured_lift_0.1"] or 0.0) < 0.3
    assert 0.4 < (noise["auc"] or 0.0) < 0.6


def test_cross_world_report_covers_every_pair() -> None:
    cfg = load_config(TINY)
    report = cross_world_report(
        cfg, merchants=80, listings=1500, seeds=(1,), ablations=("full", "no_merchant"), progress=lambda _m: None
    )
    for ab in ("full", "no_merchant"):
        for tr in ("a", "b"):
            for te in ("a", "b"):
                cell = report["matrix"][ab][tr][te]
                assert 0.0 <= cell["auc"] <= 1.0
                assert set(cell) >= {"captured_lift_0.01", "captured_lift_0.05", "captured_lift_0.1", "pr_auc"}
    assert report["setup"]["transformer"] is False


def test_cross_world_command_writes_json(tmp_path: Path) -> None:
    from cli.main import app

    out = tmp_path / "cw.json"
    res = CliRunner().invoke(
        app,
        ["cross-world", "--config", str(TINY), "--merchants", "60", "--listings", "1000", "--seeds", "2",
         "--ablations", "full", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["matrix"]["full"]) == {"a", "b"}


def test_simulate_world_command_writes_a_loadable_market(tmp_path: Path) -> None:
    from cli.main import app
    from features.market import load_market

    res = CliRunner().invoke(
        app, ["simulate-world", "--world", "b", "--merchants", "30", "--listings", "300", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert len(load_market(tmp_path).listings) == 300
    assert json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["world"] == "market_b"


def test_every_ablation_drops_real_features_and_only_its_own(feature_market: Market) -> None:
    import features

    cfg = features.FeatureConfig(text_min_df=1, pooled=True, relative_price=True, text_risk=True)
    names = [
        str(n) for n in features.build_pipeline(cfg).fit(features.listing_frame(feature_market)).get_feature_names_out()
    ]
    for ab in ABLATIONS:
        if ab != "full":  # a prefix that matches no feature would be an ablation that silently does nothing
            for prefix in ABLATIONS[ab]:
                assert any(n.startswith(prefix) for n in names), (ab, prefix)
    kept = [n for n, k in zip(names, _keep(names, ABLATIONS["no_review_model"]), strict=True) if k]
    assert "reviews__mean_rating" in kept and "reviews__n_fake_mentions" in kept
    assert "reviews__mean_complaint_p" not in kept and "reviews__share_negative" not in kept
    kept = [n for n, k in zip(names, _keep(names, ABLATIONS["no_identity"]), strict=True) if k]
    assert not [n for n in kept if n.startswith("merchant__") or n.startswith("pool__identity_")]
    assert "pool__brand_rate_lab_fail" in kept


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--world-ablations", "full,no_such_thing"], "--world-ablations"),
        (["--world-seeds", "seven"], "--world-seeds"),
    ],
)
def test_bad_cross_world_options_are_one_line(tmp_path: Path, args: list[str], names: str) -> None:
    from cli.main import app

    res = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path), "--no-mlflow", "--cross-world", *args])
    assert res.exit_code == 2
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and names in lines[0]
