"""The Spark engine: join inside Spark, score partitions with the bundle through Arrow (`mapInPandas`).

How a run goes (no row is scored before steps 1-2 pass):

1. Column check from the files' headers/footers only (`inspect_market`): a missing column fails with
   the table and column name before any row is read.
2. Distributed id checks, as `load_market` does them: unique `merchant_id` / `listing_id`, and every
   `listings.merchant_id`, `reviews.listing_id`, `lab_results.listing_id` resolves.
3. Row validation with the *same* pydantic schema as `load_market` (`features.market.validate_frame`),
   run on the executors: merchants in a validation-only pass, every other row inside the scoring pass,
   just before it is scored. A bad row fails the job; the driver re-raises it as `RecordError` naming
   the file, the row's id and the column (row numbers do not exist on a cluster, ids do).
4. Scoring: reviews and lab results are grouped per listing into arrays (reviews are the big table),
   merchants are joined as a struct, rows are hashed on the merchant and sorted, and `mapInPandas`
   rebuilds a small `Market` per merchant-closed batch and calls the bundle's `score_frame`. The bundle
   is serialized once on the driver, broadcast, and deserialized at most once per Python worker process
   (module-level cache; workers are reused), never per row or per batch.
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
#: columns added by the join; they cannot clash with schema columns (those never start with "_")
_MERCHANT, _ORD, _LID, _MID, _LORD = "_merchant", "_ord", "_lid", "_mid", "_lord"
#: per-listing arrays of the child tables' rows
_CHILD_ARRAYS = {"reviews": "_reviews", "lab_results": "_lab_results"}
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
        "spark.sql.execution.arrow.maxRecordsPerBatch": "5000",
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


def _validate_partition(spec: TableSpec, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        _validate(batch, spec)
        yield pd.DataFrame({"n": [len(batch)]})


def _empty_frame(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in schema_columns(name)})


def market_from_batch(batch: pd.DataFrame, specs: Mapping[str, TableSpec]) -> Market:
    """Rebuild a validated `Market` from joined rows: listing columns, a merchant struct, and arrays of
    the listing's reviews and lab results."""
    listings = _validate(batch, specs["listings"])
    merchant_rows = pd.DataFrame(list(batch[_MERCHANT]), columns=list(specs["merchants"].columns))
    merchant_rows = merchant_rows.drop_duplicates(subset="merchant_id", ignore_index=True)
    tables = {"listings": listings, "merchants": _validate(merchant_rows, specs["merchants"])}
    for name, array in _CHILD_ARRAYS.items():
        tables[name] = _empty_frame(name)
        if name in specs:
            rows = [r for arr in batch[array] if arr is not None for r in arr]
            if rows:
                tables[name] = _validate(pd.DataFrame(rows, columns=[_ORD, *specs[name].columns]), specs[name])
    return Market(**tables)


