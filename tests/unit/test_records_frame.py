"""Request records become the same typed frames as files do: the service skips the second validation of
records FastAPI already parsed (`records_frame`), and must not change a dtype or a value by it."""

from __future__ import annotations

import pandas as pd
import pytest

from features.market import Market, RecordError, records_frame, to_json_records
from features.records import TABLES, Listing
from serving.runtime import market_from_records


def test_request_records_give_the_loaders_frames(feature_market: Market) -> None:
    parsed = {name: [TABLES[name](**r) for r in to_json_records(getattr(feature_market, name))] for name in TABLES}
    market = market_from_records(
        merchants=parsed["merchants"],
        listings=parsed["listings"],
        reviews=parsed["reviews"],
        lab_results=parsed["lab_results"],
    )
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(market, name), getattr(feature_market, name), check_like=False)


def test_records_frame_keeps_the_table_rules(feature_market: Market) -> None:
    listing = Listing(**to_json_records(feature_market.listings)[0])
    with pytest.raises(RecordError, match="duplicate id"):
        records_frame([listing, listing], "listings", source="request listings")
    with pytest.raises(TypeError, match="row 1 is a Listing, not a Review record"):
        records_frame([listing], "reviews", source="request reviews")


def test_an_empty_table_has_the_loaders_dtypes_and_is_a_fresh_frame() -> None:
    from features.market import _typed

    for name in TABLES:
        first = records_frame([], name, source=name)
        pd.testing.assert_frame_equal(first, _typed([], name, source=name))
        first["extra"] = 1  # a caller changing its frame does not change the next request's
        assert "extra" not in records_frame([], name, source=name).columns


def test_a_bad_row_past_the_first_validation_chunk_is_named_by_its_own_row(feature_market: Market) -> None:
    from features import market as market_module

    reviews = pd.concat([feature_market.reviews] * 3, ignore_index=True)  # several validation chunks
    chunk = 10
    bad = len(reviews) - 5
    assert bad > 2 * chunk
    reviews.loc[bad, "rating"] = 9
    old = market_module._VALIDATE_CHUNK
    market_module._VALIDATE_CHUNK = chunk
    try:
        with pytest.raises(RecordError) as e:
            market_module.validate_frame(reviews, "reviews", source="reviews.csv")
    finally:
        market_module._VALIDATE_CHUNK = old
    assert (e.value.row, e.value.column) == (bad + 1, "rating")
