"""The Spark engine: shuffle by merchant inside Spark, score partitions with the bundle through Arrow (`mapInPandas`).

How a run goes (no row is scored before steps 1-2 pass):

1. Column check from the files' headers/footers only (`inspect_market`): a missing column fails with
   the table and column name before any row is read.
2. Distributed id checks, as `load_market` does them: unique `merchant_id` / `listing_id`, and every
   `listings.merchant_id`, `reviews.listing_id`, `lab_results.listing_id` resolves.
3. Row validation with the *same* pydantic schema as `load_market` (`features.market.validate_frame`),
   run on the executors inside the scoring pass, just before a row is scored (merchants without
   listings are validated there too). A bad row fails the job; the driver re-raises it as `RecordError`
   naming the file, the row's id and the column (row numbers do not exist on a cluster, ids do).
4. Scoring: the four tables travel to Python as one flat frame (each row tagged with its table, columns
   not shared), hashed on the merchant and sorted so that a merchant's rows are adjacent: the merchant,
   its listings, their reviews and lab results in file order. Reviews and lab results learn their
   listing's merchant from a broadcast map of listing keys, so every table is shuffled once, and reach
   pandas as flat Arrow columns (nested arrays of reviews would become Python objects). `mapInPandas`
   gathers Arrow batches into merchant-closed frames of about `batch_size` listings, rebuilds a `Market`
   from each and calls the bundle's `score_frame`. The bundle is serialized once on the driver,
   broadcast, and deserialized at most once per Python worker process (module-level cache; workers are
   reused), never per row or per batch.
5. Output: Spark writes a directory of Parquet part files to a hidden temporary sibling of `--output`,
   renamed into place only when the job has succeeded, so the output is complete or absent.

Why merchant-closed batches: a listing's own risks depend on its record, its merchant's record and its
own reviews, but the merchant complaint score aggregates over all the merchant's listings (and their
reviews and lab results) in the market it is given (`features.merchant_frame`). Scoring whole merchants
per call makes every score equal to scoring the whole market at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.market import Market, RecordError, validate_frame
from features.records import TABLES
from models.contract import RiskScorer
from training.batch.common import (
    ROW_ID_COLUMN,
    SCORE_COLUMNS,
    BatchResult,
    check_columns,
    check_scores,
    schema_columns,
)

if TYPE_CHECKING:
    from pyspark import Broadcast, SparkContext
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

_RECORD_ERROR_MARK = "CHOUJIAN_RECORD_ERROR::"
_RECORD_ERROR_RE = re.compile(re.escape(_RECORD_ERROR_MARK) + r"(\{[^\n]*\})")
#: columns added to the scoring rows; they cannot clash with schema columns (those never start with "_")
_MID, _TAB, _LORD, _ORD = "_mid", "_tab", "_lord", "_ord"
#: every table travels to Python in one flat frame, its rows tagged with the table's code; in a
#: merchant's rows the merchant comes first, then its listings, their reviews and their lab results
TABLE_CODES = {"merchants": 0, "listings": 1, "reviews": 2, "lab_results": 3}
OUTPUT_SCHEMA = "listing_id string, " + ", ".join(f"{c} double" for c in SCORE_COLUMNS)


#: the one line a user without the Spark extra sees
PYSPARK_MISSING = (
    "the Spark engine needs pyspark, an optional extra: pip install 'choujian[spark]' (or use --engine pandas)"
)


class SparkUnavailableError(RuntimeError):
    """Spark cannot start here (pyspark not installed, or no Java)."""


def require_pyspark() -> None:
    """Raise `SparkUnavailableError` with the install line when pyspark (the `spark` extra) is missing.

    pyspark is imported lazily everywhere, so the rest of the project runs without it."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        raise SparkUnavailableError(PYSPARK_MISSING) from e


def java_available() -> bool:
    """True when a `java` executable is on PATH or under JAVA_HOME."""
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java")) or bool(home and Path(home, "bin", "java").exists())


