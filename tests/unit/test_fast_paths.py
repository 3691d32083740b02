"""Shortcuts taken for speed compute exactly what the plain pandas / scikit-learn code computes.

Each test here pins one shortcut in the scoring path against the general formula it replaces, on
inputs chosen to reach the corners (missing values, negative differences, empty rows, odd dtypes).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.frames import str_ids
from features.market import _date_column
from features.transformers import _days


def test_days_equals_pandas_day_difference() -> None:
    rng = np.random.default_rng(0)
    # dates around the reference, before and after it, at odd times of day, with missing ones
    when = pd.Series(pd.to_datetime(rng.integers(-(10**18), 2 * 10**18, 5_000)), index=rng.permutation(5_000))
    when.iloc[::7] = pd.NaT
    for as_of in (pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-01 13:17:05.000000123")):
        expected = np.asarray((as_of - when.reset_index(drop=True)).dt.days, dtype=np.float64)
        got = _days(as_of, when)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
    # a day before and a nanosecond before the reference: floor, as Timedelta.days
    near = pd.Series(
        pd.to_datetime(["2025-03-02", "2025-03-01 00:00:00.000000001", "2025-02-28 23:59:59"], format="ISO8601")
    )
    np.testing.assert_array_equal(_days(pd.Timestamp("2025-03-01"), near), [-1.0, -1.0, 0.0])
    assert _days(pd.Timestamp("2025-03-01"), pd.Series([], dtype="datetime64[ns]")).shape == (0,)
    assert np.isnan(_days(pd.Timestamp("2025-03-01"), pd.Series([pd.NaT], dtype="datetime64[ns]"))).all()


def test_days_far_from_the_reference_falls_back_to_pandas() -> None:
    # 1680 to 2025 is more nanoseconds than int64 holds: pandas' own arithmetic decides (it refuses)
    when = pd.Series(pd.to_datetime(["1680-01-01", "2020-01-01"]))
    try:
        expected: object = np.asarray((pd.Timestamp("2025-01-01") - when).dt.days, dtype=np.float64)
    except OverflowError as e:
        expected = type(e)
    try:
        got: object = _days(pd.Timestamp("2025-01-01"), when)
    except OverflowError as e:
        got = type(e)
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected)  # type: ignore[arg-type]
    else:
        assert got is expected


def _to_datetime_or_error(values: list[Any]) -> Any:
    try:
        return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy()
    except (ValueError, OverflowError) as e:
        return type(e)


def _date_column_or_error(values: list[Any]) -> Any:
    try:
        return np.asarray(_date_column(values))
    except (ValueError, OverflowError) as e:
        return type(e)


@pytest.mark.parametrize(
    "values",
    [
        [date(2024, 2, 29)],
        [date(2024, 1, 1), date(1999, 12, 31), date(2024, 1, 1)],
        [date(1677, 9, 22), date(2262, 4, 11)],  # the first and last whole days pandas holds
        [date(1677, 9, 21)],  # out of range: pandas refuses
        [date(2262, 4, 12)],
        [date(1500, 1, 1), date(2000, 1, 1)],
        [datetime(2024, 1, 1, 13, 30)],  # a datetime is a date too: pandas keeps its time
        [date(2024, 1, 1), None],
        ["2024-01-01"],
        [date(2000, 1, 1) + timedelta(days=37 * i) for i in range(200)],  # long: pandas' own path
    ],
)
def test_date_column_equals_pandas_to_datetime(values: list[Any]) -> None:
    expected, got = _to_datetime_or_error(values), _date_column_or_error(values)
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype == np.dtype("datetime64[ns]")
        np.testing.assert_array_equal(got, expected)
    else:
        assert got is expected


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["L1", "L2", "商品3"]),
        pd.Series(["L1", 2, None, float("nan")], dtype=object),  # not all str: pandas' astype
        pd.Series([1, 2, 3]),
        pd.Series([1.5, float("nan")]),
        pd.Series([], dtype=object),
        pd.Series([f"L{i}" for i in range(200)]),  # long: pandas' astype
    ],
)
def test_str_ids_equal_astype_str(values: pd.Series) -> None:
    got = str_ids(values)
    expected = values.astype(str).to_numpy(dtype=object)
    assert got.dtype == object
    assert got.tolist() == expected.tolist()
    assert [type(v) for v in got] == [type(v) for v in expected]
