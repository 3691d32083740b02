"""Skew test: the same records scored through the HTTP API, through `choujian score-batch` (pandas
engine) and in-process give identical scores, for every risk and every listing.

The Spark engine is compared with the pandas engine row for row in the batch scoring tests
(tests/e2e/test_batch.py), which closes the loop API = in-process = pandas = Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from cli.main import app as cli_app
from features.market import Market, load_market, to_json_records
from models.contract import RISKS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tiny_trained: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """The session's simulated market on disk and the real tiny bundle trained on it, saved as a bundle folder."""
    market_dir, bundle = tiny_trained
    bundle_dir = bundle.save(tmp_path_factory.mktemp("skew-bundle") / "bundle")
    return market_dir, bundle_dir, bundle


def _merchant_batches(market: Market, limit: int = 1000) -> Iterator[list[str]]:
    """Listing ids in batches of whole merchants (merchant features summarise the merchant's listings)."""
    batch: list[str] = []
    for _, ids in market.listings.groupby("merchant_id", sort=False)["listing_id"]:
        if batch and len(batch) + len(ids) > limit:
            yield batch
            batch = []
        batch.extend(ids.astype(str))
    if batch:
        yield batch


def _api_scores(market_dir: Path, bundle_dir: Path, tmp_path: Path) -> pd.DataFrame:
    from serving import store
    from serving.app import create_app
    from serving.settings import Settings

    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{tmp_path / 'skew.db'}",
        market_dir=market_dir,
        secret_key=SecretStr("x" * 32),
        model_uri=str(bundle_dir),
        warm_market_on_start=False,
    )
    market = load_market(market_dir)
    rows: list[dict[str, Any]] = []
    app = create_app(settings)  # the real loader, here from a local bundle folder
    with TestClient(app) as client:
        with app.state.sessions() as s:
            h = {"Authorization": f"Bearer {store.create_key(s, role='platform')[1]}"}
        for ids in _merchant_batches(market):
            lst = market.listings[market.listings["listing_id"].isin(ids)]
            body = {
                "listings": to_json_records(lst),
                "merchants": to_json_records(
                    market.merchants[market.merchants["merchant_id"].isin(lst["merchant_id"])]
                ),
                "reviews": to_json_records(market.reviews[market.reviews["listing_id"].isin(ids)]),
                "lab_results": to_json_records(market.lab_results[market.lab_results["listing_id"].isin(ids)]),
            }
            r = client.post("/v1/score/batch", json=body, headers=h)
            assert r.status_code == 200, r.text[:500]
            for res in r.json()["results"]:
                rows.append(
                    {"listing_id": res["listing_id"], **{f"p_{k}": v["probability"] for k, v in res["risks"].items()}}
                )
    return pd.DataFrame(rows)


def test_api_batch_and_in_process_scores_are_identical(world: tuple[Path, Path, Any], tmp_path: Path) -> None:
    market_dir, bundle_dir, bundle = world
    market = load_market(market_dir)
    cols = ["listing_id", *[f"p_{r}" for r in RISKS]]

    local = bundle.score_frame(market)[cols].sort_values("listing_id").reset_index(drop=True)

    out = tmp_path / "scores.parquet"
    r = CliRunner().invoke(
        cli_app,
        ["score-batch", "--input", str(market_dir), "--output", str(out), "--model", str(bundle_dir)],
    )
    assert r.exit_code == 0, r.output
    batch = pd.read_parquet(out)[cols].sort_values("listing_id").reset_index(drop=True)

    api = _api_scores(market_dir, bundle_dir, tmp_path)[cols].sort_values("listing_id").reset_index(drop=True)

    assert len(local) == len(market.listings) and local["listing_id"].is_unique
    # exact equality: one code path (the bundle's pipelines), and JSON round-trips doubles exactly
    pd.testing.assert_frame_equal(api, local, check_exact=True, check_dtype=False)
    pd.testing.assert_frame_equal(batch, local, check_exact=True, check_dtype=False)
    for risk in RISKS:
        assert local[f"p_{risk}"].std() > 0, f"{risk} is constant: the comparison would prove little"


def test_cli_plan_equals_api_plan(world: tuple[Path, Path, Any], tmp_path: Path) -> None:
    """`choujian plan` and `POST /v1/plans` run one path: for the same market, model, seed and constraints
    they buy the same listings with the same arms, inclusion probabilities and reasons."""
    from serving import store
    from serving.app import create_app
    from serving.settings import Settings

    market_dir, bundle_dir, _ = world
    category = str(load_market(market_dir).listings["category"].value_counts().index[-1])  # the rarest
    out = tmp_path / "plan.csv"
    res = CliRunner().invoke(
        cli_app,
        [
            "plan",
            "--market",
            str(market_dir),
            "--model",
            str(bundle_dir),
            "--budget",
            "60000",
            "--epsilon",
            "0.3",
            "--explore",
            "0.2",
            "--per-merchant-cap",
            "2",
            "--seed",
            "5",
            "--quota",
            f"{category}:min_purchases=3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    cli = pd.read_csv(out, dtype={"listing_id": str, "merchant_id": str}, keep_default_na=False)
    assert (cli["category"] == category).sum() >= 3  # the README's quota syntax binds

    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{tmp_path / 'plan.db'}",
        market_dir=market_dir,
        secret_key=SecretStr("x" * 32),
        model_uri=str(bundle_dir),
        warm_market_on_start=False,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.sessions() as s:
            h = {"Authorization": f"Bearer {store.create_key(s, role='planner')[1]}"}
        body = {
            "budget": 60000,
            "epsilon": 0.3,
            "explore": 0.2,
            "per_merchant_cap": 2,
            "seed": 5,
            "quotas": {category: {"min_purchases": 3}},
        }
        r = client.post("/v1/plans", json=body, headers=h)
    assert r.status_code == 201, r.text
    api = pd.DataFrame(r.json()["targets"])
    assert api["listing_id"].tolist() == cli["listing_id"].tolist()
    assert api["arm"].tolist() == cli["arm"].tolist()
    assert "explore" in api["arm"].tolist()  # the exploration arm takes the same path too
    assert api["inclusion_prob"].tolist() == pytest.approx(cli["inclusion_prob"].tolist(), abs=1e-12)
    assert api["reasons"].map(" | ".join).tolist() == cli["reasons"].tolist()
    assert any(api["reasons"].map(len))  # the reasons are there, not two empty lists


def test_cli_plan_refuses_an_unknown_quota_category_or_key(world: tuple[Path, Path, Any], tmp_path: Path) -> None:
    market_dir, bundle_dir, _ = world
    base = ["plan", "--market", str(market_dir), "--model", str(bundle_dir), "--out", str(tmp_path / "p.csv")]
    res = CliRunner().invoke(cli_app, [*base, "--quota", "火星特产:min_purchases=1"])
    assert res.exit_code == 2 and "火星特产" in res.output
    res = CliRunner().invoke(cli_app, [*base, "--quota", "服装:min=1"])
    assert res.exit_code == 2 and "unknown key 'min'" in res.output