def _date_columns(name: str) -> list[str]:
    return [n for n, f in TABLES[name].model_fields.items() if f.annotation is date]


# --- session ---------------------------------------------------------------------------------------


#: SQL settings every session that reads a market needs (set on spark-submit sessions too)
SESSION_SQL_CONF = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    # pandas writes nanosecond timestamps, which Spark refuses to read as timestamps; read them as
    # longs and convert (see `_read_table`)
    "spark.sql.legacy.parquet.nanosAsLong": "true",
}


def local_conf(*, cores: int, driver_memory: str = "2g", shuffle_partitions: int | None = None) -> dict[str, str]:
    """Settings for a local Spark on a small machine (documented in docs/spark.md)."""
    partitions = str(shuffle_partitions or 2 * cores)
    return {
        "spark.master": f"local[{cores}]",
        "spark.driver.memory": driver_memory,
        # 200 shuffle partitions (the default) are 200 Python tasks for a few thousand listings each
        "spark.sql.shuffle.partitions": partitions,
        "spark.default.parallelism": partitions,
        **SESSION_SQL_CONF,
        "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
        # worker reuse is what keeps the deserialized bundle alive between tasks
        "spark.python.worker.reuse": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        # quiet from the first line: Spark's default log4j profile logs WARN during start-up
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_quiet_log4j()}",
        "spark.sql.adaptive.enabled": "true",
    }


def _quiet_log4j() -> str:
    """Path of a log4j2 configuration that logs errors only (written once per process)."""
    path = Path(tempfile.gettempdir()) / f"choujian-log4j2-{os.getuid()}.properties"
    if not path.exists():
        path.write_text(
            "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\n"
            "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex\n"
        )
    return str(path)


def spark_session(
    *,
    app_name: str = "choujian-score-batch",
    cores: int | None = None,
    driver_memory: str = "2g",
    shuffle_partitions: int | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession: the one `spark-submit` started (cluster settings untouched), else a local one.

    Local sessions get `local_conf` (all cores by default) and run their Python workers with this
    interpreter unless PYSPARK_PYTHON says otherwise.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name)
    # spark-submit starts the JVM first and hands its gateway to this process: it owns the settings
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        if not java_available():
            raise SparkUnavailableError(
                "the Spark engine needs Java 17 or newer (java on PATH or JAVA_HOME); use --engine pandas"
            )
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # a local session talks to itself only; this also silences the "hostname resolves to a
        # loopback address" warning
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = local_conf(
            cores=cores or os.cpu_count() or 1, driver_memory=driver_memory, shuffle_partitions=shuffle_partitions
        )
        for key, value in {**settings, **(conf or {})}.items():
            builder = builder.config(key, value)
    elif conf:
        for key, value in conf.items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in SESSION_SQL_CONF.items():
        spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per closed gateway connection
    return spark


# --- file system (Hadoop's, so that hdfs:// and s3a:// paths work as well as local ones) ------------


