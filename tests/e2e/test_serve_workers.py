"""`choujian serve --workers 2`: the model is loaded once in the parent, two forked workers answer, and a
listing scored through them gets the in-process scores exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from features.market import load_market, to_json_records
from features.records import Listing, Merchant, Review
from tests.support.server import serve

pytestmark = pytest.mark.slow


def test_forked_workers_share_one_model_and_score_like_in_process(
    tiny_trained: tuple[Path, Any], tmp_path: Path
) -> None:
    from serving import store
    from serving.db import make_engine, make_sessionmaker
    from serving.runtime import LoadedModel, describe
    from serving.service import score_records
    from serving.settings import Settings

    market_dir, bundle = tiny_trained
    bundle_dir = bundle.save(tmp_path / "bundle")
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(db)
    store.upgrade(engine)
    with make_sessionmaker(engine)() as s:
        key = store.create_key(s, role="platform")[1]
    engine.dispose()

    env = {
        "CHOUJIAN_DATABASE_URL": db,
        "CHOUJIAN_MARKET_DIR": str(market_dir),
        "CHOUJIAN_MODEL_URI": str(bundle_dir),
        "CHOUJIAN_ENVIRONMENT": "development",
        "CHOUJIAN_SECRET_KEY": "x" * 32,
    }
    with serve(env, ["--workers", "2"]) as (base, pid), httpx.Client(base_url=base, timeout=30) as client:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            assert len(children.read_text().split()) == 2

        loaded = load_market(market_dir)
        got: list[dict[str, Any]] = []
        listings = to_json_records(loaded.listings.head(12))
        merchants = {m["merchant_id"]: m for m in to_json_records(loaded.merchants)}
        reviews = to_json_records(loaded.reviews)
        for row in listings:
            body = {
                "listing": row,
                "merchant": merchants[row["merchant_id"]],
                "reviews": [r for r in reviews if r["listing_id"] == row["listing_id"]],
            }
            r = client.post("/v1/score/listing", json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
            got.append(r.json()["result"])

    settings = Settings(environment="test", database_url="sqlite://", market_dir=market_dir, secret_key="x" * 32)
    model = LoadedModel(scorer=bundle, info=describe(bundle, source="test", alias=None))
    for row, res in zip(listings, got, strict=True):
        [want] = score_records(
            model,
            settings,
            merchants=[Merchant(**merchants[row["merchant_id"]])],
            listings=[Listing(**row)],
            reviews=[Review(**r) for r in reviews if r["listing_id"] == row["listing_id"]],
        )
        assert {k: v["probability"] for k, v in res["risks"].items()} == {
            k: v.probability for k, v in want.risks.items()
        }
