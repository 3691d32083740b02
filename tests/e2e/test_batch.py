"""Batch scoring end to end: the pandas and Spark engines give the same scores as the bundle scoring the
whole market, with the session's real tiny bundle on the tiny market it was fitted on (tests/conftest.py).

Spark tests share one local SparkSession (start-up is 10-20 s on 2 cores). Without Java they skip,
except under CI=true, where a missing Java is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.market import Market, RecordError, load_market, market_chunks
from models.contract import RISKS
from tests.support.tiny import TINY_LISTINGS
from training.batch import OUTPUT_COLUMNS, read_scores, score_pandas
from training.batch.common import check_local_market, publish, temporary_sibling
from training.batch.spark_engine import java_available
from training.simulator import Simulation, write_simulation

ROOT = Path(__file__).resolve().parents[2]
N_LISTINGS = TINY_LISTINGS


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def market_dir(tiny_simulation: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny simulated market in Parquet, as `choujian simulate` writes it (ground truth and manifest too)."""
    out = tmp_path_factory.mktemp("market") / "parquet"
    write_simulation(tiny_simulation, out, fmt="parquet")
    return out


@pytest.fixture(scope="module")
def csv_dir(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same market as CSV files."""
    out = tmp_path_factory.mktemp("market") / "csv"
    load_market(market_dir).write(out, fmt="csv")
    return out


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Any) -> Any:
    """The real scorer bundle, fitted with the tiny test config on that market."""
    return tiny_bundle


@pytest.fixture(scope="module")
def bundle_dir(bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle saved as a local folder, which `--model` accepts."""
    return Path(bundle.save(tmp_path_factory.mktemp("bundle") / "bundle"))


@pytest.fixture(scope="module")
def expected(bundle: Any, market_dir: Path) -> pd.DataFrame:
    """What the bundle gives when it scores the whole market at once (the API's code path)."""
    scores = bundle.score_frame(load_market(market_dir))
    # scores that vary from listing to listing and merchant to merchant, or equality would prove little
    assert scores["p_lab_fail"].nunique() > 100 and scores["p_merchant_complaint"].nunique() > 5
    return scores.loc[:, list(OUTPUT_COLUMNS)].sort_values("listing_id", ignore_index=True)


def _needs_pyspark() -> None:
    """Skip without the `spark` extra; under CI (`make test` installs it) that is a failure."""
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("pyspark is required for the Spark tests in CI: pip install -e '.[dev,spark]'")
        pytest.skip("pyspark is not installed (the spark extra): pip install 'choujian[spark]'")


@pytest.fixture(scope="module")
def spark() -> Any:
    """One local Spark session for the module (2 cores, the engine's own settings)."""
    _needs_pyspark()
    if not java_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Java 17+ is required for the Spark tests in CI (java on PATH or JAVA_HOME)")
        pytest.skip("no Java: the Spark engine cannot run here")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from training.batch.spark_engine import spark_session

    session = spark_session(app_name="choujian-test-batch", cores=2)
    yield session
    session.stop()


def _assert_same_scores(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == ["listing_id", *(f"p_{r}" for r in RISKS)]
    assert got["listing_id"].tolist() == want["listing_id"].tolist()
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=0, atol=1e-9)


def _drop_column(src: Path, dst: Path, table: str, column: str) -> None:
    market = load_market(src)
    setattr(market, table, getattr(market, table).drop(columns=[column]))
    market.write(dst)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


class CountingScorer:
    """The real bundle, plus a log line each time it is unpickled ('load') or asked to score ('score')."""

    def __init__(self, inner: Any, log: Path):
        self.inner, self.log = inner, str(log)
        self.name, self.version = inner.name, inner.version

    def _note(self, what: str, extra: object = "") -> None:
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(f"{what} {os.getpid()} {extra}\n")

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._note("load")

    def score_frame(self, market: Market) -> pd.DataFrame:
        from models.review_cache import current_store_dir

        self._note("score", current_store_dir())  # the review score store this worker would use
        return self.inner.score_frame(market)

    def score_listings(self, market: Market, *, top_reasons: int = 3) -> list[Any]:
        return self.inner.score_listings(market, top_reasons=top_reasons)


# --- pandas engine ----------------------------------------------------------------------------------


def test_chunks_hold_whole_merchants(market_dir: Path) -> None:
    market = load_market(market_dir)
    chunks = list(market_chunks(market, 64))
    assert len(chunks) > 3
    listing_ids = [lid for c in chunks for lid in c.listings["listing_id"]]
    assert sorted(listing_ids) == sorted(market.listings["listing_id"])
    seen: set[str] = set()
    for c in chunks:
        merchants = set(c.listings["merchant_id"])
        assert not merchants & seen, "a merchant was split between chunks"
        seen |= merchants
        assert len(c.listings) <= 64 or len(merchants) == 1
        assert set(c.merchants["merchant_id"]) == merchants
        for child in ("reviews", "lab_results"):
            assert set(getattr(c, child)["listing_id"]) <= set(c.listings["listing_id"])
    for child in ("reviews", "lab_results"):
        assert sum(len(getattr(c, child)) for c in chunks) == len(getattr(market, child))


def test_pandas_engine_equals_whole_market_scoring(
    bundle: Any, market_dir: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = score_pandas(market_dir, out, scorer=bundle, chunk_size=70, progress=False)
    assert result.n_listings == N_LISTINGS
    assert out.is_file()
    _assert_same_scores(read_scores(out), expected)
    assert _leftovers(tmp_path) == []


def test_pandas_engine_in_two_processes_gives_the_same_scores(
    bundle: Any, market_dir: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = score_pandas(market_dir, out, scorer=bundle, chunk_size=70, progress=False, workers=2)
    assert result.n_listings == N_LISTINGS
    _assert_same_scores(read_scores(out), expected)


def test_pandas_engine_refuses_missing_column_before_loading(bundle: Any, market_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    _drop_column(market_dir, bad, "reviews", "rating")
    log = tmp_path / "calls.log"
    with pytest.raises(RecordError, match=r"table 'reviews' is missing required column\(s\): rating") as e:
        score_pandas(bad, tmp_path / "out.parquet", scorer=CountingScorer(bundle, log), progress=False)
    assert e.value.column == "rating"
    assert not log.exists()  # nothing was scored
    assert not (tmp_path / "out.parquet").exists()


def test_pandas_engine_bad_row_leaves_no_output(bundle: Any, market_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    market = load_market(market_dir)
    market.listings.loc[7, "price"] = -3.0
    market.write(bad)
    with pytest.raises(RecordError, match=r"row 8, column 'price'"):
        score_pandas(bad, tmp_path / "out.parquet", scorer=bundle, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_existing_output_is_refused_then_replaced_whole(bundle: Any, market_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"previous run")
    with pytest.raises(FileExistsError, match="--overwrite"):
        score_pandas(market_dir, out, scorer=bundle, progress=False)
    assert out.read_bytes() == b"previous run"
    score_pandas(market_dir, out, scorer=bundle, overwrite=True, progress=False)
    assert len(read_scores(out)) == N_LISTINGS
    assert _leftovers(tmp_path) == []


def test_publish_replaces_a_directory_with_a_file(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    out.mkdir()
    (out / "part-0.parquet").write_bytes(b"old")
    tmp = temporary_sibling(out)
    tmp.write_bytes(b"new")
    with pytest.raises(FileExistsError):
        publish(tmp, out, overwrite=False)
    assert (out / "part-0.parquet").read_bytes() == b"old" and not tmp.exists()
    tmp.write_bytes(b"new")
    publish(tmp, out, overwrite=True)
    assert out.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_missing_listings_table_is_named(market_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "merchants.parquet").write_bytes((market_dir / "merchants.parquet").read_bytes())
    with pytest.raises(RecordError, match=r"listings\.parquet: listings table not found"):
        check_local_market(tmp_path)


# --- Spark engine -----------------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.slow
def test_spark_equals_pandas_row_for_row(
    spark: Any, bundle: Any, market_dir: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    from pyspark import cloudpickle

    from training.batch.spark_engine import score_spark

    log = tmp_path / "calls.log"
    counting = CountingScorer(bundle, log)
    # the wrapper lives in this test module, which Spark's Python workers cannot import
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        out = tmp_path / "spark.parquet"
        result = score_spark(
            market_dir,
            out,
            scorer=counting,
            spark=spark,
            partitions=3,
            batch_size=100,
            progress=False,
            score_store=tmp_path / "store",
        )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert result.n_listings == N_LISTINGS
    assert out.is_dir() and len(list(out.glob("part-*.parquet"))) == 3
    _assert_same_scores(read_scores(out), expected)

    pandas_out = tmp_path / "pandas.parquet"
    score_pandas(market_dir, pandas_out, scorer=bundle, chunk_size=50, progress=False)
    _assert_same_scores(read_scores(out), read_scores(pandas_out))

    # shipped once per Python worker, not per task or batch: 3 tasks, 8+ merchant-closed batches
    lines = [line.split() for line in log.read_text().splitlines()]
    calls = [line[:2] for line in lines]
    # every worker scores with the store it was given (the workers of a local run share one folder)
    assert {line[2] for line in lines if line[0] == "score"} == {str(tmp_path / "store")}
    loads = Counter(pid for what, pid in calls if what == "load")
    scoring_workers = {pid for what, pid in calls if what == "score"}
    assert set(loads.values()) == {1} and scoring_workers <= set(loads)
    assert len(calls) - sum(loads.values()) >= 8 > len(loads)
    assert _leftovers(tmp_path) == []


@pytest.mark.spark
def test_spark_refuses_missing_column_before_any_scoring(
    spark: Any, bundle: Any, market_dir: Path, tmp_path: Path
) -> None:
    from training.batch.spark_engine import score_spark

    bad = tmp_path / "bad"
    _drop_column(market_dir, bad, "listings", "title")
    log = tmp_path / "calls.log"
    with pytest.raises(RecordError, match=r"table 'listings' is missing required column\(s\): title") as e:
        score_spark(bad, tmp_path / "out.parquet", scorer=CountingScorer(bundle, log), spark=spark, progress=False)
    assert e.value.column == "title"
    assert not log.exists()
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.spark
def test_spark_bad_review_fails_with_table_id_and_column(
    spark: Any, bundle: Any, market_dir: Path, tmp_path: Path
) -> None:
    from training.batch.spark_engine import score_spark

    bad = tmp_path / "bad"
    market = load_market(market_dir)
    victim = str(market.reviews["listing_id"].iat[5])
    market.reviews.loc[5, "rating"] = 9
    market.write(bad)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous run")
    with pytest.raises(RecordError) as e:
        score_spark(bad, out, scorer=bundle, spark=spark, overwrite=True, progress=False)
    msg = str(e.value)
    assert "reviews.parquet" in msg and f"listing_id {victim!r}" in msg and "'rating'" in msg, msg
    assert e.value.column == "rating"
    # the failed job left the previous output untouched and no temporary files
    assert out.read_bytes() == b"previous run"
    assert _leftovers(tmp_path) == []


@pytest.mark.spark
def test_spark_unknown_merchant_is_refused(spark: Any, bundle: Any, market_dir: Path, tmp_path: Path) -> None:
    from training.batch.spark_engine import score_spark

    bad = tmp_path / "bad"
    market = load_market(market_dir)
    market.listings.loc[3, "merchant_id"] = "NO-SUCH-SHOP"
    market.write(bad)
    with pytest.raises(
        RecordError, match=r"listings\.parquet, column 'merchant_id': 'NO-SUCH-SHOP' is not in merchants"
    ):
        score_spark(bad, tmp_path / "out.parquet", scorer=bundle, spark=spark, progress=False)
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.spark
@pytest.mark.slow
def test_cli_score_batch_both_engines(
    spark: Any, bundle_dir: Path, market_dir: Path, csv_dir: Path, expected: pd.DataFrame, tmp_path: Path
) -> None:
    """`choujian score-batch` with the bundle folder as --model: pandas on Parquet, Spark on the CSV
    copy (strings, quoted newlines, Spark's CSV reader); both equal whole-market scoring."""
    from cli.main import app

    runner = CliRunner()
    for engine, market in (("pandas", market_dir), ("spark", csv_dir)):
        out = tmp_path / f"{engine}.parquet"
        args = ["score-batch", "--input", str(market), "--output", str(out), "--engine", engine]
        result = runner.invoke(app, [*args, "--model", str(bundle_dir), "--partitions", "2"])
        assert result.exit_code == 0, result.output
        assert f"scored {N_LISTINGS:,} listings" in result.output
        _assert_same_scores(read_scores(out), expected)
        again = runner.invoke(app, [*args, "--model", str(bundle_dir)])
        assert again.exit_code == 2 and "--overwrite" in again.output
    assert _leftovers(tmp_path) == []


def test_spark_engine_without_java_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_pyspark()
    from pyspark.sql import SparkSession

    from training.batch import spark_engine

    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    monkeypatch.setattr(spark_engine, "java_available", lambda: False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    with pytest.raises(spark_engine.SparkUnavailableError, match="Java 17 or newer.*--engine pandas"):
        spark_engine.spark_session()


def test_spark_engine_without_pyspark_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, market_dir: Path, tmp_path: Path
) -> None:
    """pyspark is the optional `spark` extra: without it `score-batch --engine spark` prints one line that
    says how to install it and exits non-zero, before any model is loaded."""
    from cli.main import app

    # None in sys.modules makes `import pyspark` raise ImportError, as on an install without the extra
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")] + ["pyspark"]:
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "scores.parquet"
    args = ["score-batch", "--input", str(market_dir), "--output", str(out), "--engine", "spark"]
    result = CliRunner().invoke(app, [*args, "--model", str(tmp_path / "no-such-bundle")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'choujian[spark]'" in lines[0], result.output
    assert not out.exists()