class _FS:
    def __init__(self, spark: SparkSession, path: str):
        jvm: Any = spark.sparkContext._jvm
        self._jvm = jvm
        self._path_cls = jvm.org.apache.hadoop.fs.Path
        self.fs: Any = self._path_cls(path).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def path(self, p: str) -> Any:
        return self._path_cls(p)

    def exists(self, p: str) -> bool:
        return bool(self.fs.exists(self.path(p)))

    def is_dir(self, p: str) -> bool:
        return bool(self.fs.isDirectory(self.path(p)))

    def delete(self, p: str) -> None:
        self.fs.delete(self.path(p), True)

    def rename(self, src: str, dst: str) -> None:
        if not self.fs.rename(self.path(src), self.path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def sibling(self, p: str, tag: str) -> str:
        jp = self.fs.makeQualified(self.path(p))
        return str(self._path_cls(jp.getParent(), f".{jp.getName()}.{tag}-{uuid.uuid4().hex[:12]}").toString())

    def qualified(self, p: str) -> str:
        return str(self.fs.makeQualified(self.path(p)).toString())


# --- reading and checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """One table as found in the input: where, which format, which schema columns it has."""

    name: str
    source: str
    csv: bool
    columns: tuple[str, ...]


def _find_table(fs: _FS, directory: str, name: str) -> str | None:
    for ext in ("parquet", "csv"):
        p = f"{directory.rstrip('/')}/{name}.{ext}"
        if fs.exists(p):
            return p
    return None


def _read_raw(spark: SparkSession, path: str, *, csv: bool) -> DataFrame:
    if csv:
        # as pandas reads it: every cell a string, RFC 4180 quoting (doubled quotes, newlines in cells)
        return spark.read.options(
            header="true", multiLine="true", escape='"', encoding="UTF-8", inferSchema="false", mode="FAILFAST"
        ).csv(path)
    return spark.read.parquet(path)


def _read_table(spark: SparkSession, spec: TableSpec) -> DataFrame:
    """Read one table keeping only its schema columns; nanosecond timestamps become timestamps."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    df = _read_raw(spark, spec.source, csv=spec.csv)
    cols = []
    for c in spec.columns:
        col = F.col(f"`{c}`")
        if not spec.csv and c in _date_columns(spec.name) and isinstance(df.schema[c].dataType, LongType):
            col = F.timestamp_micros(F.floor(col / 1000).cast("long"))  # ns since epoch (nanosAsLong)
        cols.append(col.alias(c))
    return df.select(*cols)


def inspect_market(spark: SparkSession, directory: str) -> dict[str, TableSpec]:
    """Find the tables and check their columns from headers/footers only, before any scoring work."""
    fs = _FS(spark, directory)
    if not fs.is_dir(directory):
        raise RecordError(file=directory, row=None, column=None, reason="not a directory")
    found: dict[str, list[str] | None] = {}
    sources: dict[str, str] = {}
    paths: dict[str, str] = {}
    for name in TABLES:
        p = _find_table(fs, directory, name)
        sources[name] = p or f"{directory.rstrip('/')}/{name}.parquet"
        if p is None:
            found[name] = None
            continue
        paths[name] = p
        try:
            found[name] = list(_read_raw(spark, p, csv=p.endswith(".csv")).columns)
        except Exception as e:  # Spark raises AnalysisException and friends for unreadable files
            raise RecordError(file=p, row=None, column=None, reason=f"cannot read table: {e}") from e
    check_columns(found, sources)
    return {
        name: TableSpec(
            name=name,
            source=p,
            csv=p.endswith(".csv"),
            columns=tuple(c for c in schema_columns(name) if c in (found[name] or [])),
        )
        for name, p in paths.items()
    }


def _trimmed(column: str) -> Any:
    from pyspark.sql import functions as F

    # pydantic strips whitespace from ids; join on what it will see
    return F.trim(F.col(f"`{column}`").cast("string"))


def check_ids(tables: Mapping[str, DataFrame], specs: Mapping[str, TableSpec]) -> None:
    """`load_market`'s key checks, distributed and in one Spark job: unique merchant and listing ids,
    and every listing's merchant and every review's and lab result's listing exists."""
    from pyspark.sql import functions as F

    def keys(name: str, col: str) -> DataFrame:
        return tables[name].select(_trimmed(col).alias("k")).where(F.col("k").isNotNull())

    def summary(df: DataFrame, check: int) -> DataFrame:
        # min, not first: the same id is reported on every run
        return df.agg(F.lit(check).alias("check"), F.count(F.lit(1)).alias("n"), F.min("k").alias("k"))

    checks: list[tuple[str, str, str]] = []  # (table, column, what) in load_market's order
    parts: list[DataFrame] = []
    for name, key in (("merchants", "merchant_id"), ("listings", "listing_id")):
        dups = keys(name, key).groupBy("k").count().where(F.col("count") > 1).select("k")
        parts.append(summary(dups, len(checks)))
        checks.append((name, key, "duplicate"))
    for child, col, parent, pkey in (
        ("listings", "merchant_id", "merchants", "merchant_id"),
        ("reviews", "listing_id", "listings", "listing_id"),
        ("lab_results", "listing_id", "listings", "listing_id"),
    ):
        if child in specs:
            orphans = keys(child, col).join(
                keys(parent, pkey).withColumnRenamed("k", "pk"), F.col("k") == F.col("pk"), "left_anti"
            )
            parts.append(summary(orphans, len(checks)))
            checks.append((child, col, parent))
    union = functools.reduce(lambda a, b: a.unionByName(b), parts)
    for row in sorted(union.collect(), key=lambda r: r["check"]):
        if not row["n"]:
            continue
        table, col, what = checks[row["check"]]
        reason = (
            f"duplicate id {row['k']!r} ({row['n']} id(s) like this)"
            if what == "duplicate"
            else f"{row['k']!r} is not in {what} ({row['n']} row(s) like this)"
        )
        raise RecordError(file=specs[table].source, row=None, column=col, reason=reason)


# --- executor side ---------------------------------------------------------------------------------

#: the deserialized bundle of the current run, per Python worker process (workers are reused)
_SCORER_CACHE: dict[str, RiskScorer] = {}


def _executor_scorer(token: str, payload: Broadcast[bytes]) -> RiskScorer:
    scorer = _SCORER_CACHE.get(token)
    if scorer is None:
        from pyspark import cloudpickle

        _SCORER_CACHE.clear()  # a long-lived worker keeps only the current run's bundle
        scorer = cloudpickle.loads(payload.value)
        _SCORER_CACHE[token] = scorer
        logger.info("worker %d loaded scorer %s", os.getpid(), token)
    return scorer


def _record_error(spec: TableSpec, raw: pd.DataFrame, err: RecordError) -> RuntimeError:
    id_col = ROW_ID_COLUMN[spec.name]
    row_id = None
    if err.row is not None and id_col in raw.columns and 0 < err.row <= len(raw):
        row_id = raw[id_col].iat[err.row - 1]
    info = {
        "file": spec.source,
        "table": spec.name,
        "column": err.column,
        "reason": err.reason,
        "id_column": id_col,
        "id": None if row_id is None else str(row_id),
    }
    return RuntimeError(_RECORD_ERROR_MARK + json.dumps(info, ensure_ascii=True))


def _validate(raw: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """`load_market`'s row validation on a slice of a table; errors carry the row's id to the driver."""
    raw = raw.loc[:, list(spec.columns)].reset_index(drop=True)
    if spec.csv:
        # pandas reads CSV with keep_default_na=False: an empty cell is "", which the schema treats as
        # "not given"; Spark reads it as null
        raw = raw.astype(object).where(raw.notna(), "")
    try:
        return validate_frame(raw, spec.name, source=spec.source, csv=spec.csv)
    except RecordError as e:
        raise _record_error(spec, raw, e) from None


def _empty_frame(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in schema_columns(name)})


#: which column of the flat scoring rows holds each table's column: {table: {column: slot}}
Slots = Mapping[str, Mapping[str, str]]


def assign_slots(tables: Mapping[str, DataFrame], specs: Mapping[str, TableSpec]) -> dict[str, dict[str, str]]:
    """Give each table's columns a column of the flat scoring rows, shared between tables by type: the
    k-th string column of every table goes to `_string_k`, and so on. A row then carries about 16
    columns rather than the 31 of all tables side by side, which halves what the shuffle, the sort and
    the Arrow transfer move (a null still costs a slot in Spark's rows)."""
    slots: dict[str, dict[str, str]] = {}
    for name, spec in specs.items():
        fields = tables[name].schema
        seen: dict[str, int] = {}
        slots[name] = {}
        for c in spec.columns:
            kind = re.sub(r"\W", "_", fields[c].dataType.simpleString())
            slots[name][c] = f"_{kind}_{seen.get(kind, 0)}"
            seen[kind] = seen.get(kind, 0) + 1
    return slots


def market_from_batch(batch: pd.DataFrame, specs: Mapping[str, TableSpec], slots: Slots) -> Market:
    """Rebuild a validated `Market` from flat scoring rows: each table's rows are those tagged with its
    code, its columns in the slots `assign_slots` gave them. Merchants without listings are validated,
    not kept."""
    tab = batch[_TAB].to_numpy()
    tables: dict[str, pd.DataFrame] = {}
    for name, code in TABLE_CODES.items():
        spec = specs.get(name)
        rows = tab == code
        if spec is None or not rows.any():
            tables[name] = _empty_frame(name)
            continue
        raw = batch.loc[rows, [slots[name][c] for c in spec.columns]]
        raw.columns = list(spec.columns)
        tables[name] = _validate(raw, spec)
    merchants = tables["merchants"]
    if len(merchants):
        has_listings = batch.loc[tab == TABLE_CODES["listings"], _MID].unique()
        keep = batch.loc[tab == TABLE_CODES["merchants"], _MID].isin(has_listings).to_numpy()
        tables["merchants"] = merchants.loc[keep].reset_index(drop=True)
    return Market(**tables)


def merchant_closed(batches: Iterator[pd.DataFrame], *, min_listings: int = 1) -> Iterator[pd.DataFrame]:
    """Gather Arrow batches (rows sorted by merchant) into frames of at least `min_listings` listings
    (the last one may hold fewer) that never split a merchant.

    A merchant's complaint score depends on all its listings (see `features.merchant_frame`), so each
    `score_frame` call must see all of them, as whole-market scoring does.
    """
    pending: list[pd.DataFrame] = []
    n_listings = 0
    for batch in batches:
        if batch.empty:
            continue
        pending.append(batch)
        n_listings += int((batch[_TAB].to_numpy() == TABLE_CODES["listings"]).sum())
        if n_listings < min_listings:
            continue
        frame = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
        keys = frame[_MID].to_numpy()
        # rows are sorted by merchant: the last merchant's rows are a tail that may continue
        others = (keys != keys[-1]).nonzero()[0]
        cut = int(others[-1]) + 1 if len(others) else 0
        if not cut:  # one merchant so far: it may go on in the next batch
            pending = [frame]
            continue
        yield frame.iloc[:cut].reset_index(drop=True)
        carry = frame.iloc[cut:].reset_index(drop=True)
        pending = [carry]
        n_listings = int((carry[_TAB].to_numpy() == TABLE_CODES["listings"]).sum())
    if pending:
        frame = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
        if len(frame):
            yield frame


class WorkerTimes:
    """Seconds the Python workers spent per step of a scoring run, summed over workers (accumulators).

    `wait` is time blocked on the next Arrow batch: the JVM reading, shuffling and sorting upstream and
    the JVM->Python transfer. `rebuild` turns flat rows into validated tables (the pydantic validation
    the pandas engine does in `load_market`); `score` is the bundle's `score_frame` (features, models)."""

    STEPS = ("model_load", "wait", "rebuild", "score")

    def __init__(self, sc: SparkContext):
        self._acc = {k: sc.accumulator(0.0) for k in self.STEPS}

    def add(self, step: str, seconds: float) -> None:
        self._acc[step].add(seconds)

    def values(self) -> dict[str, float]:
        return {k: float(a.value) for k, a in self._acc.items()}


def _timed(batches: Iterator[pd.DataFrame], times: WorkerTimes) -> Iterator[pd.DataFrame]:
    while True:
        t = time.perf_counter()
        batch = next(batches, None)
        times.add("wait", time.perf_counter() - t)
        if batch is None:
            return
        yield batch


def _score_partition(
    specs: Mapping[str, TableSpec],
    slots: Slots,
    token: str,
    payload: Broadcast[bytes],
    score_store: str | None,
    min_listings: int,
    times: WorkerTimes,
    batches: Iterator[pd.DataFrame],
) -> Iterator[pd.DataFrame]:
    from models.review_cache import use_score_store

    use_score_store(score_store)
    t = time.perf_counter()
    scorer = _executor_scorer(token, payload)
    times.add("model_load", time.perf_counter() - t)
    for batch in merchant_closed(_timed(batches, times), min_listings=min_listings):
        t = time.perf_counter()
        market = market_from_batch(batch, specs, slots)
        times.add("rebuild", time.perf_counter() - t)
        if market.listings.empty:  # merchants without listings only
            continue
        t = time.perf_counter()
        scores = scorer.score_frame(market)
        times.add("score", time.perf_counter() - t)
        yield check_scores(scores, market.listings["listing_id"], scorer_name=scorer.name)


# --- progress --------------------------------------------------------------------------------------


class SparkProgress:
    """A rich progress bar per Spark stage, fed by a thread that polls `sc.statusTracker()`."""

    def __init__(self, sc: SparkContext, *, enabled: bool = True, interval: float = 0.5):
        self._sc, self._enabled, self._interval = sc, enabled, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.phase = ""
        self._bars: dict[int, Any] = {}
        self._progress: Any = None

    def __enter__(self) -> SparkProgress:
        if not self._enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tasks"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._progress.start()
        self._thread = threading.Thread(target=self._run, name="spark-progress", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception:  # the tracker can fail while the context shuts down; progress is cosmetic
                logger.debug("status tracker poll failed", exc_info=True)

    def poll(self) -> None:
        """Update the bars from the status tracker (called by the thread)."""
        tracker = self._sc.statusTracker()
        active = set(tracker.getActiveStageIds())
        for sid in active:
            info = tracker.getStageInfo(sid)
            if info is None:
                continue
            label = f"{self.phase}: stage {sid}" if self.phase else f"stage {sid}"
            if sid not in self._bars:
                self._bars[sid] = self._progress.add_task(label, total=info.numTasks)
            self._progress.update(self._bars[sid], total=info.numTasks, completed=info.numCompletedTasks)
        for sid, bar in self._bars.items():
            if sid not in active:
                task = self._progress.tasks[bar] if bar < len(self._progress.tasks) else None
                if task is not None and task.total is not None:
                    self._progress.update(bar, completed=task.total)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._progress is not None:
            if exc is None:
                self.poll()
            self._progress.stop()


# --- the run ---------------------------------------------------------------------------------------


def _reraise_record_error(e: BaseException) -> None:
    """Turn a row error raised on an executor back into a `RecordError` on the driver."""
    m = _RECORD_ERROR_RE.search(str(e))
    if m is None:
        return
    info = json.loads(m.group(1))
    where = f"{info['id_column']} {info['id']!r}: " if info.get("id") is not None else ""
    raise RecordError(file=info["file"], row=None, column=info["column"], reason=where + info["reason"]) from None


def _scoring_rows(
    tables: Mapping[str, DataFrame], specs: Mapping[str, TableSpec], slots: Slots, *, partitions: int
) -> DataFrame:
    """Every table's rows in one flat frame (`assign_slots` columns, a `_tab` code), hashed on the merchant
    into `partitions` partitions and sorted so that each merchant's rows are adjacent: the merchant,
    its listings in file order, then their reviews and lab results, grouped by listing in file order.

    Flat rows, not a join with nested arrays of reviews: Arrow hands flat columns to pandas as they
    are, where arrays of structs become one Python object per review; and each table is shuffled once.
    Reviews and lab results learn their listing's merchant and order from a broadcast map of listing
    keys (one id, one merchant id and a number per listing)."""
    from pyspark.sql import functions as F

    def flat(name: str, df: DataFrame, mid: Any, lord: Any, ord_: Any) -> DataFrame:
        return df.select(
            mid.alias(_MID),
            F.lit(TABLE_CODES[name]).alias(_TAB),
            lord.cast("long").alias(_LORD),
            ord_.cast("long").alias(_ORD),
            *[F.col(f"`{c}`").alias(slots[name][c]) for c in specs[name].columns],
        )

    listings = tables["listings"].withColumn(_LORD, F.monotonically_increasing_id())
    keys = F.broadcast(
        listings.select(_trimmed("listing_id").alias("_lkey"), _trimmed("merchant_id").alias(_MID), _LORD)
    )
    parts = [
        flat("merchants", tables["merchants"], _trimmed("merchant_id"), F.lit(0), F.lit(0)),
        flat("listings", listings, _trimmed("merchant_id"), F.col(_LORD), F.lit(0)),
    ]
    for name in ("reviews", "lab_results"):
        if name in specs:
            # the ordinal, taken before any shuffle, keeps each listing's rows in file order
            rows = tables[name].withColumn(_ORD, F.monotonically_increasing_id())
            rows = rows.join(keys, _trimmed("listing_id") == F.col("_lkey"), "inner")
            parts.append(flat(name, rows, F.col(_MID), F.col(_LORD), F.col(_ORD)))
    union = functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    # Spark sizes partitions by bytes, but the cost here is Python scoring per listing: hash on the
    # merchant into a fixed number of tasks, and sort so that each merchant's rows are adjacent
    # (`merchant_closed` relies on it)
    return union.repartition(partitions, F.col(_MID)).sortWithinPartitions(_MID, _TAB, _LORD, _ORD)


def _restore(spark: SparkSession, saved: Mapping[str, str | None]) -> None:
    for k, old in saved.items():
        if old is None:
            spark.conf.unset(k)
        else:
            spark.conf.set(k, old)


def _set_run_conf(spark: SparkSession, *, partitions: int, batch_size: int) -> dict[str, str | None]:
    """Set the SQL settings a scoring run relies on, on the session whoever built it (spark-submit
    included); returns what they were, for `_restore`."""
    runtime = {
        **SESSION_SQL_CONF,
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(batch_size),
        "spark.sql.shuffle.partitions": str(partitions),
        # adaptive execution would merge "small" partitions back into one Python task
        "spark.sql.adaptive.coalescePartitions.enabled": "false",
    }
    saved = {k: spark.conf.get(k, None) for k in runtime}
    for k, v in runtime.items():
        spark.conf.set(k, v)
    return saved


def _publish(out_fs: _FS, tmp: str, out: str, *, overwrite: bool, output: str) -> None:
    """Move the finished part files into place: renames only, so a reader sees the old or the new output."""
    if not out_fs.exists(out):
        out_fs.rename(tmp, out)
        return
    if not overwrite:
        raise FileExistsError(f"{output} appeared while scoring; pass --overwrite to replace it")
    aside = out_fs.sibling(out, "old")
    out_fs.rename(out, aside)
    out_fs.rename(tmp, out)
    out_fs.delete(aside)


def _configure_and_inspect(
    spark: SparkSession, input_dir: str, *, partitions: int | None, batch_size: int
) -> tuple[int, dict[str, str | None], dict[str, TableSpec]]:
    """The run's partitions (default: the session's shuffle partitions), the session settings it replaced (to
    restore), and the market's tables, their columns checked before anything is scored."""
    sc = spark.sparkContext
    partitions = partitions or int(spark.conf.get("spark.sql.shuffle.partitions") or 2 * sc.defaultParallelism)
    saved = _set_run_conf(spark, partitions=partitions, batch_size=batch_size)
    try:
        return partitions, saved, inspect_market(spark, input_dir)
    except Exception:
        _restore(spark, saved)
        raise


def _broadcast(sc: Any, scorer: RiskScorer) -> tuple[str, Broadcast[bytes]]:
    """The scorer, pickled once and broadcast to the executors, and a token naming it (each Python worker
    unpickles it once per token)."""
    from pyspark import cloudpickle

    payload = cloudpickle.dumps(scorer)
    logger.info("broadcasting scorer %s %s (%.1f MB)", scorer.name, scorer.version, len(payload) / 1e6)
    return hashlib.sha1(payload).hexdigest()[:16], sc.broadcast(payload)


def _score_into(
    tmp: str,
    tables: dict[str, DataFrame],
    specs: Mapping[str, TableSpec],
    *,
    token: str,
    shipped: Broadcast[bytes],
    store: str | None,
    batch_size: int,
    times: WorkerTimes,
    partitions: int,
) -> None:
    """Score every listing into Parquet part files under `tmp`: every row is validated in the Python worker that
    scores it (merchants without listings too)."""
    slots = assign_slots(tables, specs)
    score = functools.partial(_score_partition, specs, slots, token, shipped, store, batch_size, times)
    rows = _scoring_rows(tables, specs, slots, partitions=partitions)
    rows.mapInPandas(score, OUTPUT_SCHEMA).write.parquet(tmp)


def score_spark(
    input_dir: str | Path,
    output: str | Path,
    *,
    scorer: RiskScorer,
    spark: SparkSession | None = None,
    partitions: int | None = None,
    batch_size: int = 20_000,
    overwrite: bool = False,
    progress: bool = True,
    score_store: str | Path | None = None,
) -> BatchResult:
    """Score every listing of a market directory on Spark into a Parquet directory at `output`.

    Args:
        spark: the session to use; by default the spark-submit one or a local one (`spark_session`).
        partitions: the number of scoring tasks (and output part files); default: the session's
            `spark.sql.shuffle.partitions` (locally 2 x cores).
        batch_size: listings per `score_frame` call (whole merchants, so a few more), and rows per Arrow
            batch between the JVM and Python; bounds a worker's memory.
        score_store: folder of the transformer review score store (`models.review_cache`) the Python
            workers share; only where every worker sees the same filesystem (local mode, or a shared
            mount). None: each worker runs the encoder on every review text it meets.
    """
    require_pyspark()

    if partitions is not None and partitions < 1:
        raise ValueError("partitions must be at least 1")
    t0 = time.perf_counter()
    spark = spark or spark_session(shuffle_partitions=partitions)
    sc = spark.sparkContext
    input_dir, output = str(input_dir), str(output)
    out_fs = _FS(spark, output)
    out = out_fs.qualified(output)
    if out_fs.exists(out) and not overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")

    partitions, saved, specs = _configure_and_inspect(spark, input_dir, partitions=partitions, batch_size=batch_size)
    phases = {"check_columns": time.perf_counter() - t0}

    token, shipped = _broadcast(sc, scorer)
    tmp = out_fs.sibling(out, "tmp")
    times = WorkerTimes(sc)
    try:
        with SparkProgress(sc, enabled=progress) as bar:
            t = time.perf_counter()
            tables = {name: _read_table(spark, spec) for name, spec in specs.items()}
            bar.phase = "checking ids"
            check_ids(tables, specs)
            phases["check_ids"] = time.perf_counter() - t

            t = time.perf_counter()
            bar.phase = "scoring"
            store = None if score_store is None else str(score_store)
            _score_into(
                tmp, tables, specs, token=token, shipped=shipped, store=store, batch_size=batch_size, times=times,
                partitions=partitions,
            )  # fmt: skip
            phases["validate_score_write"] = time.perf_counter() - t

        t = time.perf_counter()
        _publish(out_fs, tmp, out, overwrite=overwrite, output=output)
        n = spark.read.parquet(out).count()  # from the Parquet footers
        phases["publish"] = time.perf_counter() - t
    except Exception as e:
        _reraise_record_error(e)
        raise
    finally:
        if out_fs.exists(tmp):
            out_fs.delete(tmp)
        shipped.destroy()
        _restore(spark, saved)
    seconds = time.perf_counter() - t0
    logger.info("wrote %d scores to %s in %.1fs", n, out, seconds)
    return BatchResult(
        engine="spark", output=output, n_listings=n, seconds=seconds, phases=phases, worker_seconds=times.values()
    )