def merchant_closed(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Re-cut Arrow batches (rows sorted by merchant) so that no merchant is split between two.

    A merchant's complaint score depends on all its listings (see `features.merchant_frame`), so each
    `score_frame` call must see all of them, as whole-market scoring does.
    """
    carry: pd.DataFrame | None = None
    for batch in batches:
        frame = batch if carry is None else pd.concat([carry, batch], ignore_index=True)
        if frame.empty:
            continue
        keys = frame[_MID].to_numpy()
        # rows are sorted by merchant: the last merchant's rows are a tail that may continue
        cut = int((keys != keys[-1]).nonzero()[0].max()) + 1 if (keys != keys[-1]).any() else 0
        if cut:
            yield frame.iloc[:cut].reset_index(drop=True)
        carry = frame.iloc[cut:].reset_index(drop=True)
    if carry is not None and len(carry):
        yield carry


def _score_partition(
    specs: Mapping[str, TableSpec],
    token: str,
    payload: Broadcast[bytes],
    score_store: str | None,
    batches: Iterator[pd.DataFrame],
) -> Iterator[pd.DataFrame]:
    from models.review_cache import use_score_store

    use_score_store(score_store)
    scorer = _executor_scorer(token, payload)
    for batch in merchant_closed(batches):
        market = market_from_batch(batch, specs)
        scores = scorer.score_frame(market)
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


def _join(tables: Mapping[str, DataFrame], specs: Mapping[str, TableSpec], *, partitions: int) -> DataFrame:
    """Listings with their merchant as a struct and their reviews and lab results (in file order) as
    arrays, hashed on the merchant into `partitions` partitions and sorted by merchant inside each."""
    from pyspark.sql import functions as F

    listing_cols = [F.col(f"`{c}`") for c in specs["listings"].columns]
    listings = tables["listings"].select(
        *listing_cols,
        _trimmed("listing_id").alias(_LID),
        _trimmed("merchant_id").alias(_MID),
        F.monotonically_increasing_id().alias(_LORD),
    )
    merchants = tables["merchants"].select(
        _trimmed("merchant_id").alias("_mkey"),
        F.struct(*[F.col(f"`{c}`") for c in specs["merchants"].columns]).alias(_MERCHANT),
    )
    joined = listings.join(merchants, listings[_MID] == merchants["_mkey"], "inner")
    out_cols = [*listing_cols, F.col(_MID), F.col(_MERCHANT)]
    for name, array in _CHILD_ARRAYS.items():
        if name not in specs:
            continue
        cols = [F.col(f"`{c}`") for c in specs[name].columns]
        # the ordinal, taken before any shuffle, keeps each listing's rows in file order
        grouped = (
            tables[name]
            .withColumn(_ORD, F.monotonically_increasing_id())
            .groupBy(_trimmed("listing_id").alias("_ckey"))
            .agg(F.array_sort(F.collect_list(F.struct(F.col(_ORD), *cols))).alias(array))
        )
        joined = joined.join(grouped, joined[_LID] == grouped["_ckey"], "left").drop("_ckey")
        out_cols.append(F.col(array))
    # Spark sizes partitions by bytes, but the cost here is Python scoring per listing: hash on the
    # merchant into a fixed number of tasks, and sort so that each merchant's listings are adjacent
    # (`merchant_closed` relies on it); listings keep file order within a merchant.
    return joined.repartition(partitions, F.col(_MID)).sortWithinPartitions(_MID, _LORD).select(*out_cols)


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


def score_spark(
    input_dir: str | Path,
    output: str | Path,
    *,
    scorer: RiskScorer,
    spark: SparkSession | None = None,
    partitions: int | None = None,
    batch_size: int = 5000,
    overwrite: bool = False,
    progress: bool = True,
    score_store: str | Path | None = None,
) -> BatchResult:
    """Score every listing of a market directory on Spark into a Parquet directory at `output`.

    Args:
        spark: the session to use; by default the spark-submit one or a local one (`spark_session`).
        partitions: the number of scoring tasks (and output part files); default: the session's
            `spark.sql.shuffle.partitions` (locally 2 x cores).
        batch_size: listings per Arrow batch handed to `score_frame` (bounds worker memory).
        score_store: folder of the transformer review score store (`models.review_cache`) the Python
            workers share; only where every worker sees the same filesystem (local mode, or a shared
            mount). None: each worker runs the encoder on every review text it meets.
    """
    require_pyspark()
    from pyspark import cloudpickle
    from pyspark.sql import functions as F

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

    partitions = partitions or int(spark.conf.get("spark.sql.shuffle.partitions") or 2 * sc.defaultParallelism)
    saved = _set_run_conf(spark, partitions=partitions, batch_size=batch_size)
    try:
        specs = inspect_market(spark, input_dir)
    except Exception:
        _restore(spark, saved)
        raise
    phases = {"check_columns": time.perf_counter() - t0}

    payload = cloudpickle.dumps(scorer)
    token = hashlib.sha1(payload).hexdigest()[:16]
    shipped = sc.broadcast(payload)
    logger.info("broadcasting scorer %s %s (%.1f MB)", scorer.name, scorer.version, len(payload) / 1e6)
    tmp = out_fs.sibling(out, "tmp")
    try:
        with SparkProgress(sc, enabled=progress) as bar:
            t = time.perf_counter()
            tables = {name: _read_table(spark, spec) for name, spec in specs.items()}
            bar.phase = "checking ids"
            check_ids(tables, specs)
            phases["check_ids"] = time.perf_counter() - t

            t = time.perf_counter()
            # every other row is validated where it is scored; merchants without listings are not scored
            bar.phase = "validating merchants"
            check = functools.partial(_validate_partition, specs["merchants"])
            tables["merchants"].mapInPandas(check, "n long").agg(F.sum("n")).collect()
            phases["validate_merchants"] = time.perf_counter() - t

            t = time.perf_counter()
            bar.phase = "scoring"
            store = None if score_store is None else str(score_store)
            score = functools.partial(_score_partition, specs, token, shipped, store)
            scored = _join(tables, specs, partitions=partitions).mapInPandas(score, OUTPUT_SCHEMA)
            scored.write.parquet(tmp)
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
    return BatchResult(engine="spark", output=output, n_listings=n, seconds=seconds, phases=phases)
