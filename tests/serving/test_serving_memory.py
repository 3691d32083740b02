"""Scoring with memory: a request naming a merchant the store knows is scored with the store's records of it
(`serving.context`), on SQLite and PostgreSQL; an unknown merchant scores exactly as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.market import Market, load_market, records_frame, to_json_records
from features.records import LabResult
from serving import market_store
from serving.runtime import LoadedModel, describe


def _loader(bundle: Any) -> Any:
    return lambda: LoadedModel(scorer=bundle, info=describe(bundle, source="test", alias=None))


def _ingest(app: Any, frames: market_store.MarketFrames) -> None:
    with app.state.sessions() as s:
        market_store.ingest(s, frames, source="cli")
        s.commit()


def _body(market: Market, lid: str) -> dict[str, Any]:
    listing = market.listings[market.listings["listing_id"] == lid]
    mid = listing["merchant_id"].iat[0]
    return {
        "listing": to_json_records(listing)[0],
        "merchant": to_json_records(market.merchants[market.merchants["merchant_id"] == mid])[0],
    }


def _probs(result: dict[str, Any]) -> dict[str, float]:
    return {k: v["probability"] for k, v in result["risks"].items()}


@pytest.fixture
def stored(start_app: Any, tiny_trained: tuple[Path, Any]) -> Any:
    market_dir, bundle = tiny_trained
    with start_app(loader=_loader(bundle)) as api:
        _ingest(api.app, market_store.MarketFrames.of(load_market(market_dir)))
        yield api, load_market(market_dir), bundle


def test_a_stored_merchants_new_failed_lab_results_reach_its_listings_scores(stored: Any) -> None:
    api, market, bundle = stored
    sizes = market.listings["merchant_id"].value_counts()
    mid = str(sizes.index[0])
    ids = market.listings.loc[market.listings["merchant_id"] == mid, "listing_id"].astype(str).tolist()
    tested, scored = ids[0], ids[1:]
    h = api.as_("platform")
    before = {}
    for lid in scored:
        r = api.client.post("/v1/score/listing", json=_body(market, lid), headers=h)
        assert r.status_code == 200, r.text
        ctx = r.json()["result"]["context"]
        assert ctx["merchant_known"] and ctx["stored_listings"] == len(ids) - 1
        before[lid] = (_probs(r.json()["result"]), ctx)
    # the store gains failed lab results for the merchant (ingested, as a platform or a lab would push them)
    new = [
        LabResult(listing_id=tested, sampled_date=f"2030-01-0{i + 1}", plan_id=f"P-new-{i}", verdict="fail",
                  failure_types=["counterfeit", "quality"], cost=100.0, inclusion_prob=0.5)
        for i in range(4)
    ]  # fmt: skip
    _ingest(api.app, market_store.MarketFrames(tables={"lab_results": records_frame(new, "lab_results", source="t")}))
    moved = 0
    for lid in scored:
        r = api.client.post("/v1/score/listing", json=_body(market, lid), headers=h)
        result = r.json()["result"]
        ctx, (p0, ctx0) = result["context"], before[lid]
        assert ctx["stored_lab_results"] == ctx0["stored_lab_results"] + 4
        assert ctx["stored_lab_failures"] == ctx0["stored_lab_failures"] + 4
        moved += _probs(result) != p0
    assert moved, "no listing of the merchant moved with four new failed lab results"
    # through the features, not by hand: the identity's lab failures rose by four in the pipeline's own columns
    names = [str(n) for n in bundle.listing_pipeline.get_feature_names_out()]
    col = names.index("merchant__lab_fails")
    lab = pd.concat([market.lab_results, records_frame(new, "lab_results", source="t")], ignore_index=True)
    _, x0 = bundle.listing_features(market, only=[scored[0]])
    _, x1 = bundle.listing_features(Market(market.merchants, market.listings, market.reviews, lab), only=[scored[0]])
    assert x1[0, col] == x0[0, col] + 4


def test_an_unknown_merchant_scores_as_before_and_the_switch_turns_memory_off(
    start_app: Any, tiny_trained: tuple[Path, Any]
) -> None:
    market_dir, bundle = tiny_trained
    market = load_market(market_dir)
    lid = str(market.listings["listing_id"].iat[0])
    body = _body(market, lid)
    with start_app(loader=_loader(bundle), score_with_store=False) as api:
        _ingest(api.app, market_store.MarketFrames.of(load_market(market_dir)))
        off = api.client.post("/v1/score/listing", json=body, headers=api.as_("platform")).json()["result"]
    assert off["context"] is None
    stranger = {
        "listing": {**body["listing"], "listing_id": "ZZ-1", "merchant_id": "ZZ"},
        "merchant": {**body["merchant"], "merchant_id": "ZZ"},
    }
    with start_app(loader=_loader(bundle)) as api:
        h = api.as_("platform")
        plain = api.client.post("/v1/score/listing", json=stranger, headers=h).json()["result"]  # empty store
        _ingest(api.app, market_store.MarketFrames.of(load_market(market_dir)))
        r = api.client.post("/v1/score/listing", json=stranger, headers=h)
        assert r.status_code == 200, r.text
        got = r.json()["result"]
        batch = api.client.post(
            "/v1/score/batch",
            json={"listings": [stranger["listing"]], "merchants": [stranger["merchant"]]},
            headers=h,
        ).json()["results"][0]
    assert got["context"]["merchant_known"] is False and got["context"]["stored_listings"] == 0
    assert {k: v for k, v in got.items() if k != "context"} == {k: v for k, v in plain.items() if k != "context"}
    assert _probs(batch) == _probs(got)


def test_the_body_wins_over_the_store_and_merchant_risk_uses_the_stored_listings(stored: Any) -> None:
    api, market, _ = stored
    h = api.as_("platform")
    mid = str(market.listings["merchant_id"].value_counts().index[0])
    lid = str(market.listings.loc[market.listings["merchant_id"] == mid, "listing_id"].iat[0])
    body = _body(market, lid)
    stored_price = api.client.post("/v1/score/listing", json=body, headers=h).json()["result"]
    body["listing"]["price"] = body["listing"]["price"] * 50
    changed = api.client.post("/v1/score/listing", json=body, headers=h).json()["result"]
    assert changed["context"]["stored_listings"] == stored_price["context"]["stored_listings"]  # not counted twice
    assert _probs(changed) != _probs(stored_price)  # the body's price, not the stored one
    r = api.client.post(
        "/v1/merchants/risk", json={"merchant": body["merchant"], "listings": [body["listing"]]}, headers=h
    )
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    n = int((market.listings["merchant_id"] == mid).sum())
    assert res["n_listings"] == n and res["context"]["stored_listings"] == n - 1


def _requests(market: Market) -> list[dict[str, Any]]:
    """Single-listing requests of several stored merchants, with the cases that could leak between requests read
    together: one sends its listing's reviews, one its lab results, one names a stranger, and one moves a listing
    the store holds under the first merchant to its own merchant."""
    from features.records import Listing, Merchant, Review

    shops = [str(m) for m in market.listings["merchant_id"].value_counts().index[:6]]
    out = []
    for mid in shops:
        lid = str(market.listings.loc[market.listings["merchant_id"] == mid, "listing_id"].iat[0])
        b = _body(market, lid)
        out.append({"merchant": Merchant(**b["merchant"]), "listing": Listing(**b["listing"])})
    first = out[0]
    rv = market.reviews[market.reviews["listing_id"] == first["listing"].listing_id]
    first["reviews"] = [Review(**r) for r in to_json_records(rv.head(2))]
    lab = LabResult(listing_id=out[1]["listing"].listing_id, sampled_date="2030-02-01", plan_id="P-body",
                    verdict="pass", failure_types=[], cost=100.0, inclusion_prob=0.5)  # fmt: skip
    out[1]["lab_results"] = [lab]
    taken = market.listings.loc[market.listings["merchant_id"] == shops[0], "listing_id"].astype(str).iat[1]
    out[2]["listing"] = out[2]["listing"].model_copy(
        update={"listing_id": taken, "merchant_id": out[2]["merchant"].merchant_id}
    )
    stranger = out[3]["merchant"].model_copy(update={"merchant_id": "ZZ"})
    out.append(
        {
            "merchant": stranger,
            "listing": out[3]["listing"].model_copy(update={"listing_id": "ZZ-1", "merchant_id": "ZZ"}),
        }
    )
    return out


def test_requests_read_together_get_each_its_own_stored_context(stored: Any) -> None:
    from serving.context import ContextQuery, read_contexts

    api, market, _ = stored
    reqs = _requests(market)
    queries = [
        ContextQuery([r["merchant"]], [r["listing"]], r.get("reviews", ()), r.get("lab_results", ())) for r in reqs
    ]
    together = read_contexts(api.app.state.readers, queries)
    alone = [read_contexts(api.app.state.readers, [q])[0] for q in queries]
    assert together == alone
    assert together[0].listings and together[0].reviews and together[1].lab_results
    taken = reqs[2]["listing"].listing_id
    assert taken in together[0].listing_ids  # still the first merchant's stored listing, for its own request


def test_the_batcher_scores_requests_with_their_stored_records_as_each_alone(stored: Any) -> None:
    import asyncio

    from serving.batcher import ScoreBatcher
    from serving.context import read_context, read_contexts
    from serving.service import score_records

    api, market, _ = stored
    model, settings, readers = api.app.state.models.current, api.settings, api.app.state.readers
    reqs = _requests(market)
    batcher = ScoreBatcher(score_records, settings, contexts=lambda qs: read_contexts(readers, qs))

    async def together() -> list[Any]:
        return await asyncio.gather(*(batcher.score_one(model, **r) for r in reqs))

    got = asyncio.run(together())
    alone = []
    for r in reqs:
        kw = {"merchants": [r["merchant"]], "listings": [r["listing"]], "reviews": r.get("reviews", ()),
              "lab_results": r.get("lab_results", ())}  # fmt: skip
        context = read_context(readers, enabled=True, **kw)
        alone.append(score_records(model, settings, context=context, **kw)[0])
    assert [g.model_dump() for g in got] == [a.model_dump() for a in alone]
    assert got[0].context is not None and got[0].context.stored_listings > 0
    assert batcher.calls == 2  # the request that names the first merchant's stored listing waits for a second call
