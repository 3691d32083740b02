"""Drift on `/v1/model` and the overview page: the tiny bundle's training profile against the market the
service holds; the same market shows no drift, a deliberately shifted one warns and names what moved."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.market import load_market
from models.drift import PROFILE_KEY
from serving.runtime import LoadedModel, describe
from tests.serving.conftest import running_app

pytestmark = pytest.mark.slow


def _bundle_loader(bundle: Any) -> Any:
    def load() -> LoadedModel:
        return LoadedModel(scorer=bundle, info=describe(bundle, source="tests:tiny", alias="champion"))

    return load


def _drift(api: Any) -> dict[str, Any]:
    """`/v1/model`'s drift section, once it is no longer being computed in the background."""
    for _ in range(200):
        r = api.client.get("/v1/model", headers=api.as_("platform"))
        assert r.status_code == 200, r.text
        if r.json()["drift"]["status"] != "computing":
            return dict(r.json()["drift"])
        time.sleep(0.05)
    raise AssertionError("drift still computing after 10 s")


def _login(c: TestClient, key: str) -> None:
    page = c.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    assert c.post("/web/login", data={"api_key": key, "csrf_token": token.group(1)}).status_code == 200


def test_a_trained_bundle_carries_its_training_profile(tiny_trained: tuple[Path, Any]) -> None:
    profile = tiny_trained[1].metadata[PROFILE_KEY]
    columns = set(profile["columns"])
    assert {"p_lab_fail", "p_counterfeit", "p_false_advertising", "p_merchant_complaint"} <= columns
    assert {"price", "review_count", "merchant_age_days", "claim_hits"} <= columns
    assert profile["n_listings"] == len(load_market(tiny_trained[0]).listings)
    assert profile["categories"], "per-category bins"


def test_model_info_reports_no_drift_on_the_training_market(db_url: str, tiny_trained: tuple[Path, Any]) -> None:
    market_dir, bundle = tiny_trained
    with running_app(db_url, market_dir, loader=_bundle_loader(bundle), drift_min_listings=50) as api:
        before = _drift(api)
        assert before["status"] == "not_scored" and before["report"] is None  # /v1/model never scores it
        api.app.state.market.get(api.app.state.models.current)  # what a plan or the overview does
        first = api.client.get("/v1/model", headers=api.as_("platform")).json()["drift"]
        assert first["status"] == "computing"  # never computed in the request
        d = _drift(api)
        assert d["status"] == "ok", d["message"]
        assert d["market_fingerprint"] and d["report"]["psi"]["p_lab_fail"] == 0.0
        assert max(d["report"]["psi"].values()) < 0.01 and not d["report"]["warning"]
        assert d["report"]["worst_categories"], "categories with at least 50 listings are compared"
        assert _drift(api) == d  # cached per (model version, market)


def test_a_shifted_market_warns_on_the_api_and_the_overview(
    db_url: str, tiny_trained: tuple[Path, Any], tmp_path: Path
) -> None:
    market_dir, bundle = tiny_trained
    shifted = tmp_path / "shifted"
    shutil.copytree(market_dir, shifted)
    market = load_market(shifted)
    market.listings["price"] = market.listings["price"] * 8  # a deliberately moved market: prices up eightfold
    market.write(shifted)
    with running_app(db_url, shifted, loader=_bundle_loader(bundle), drift_psi_warn=0.25) as api:
        _login(api.client, api.keys["planner"])
        page = api.client.get("/web/")
        assert page.status_code == 200
        assert 'data-testid="drift-warning"' in page.text and "price" in page.text
        d = _drift(api)  # the overview scored the market: the API reads the same cached drift
        assert d["status"] == "warning" and d["report"]["threshold"] == 0.25
        assert "price" in d["report"]["drifted"] and d["report"]["psi"]["price"] > 0.25
        assert "price" in d["message"]


def test_a_model_without_a_profile_says_so(api: Any) -> None:
    d = _drift(api)  # the rules scorer: no training profile
    assert d["status"] == "no_profile" and "no training profile" in d["message"]
    _login(api.client, api.keys["planner"])
    assert 'data-testid="drift-none"' in api.client.get("/web/").text
