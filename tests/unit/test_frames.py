"""`features.frames`: the listing and merchant frames do not depend on the tables' row order, and the
short-table sort that single-listing requests take orders rows exactly as pandas does."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import features
from features import frames
from features.frames import _SMALL_SORT, _stable_order
from features.market import Market


def _pandas_order(keys: list[np.ndarray]) -> list[int]:
    frame = pd.DataFrame(dict(enumerate(keys)))
    return frame.sort_values(list(range(len(keys))), kind="stable").index.tolist()


_ids = st.sampled_from(["L1", "L10", "L2", "a", "b"])
_days = st.one_of(st.none(), st.integers(0, 4).map(lambda d: np.datetime64("2024-01-01") + np.timedelta64(d, "D")))
_texts = st.one_of(st.none(), st.sampled_from(["好", "差", "一般", ""]))
_ratings = st.one_of(st.just(float("nan")), st.integers(1, 5).map(float))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ids, _days, _texts, _ratings), max_size=_SMALL_SORT))
def test_short_tables_sort_exactly_as_pandas(rows: list[tuple[str, object, object, float]]) -> None:
    keys = [
        np.array([r[0] for r in rows], dtype=object),
        np.array([np.datetime64("NaT") if r[1] is None else r[1] for r in rows], dtype="datetime64[ns]"),
        np.array([r[2] for r in rows], dtype=object),
        np.array([r[3] for r in rows], dtype=np.float64),
    ]
    if not rows:
        assert _stable_order(keys).tolist() == []
        return
    assert _stable_order(keys).tolist() == _pandas_order(keys)


def test_long_tables_take_pandas_sort_and_mixed_types_fail_as_there() -> None:
    rng = np.random.default_rng(0)
    n = 3 * _SMALL_SORT
    keys = [rng.choice(np.array(["x", "y", "z"], dtype=object), n), rng.integers(0, 3, n)]
    assert _stable_order(keys).tolist() == _pandas_order(keys)
    mixed = [np.array(["a", 1, "b", 2], dtype=object)]  # neither Python nor pandas orders str against int
    with pytest.raises(TypeError):
        _pandas_order(mixed)
    with pytest.raises(TypeError):
        _stable_order(mixed)


def _shuffled(market: Market, seed: int) -> Market:
    def perm(df: pd.DataFrame) -> pd.DataFrame:
        return df.sample(frac=1, random_state=seed).reset_index(drop=True)

    return Market(
        merchants=perm(market.merchants),
        listings=market.listings,
        reviews=perm(market.reviews),
        lab_results=perm(market.lab_results),
    )


@pytest.mark.parametrize("copies", [1, 40])  # few reviews (Python's sort) and more than _SMALL_SORT (pandas')
def test_frames_do_not_depend_on_row_order(feature_market: Market, copies: int) -> None:
    reviews = pd.concat([feature_market.reviews] * copies, ignore_index=True)
    reviews["rating"] = np.resize(np.arange(1, 6), len(reviews))  # ties on date and text, broken by rating
    market = Market(
        merchants=feature_market.merchants,
        listings=feature_market.listings,
        reviews=reviews,
        lab_results=feature_market.lab_results,
    )
    assert len(reviews) > _SMALL_SORT or copies == 1
    base_l, base_m = features.listing_frame(market), features.merchant_frame(market)
    for seed in range(3):
        other = _shuffled(market, seed)
        pd.testing.assert_frame_equal(features.listing_frame(other), base_l)
        pd.testing.assert_frame_equal(
            features.merchant_frame(other).set_index("merchant_id").loc[base_m["merchant_id"]].reset_index(),
            base_m,
        )


def test_a_listing_without_its_merchant_gets_empty_merchant_columns(feature_market: Market) -> None:
    lone = feature_market.listings.iloc[[0]].assign(merchant_id="M-not-here")
    market = Market(
        merchants=feature_market.merchants,
        listings=pd.concat([feature_market.listings, lone.assign(listing_id="L-lone")], ignore_index=True),
        reviews=feature_market.reviews,
        lab_results=feature_market.lab_results,
    )
    frame = features.listing_frame(market).set_index("listing_id")
    assert frame.loc["L-lone", ["shop_name", "merchant_platform"]].isna().all()
    base = features.listing_frame(feature_market).set_index("listing_id")
    # the others keep their merchant and reviews (a gap makes an integer merchant column float)
    pd.testing.assert_frame_equal(frame.drop(index="L-lone"), base, check_dtype=False)


def test_a_repeated_merchant_row_gives_its_first_record(feature_market: Market) -> None:
    first = feature_market.merchants.iloc[[0]]
    again = first.assign(shop_name="后来的店名", opened_date=pd.Timestamp(date(2020, 1, 1)))
    market = Market(
        merchants=pd.concat([feature_market.merchants, again], ignore_index=True),
        listings=feature_market.listings,
        reviews=feature_market.reviews,
        lab_results=feature_market.lab_results,
    )
    pd.testing.assert_frame_equal(features.listing_frame(market), features.listing_frame(feature_market))


def _variants(market: Market) -> dict[str, Market]:
    """Small markets that reach the corners of the frame builders: one merchant, an index that is not 0..n-1,
    a listing whose merchant is absent, a merchant given twice, ids that are not strings, a lab result and a
    review of a listing not in the market, no reviews at all."""
    first = market.merchants["merchant_id"].iloc[0]
    own = market.listings[market.listings["merchant_id"] == first]
    one = Market(
        merchants=market.merchants.iloc[[0]],
        listings=own,
        reviews=market.reviews[market.reviews["listing_id"].isin(own["listing_id"])],
        lab_results=market.lab_results[market.lab_results["listing_id"].isin(own["listing_id"])],
    )
    stray_lab = market.lab_results.iloc[[0]].assign(listing_id="L-gone")
    stray_review = market.reviews.iloc[[0]].assign(listing_id="L-gone")
    return {
        "whole": market,
        "one merchant": one,
        "shifted index": Market(
            merchants=market.merchants.set_axis(range(10, 10 + len(market.merchants))),
            listings=market.listings.iloc[::-1],
            reviews=market.reviews.set_axis(range(5, 5 + len(market.reviews))),
            lab_results=market.lab_results,
        ),
        "absent and repeated merchants": Market(
            merchants=pd.concat([market.merchants.iloc[1:], market.merchants.iloc[[1]]], ignore_index=True),
            listings=market.listings,
            reviews=market.reviews,
            lab_results=market.lab_results,
        ),
        "numeric ids": Market(
            merchants=market.merchants.assign(merchant_id=range(len(market.merchants))),
            listings=market.listings.assign(
                listing_id=range(100, 100 + len(market.listings)),
                merchant_id=[i % len(market.merchants) for i in range(len(market.listings))],
            ),
        ),
        "strays": Market(
            merchants=market.merchants,
            listings=market.listings,
            reviews=pd.concat([market.reviews, stray_review], ignore_index=True),
            lab_results=pd.concat([market.lab_results, stray_lab], ignore_index=True),
        ),
        "no reviews or labs": Market(merchants=market.merchants, listings=market.listings),
    }


_VARIANTS = ("whole", "one merchant", "shifted index", "absent and repeated merchants", "numeric ids", "strays",
             "no reviews or labs")  # fmt: skip


@pytest.mark.parametrize("name", _VARIANTS)
def test_short_tables_build_the_frames_pandas_builds(
    feature_market: Market, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests' few rows are keyed, matched and sorted in plain Python; with that switched off (every table
    "long"), pandas builds exactly the same frames."""
    variants = _variants(feature_market)
    assert set(variants) == set(_VARIANTS)
    market = variants[name]
    assert len(market.listings) <= _SMALL_SORT and len(market.reviews) <= _SMALL_SORT
    short_l, short_m = features.listing_frame(market), features.merchant_frame(market)
    monkeypatch.setattr(frames, "_SMALL_SORT", 0)
    pd.testing.assert_frame_equal(short_l, features.listing_frame(market))
    pd.testing.assert_frame_equal(short_m, features.merchant_frame(market))
