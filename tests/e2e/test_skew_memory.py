"""Skew with memory: for the same stored state and the same record, the HTTP API (which adds the store's records
of the merchant), `choujian score-batch` on `choujian export` of the store plus that record, and in-process
scoring give identical scores, including after the store gained lab results the model never saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from cli.main import app as cli_app
from features.market import Market, load_market, records_frame, to_json_records
from features.records import LabResult
from models.contract import RISKS

pytestmark = pytest.mark.slow


def test_http_with_the_store_equals_score_batch_on_the_export_and_in_process(
    tiny_market: Market, tiny_bundle: Any, tmp_path: Path
) -> None:
    from serving import market_store, store
    from serving.app import create_app
    from serving.settings import Settings

    market, bundle = tiny_market, tiny_bundle  # the session's (tests/conftest.py)
    bundle_dir = bundle.save(tmp_path / "bundle")
    sizes = market.listings["merchant_id"].value_counts()
    mids = [str(m) for m in sizes.index[:3]]
    ids = market.listings["listing_id"].astype(str)
    first = {m: ids[market.listings["merchant_id"] == m].tolist() for m in mids}
    # results the model never saw: three failures on one listing of each of three merchants
    newer = [
        LabResult(listing_id=first[m][0], sampled_date=f"2030-02-0{i + 1}", plan_id=f"P-later-{m}-{i}", verdict="fail",
                  failure_types=["counterfeit"], cost=50.0, inclusion_prob=0.25)
        for m in mids for i in range(3)
    ]  # fmt: skip
    # one listing the store does not hold, of a stored merchant, sent as its own record only
    fresh = market.listings[market.listings["listing_id"] == first[mids[0]][1]].copy()
    fresh["listing_id"], fresh["title"] = "NEW-1", "全新 正品 蓝牙耳机 国家级品质"
    db = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(
        environment="test", database_url=db, market_dir=tmp_path, secret_key=SecretStr("x" * 32),
        model_uri=str(bundle_dir), warm_market_on_start=False,
    )  # fmt: skip
    app = create_app(settings)
    asked = [first[m][1] for m in mids] + [first[m][2] for m in mids] + ["NEW-1"]
    api: dict[str, dict[str, float]] = {}
    with TestClient(app) as client:
        with app.state.sessions() as s:
            market_store.ingest(s, market_store.MarketFrames.of(market), source="cli")
            lab = records_frame(newer, "lab_results", source="t")
            market_store.ingest(s, market_store.MarketFrames(tables={"lab_results": lab}), source="http")
            s.commit()
            h = {"Authorization": f"Bearer {store.create_key(s, role='platform')[1]}"}
        for lid in asked:
            row = fresh if lid == "NEW-1" else market.listings[market.listings["listing_id"] == lid]
            merchant = market.merchants[market.merchants["merchant_id"] == row["merchant_id"].iat[0]]
            body = {"listing": to_json_records(row)[0], "merchant": to_json_records(merchant)[0]}
            r = client.post("/v1/score/listing", json=body, headers=h)
            assert r.status_code == 200, r.text
            res = r.json()["result"]
            assert res["context"]["merchant_known"] and res["context"]["stored_lab_failures"] >= 1
            api[lid] = {f"p_{k}": v["probability"] for k, v in res["risks"].items()}

    export = tmp_path / "export"
    r = CliRunner().invoke(cli_app, ["export", "--out", str(export), "--database-url", db])
    assert r.exit_code == 0, r.output
    exported = load_market(export)
    with_record = Market(
        exported.merchants, pd.concat([exported.listings, fresh], ignore_index=True), exported.reviews,
        exported.lab_results,
    )  # fmt: skip
    with_record.write(tmp_path / "with-record")
    out = tmp_path / "scores.parquet"
    r = CliRunner().invoke(
        cli_app,
        ["score-batch", "--input", str(tmp_path / "with-record"), "--output", str(out), "--model", str(bundle_dir)],
    )
    assert r.exit_code == 0, r.output
    cols = [f"p_{k}" for k in RISKS]
    batch = pd.read_parquet(out).set_index("listing_id").loc[asked, cols]
    local = bundle.score_frame(with_record).set_index("listing_id").loc[asked, cols]
    http = pd.DataFrame.from_dict(api, orient="index").loc[asked, cols]
    pd.testing.assert_frame_equal(http, local, check_exact=True, check_dtype=False, check_names=False)
    pd.testing.assert_frame_equal(batch, local, check_exact=True, check_dtype=False, check_names=False)
    # and the newer results mattered: without them the merchants' listings score differently
    before = bundle.score_frame(market).set_index("listing_id").loc[asked[:-1], cols]
    assert not before.equals(local.loc[asked[:-1]])
