"""The service on the team's real scorer bundle, loaded from a real MLflow registry alias."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from features.market import load_market

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, tiny_trained: tuple[Path, Any]) -> Iterator[Any]:
    """A private MLflow registry holding the tiny bundle as version 1 with the alias champion."""
    import mlflow

    from training import registry as reg

    mp = pytest.MonkeyPatch()
    d = tmp_path_factory.mktemp("mlflow")
    mp.setenv("CHOUJIAN_MLFLOW_URI", f"sqlite:///{d / 'mlflow.db'}")
    mp.setenv("CHOUJIAN_MLFLOW_ARTIFACTS", str(d / "artifacts"))
    reg.configure()
    reg.ensure_experiment("serving-test")
    with mlflow.start_run():
        mlflow.log_metric("holdout_pr_auc_lab_fail", 0.42)
        reg.log_bundle(tiny_trained[1], alias="champion")
    yield reg
    mp.undo()


@pytest.fixture(scope="module")
def served(registry: Any, tiny_trained: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from serving import store
    from serving.app import create_app
    from serving.settings import Settings

    db = tmp_path_factory.mktemp("db") / "store.db"
    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{db}",
        market_dir=tiny_trained[0],
        secret_key=SecretStr("x" * 32),
        warm_market_on_start=False,
    )
    app = create_app(settings)  # the real loader: models:/choujian-listing@champion
    with TestClient(app) as client:
        with app.state.sessions() as s:
            keys = {role: store.create_key(s, role=role)[1] for role in ("platform", "planner", "admin")}
        yield client, {role: {"Authorization": f"Bearer {k}"} for role, k in keys.items()}


def _records(market_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A real listing without claims in its title, and its merchant, as JSON records."""
    m = load_market(market_dir)
    listings = m.listings[~m.listings["title"].str.contains("国家级|根治|最")]
    row = listings.iloc[0].to_dict()
    merchant = m.merchants.set_index("merchant_id").loc[row["merchant_id"]].to_dict()
    listing = {str(k): (v.date().isoformat() if hasattr(v, "date") else v) for k, v in row.items()}
    merchant = {
        "merchant_id": row["merchant_id"],
        **{k: (v.date().isoformat() if hasattr(v, "date") else v) for k, v in merchant.items()},
    }
    return listing, {k: v for k, v in merchant.items() if v is not None}


def test_model_info_from_the_registry(served: Any) -> None:
    client, h = served
    info = client.get("/v1/model", headers=h["platform"]).json()
    assert info["name"] == "choujian-listing" and info["version"] == "1" and info["alias"] == "champion"
    assert info["source"] == "models:/choujian-listing@champion"
    assert info["metrics"]["holdout_pr_auc_lab_fail"] == 0.42 and info["trained_at"]
    assert client.get("/readyz").json()["model_version"] == "1"


def test_claims_raise_false_advertising_with_spans(served: Any, tiny_trained: tuple[Path, Any]) -> None:
    client, h = served
    listing, merchant = _records(tiny_trained[0])
    twin = {**listing, "listing_id": listing["listing_id"] + "-x", "title": "国家级 " + listing["title"] + " 根治"}
    body = {"listings": [listing, twin], "merchants": [merchant], "reviews": []}
    r = client.post("/v1/score/batch", json=body, headers=h["platform"])
    assert r.status_code == 200, r.text
    clean, bad = r.json()["results"]
    # claim counts are monotone features of the false-advertising model: a claim can never lower the risk.
    # (How much it raises it is model quality, tested in tests/model on the full model; the tiny model
    # here is fitted on 10 positive labels and may not use the feature at all.)
    assert bad["risks"]["false_advertising"]["probability"] >= clean["risks"]["false_advertising"]["probability"]
    title = twin["title"]
    spans = [e for e in bad["evidence"] if e["field"] == "title"]
    for phrase in ("国家级", "根治"):
        hit = [e for e in spans if e["text"] == phrase]
        assert hit, spans
        assert all(title[e["start"] : e["end"]] == phrase for e in hit)
    # the API gives exactly the in-process numbers
    from features import records
    from serving.runtime import market_from_records

    market = market_from_records(
        merchants=[records.Merchant(**merchant)],
        listings=[records.Listing(**listing), records.Listing(**twin)],
        reviews=[],
    )
    local = tiny_trained[1].score_listings(market, top_reasons=3)
    for api_score, mine in zip((clean, bad), local, strict=True):
        assert {k: v["probability"] for k, v in api_score["risks"].items()} == {
            k: v.probability for k, v in mine.risks.items()
        }
        assert api_score["evidence"] == [e.model_dump() for e in mine.evidence]


def test_plan_on_the_real_model(served: Any) -> None:
    client, h = served
    r = client.post(
        "/v1/plans", json={"budget": 20000, "epsilon": 0.3, "per_merchant_cap": 2, "seed": 1}, headers=h["planner"]
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["model"]["version"] == "1" and plan["spent"] <= 20000
    targeted = [t for t in plan["targets"] if t["arm"] == "targeted"]
    assert targeted and any(t["reasons"] for t in targeted)
    # targets come in order of expected failures per yuan
    keys = [t["p_fail"] / t["cost"] for t in targeted]
    assert keys == sorted(keys, reverse=True)


def test_hot_reload_follows_the_alias(served: Any, registry: Any, tiny_trained: tuple[Path, Any]) -> None:
    import mlflow

    client, h = served
    with mlflow.start_run():
        registry.log_bundle(tiny_trained[1], alias="champion")
    r = client.post("/v1/admin/model/reload", headers=h["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "2" and client.get("/v1/model", headers=h["planner"]).json()["version"] == "2"
    assert 'choujian_model_info{name="choujian-listing",version="2"} 1.0' in client.get("/metrics").text
