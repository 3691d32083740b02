"""Concurrent single-listing requests scored together give exactly the scores each gets alone."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from features.market import load_market, to_json_records
from features.records import Listing, Merchant, Review
from serving.batcher import ScoreBatcher
from serving.runtime import LoadedModel, describe
from serving.service import RequestProblem, score_records
from serving.settings import Settings
from tests.serving.conftest import make_settings


@pytest.fixture(scope="module")
def setup(tiny_trained: tuple[Path, Any]) -> tuple[LoadedModel, Settings, list[dict[str, Any]]]:
    market_dir, bundle = tiny_trained
    market = load_market(market_dir)
    model = LoadedModel(scorer=bundle, info=describe(bundle, source="test", alias=None))
    settings = make_settings("sqlite://", market_dir)
    # one listing of each of 30 merchants, with its merchant and reviews (lab history too, where it has one)
    firsts = market.listings.drop_duplicates("merchant_id").head(30)
    requests = []
    for row in to_json_records(firsts):
        lid, mid = row["listing_id"], row["merchant_id"]
        requests.append(
            {
                "listing": Listing(**row),
                "merchant": Merchant(**to_json_records(market.merchants[market.merchants.merchant_id == mid])[0]),
                "reviews": [Review(**r) for r in to_json_records(market.reviews[market.reviews.listing_id == lid])],
            }
        )
    return model, settings, requests


def _alone(model: LoadedModel, settings: Settings, req: dict[str, Any]) -> Any:
    [result] = score_records(
        model, settings, merchants=[req["merchant"]], listings=[req["listing"]], reviews=req["reviews"]
    )
    return result


async def _together(batcher: ScoreBatcher, model: LoadedModel, reqs: list[dict[str, Any]]) -> list[Any]:
    return await asyncio.gather(*(batcher.score_one(model, **r) for r in reqs), return_exceptions=True)


def test_requests_waiting_together_get_their_own_scores_exactly(setup: Any) -> None:
    model, settings, reqs = setup
    batcher = ScoreBatcher(score_records, settings, max_batch=8)
    got = asyncio.run(_together(batcher, model, reqs))
    assert [g.model_dump() for g in got] == [_alone(model, settings, r).model_dump() for r in reqs]
    assert batcher.listings == len(reqs) and batcher.calls == 4  # 30 requests in calls of at most 8


def test_requests_naming_the_same_listing_or_merchant_go_into_different_calls(setup: Any) -> None:
    model, settings, reqs = setup
    other_listing = reqs[1]["listing"].model_copy(update={"merchant_id": reqs[0]["merchant"].merchant_id})
    same_merchant = {"merchant": reqs[0]["merchant"], "listing": other_listing, "reviews": []}
    batch = [reqs[0], reqs[0], same_merchant, reqs[2]]
    batcher = ScoreBatcher(score_records, settings)
    got = asyncio.run(_together(batcher, model, batch))
    assert [g.model_dump() for g in got] == [_alone(model, settings, r).model_dump() for r in batch]
    assert batcher.calls == 3  # {0, 2}, then the repeat of 0, then the second listing of 0's merchant


def test_a_bad_request_gets_its_own_error_and_the_others_their_scores(setup: Any) -> None:
    model, settings, reqs = setup
    bad = dict(reqs[3], listing=reqs[3]["listing"].model_copy(update={"listed_date": date(1800, 1, 1)}))
    batch = [reqs[0], bad, reqs[1]]
    got = asyncio.run(_together(ScoreBatcher(score_records, settings), model, batch))
    assert isinstance(got[1], RequestProblem) and got[1].loc == ["body", "listings", 0, "listed_date"]
    assert got[0].model_dump() == _alone(model, settings, reqs[0]).model_dump()
    assert got[2].model_dump() == _alone(model, settings, reqs[1]).model_dump()


def test_the_paced_start_up_scoring_gives_the_scores_of_one_pass(tiny_trained: tuple[Path, Any]) -> None:
    import threading

    from serving.runtime import score_in_chunks

    market_dir, bundle = tiny_trained
    market = load_market(market_dir)
    whole = bundle.score_frame(market)
    chunked = score_in_chunks(bundle, market, pace=0.01, chunk=200)
    assert chunked.equals(whole)
    hurried = threading.Event()
    hurried.set()
    assert score_in_chunks(bundle, market, pace=50.0, hurry=hurried, chunk=200).equals(whole)  # no rests


def test_the_start_up_scoring_in_a_forked_child_gives_the_same_scores(
    tiny_trained: tuple[Path, Any], tmp_path: Path
) -> None:
    """`CHOUJIAN_WARM_ISOLATION`: one worker scores its market in a child at full speed, not in its own
    interpreter; the scores are those of one pass here."""
    import os

    from serving import isolation
    from serving.runtime import MarketCache

    if not isolation.CAN_FORK:
        pytest.skip("no fork on this platform")
    market_dir, bundle = tiny_trained
    whole = bundle.score_frame(load_market(market_dir))
    pids = tmp_path / "pids"

    class Recording:
        """The bundle, noting which process scores with it."""

        def score_frame(self, market: Any) -> Any:
            with pids.open("a") as f:
                f.write(f"{os.getpid()}\n")
            return bundle.score_frame(market)

    model = LoadedModel(scorer=Recording(), info=describe(bundle, source="test", alias=None))  # type: ignore[arg-type]
    got = MarketCache(directory=market_dir).get(model, pace=1.0, forked=True)
    assert got.scores.equals(whole)
    assert [int(p) for p in pids.read_text().split()] != [os.getpid()]  # scored in the child
    pids.unlink()
    here = MarketCache(directory=market_dir).get(model, pace=0.01, forked=False)
    assert here.scores.equals(whole)
    assert os.getpid() in {int(p) for p in pids.read_text().split()}


def test_a_bad_market_file_found_by_the_child_is_the_same_record_error(
    tiny_trained: tuple[Path, Any], tmp_path: Path
) -> None:
    import pandas as pd

    from features.market import RecordError
    from serving.runtime import MarketCache

    market_dir, bundle = tiny_trained
    bad = tmp_path / "market"
    load_market(market_dir).write(bad)
    listings = pd.read_parquet(bad / "listings.parquet")
    listings.loc[3, "price"] = -5.0
    listings.to_parquet(bad / "listings.parquet")
    model = LoadedModel(scorer=bundle, info=describe(bundle, source="test", alias=None))
    with pytest.raises(RecordError, match=r"listings.parquet, row 4, column 'price'"):
        MarketCache(directory=bad).get(model, pace=1.0, forked=True)
