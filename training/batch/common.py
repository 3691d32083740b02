"""What both batch engines share: the market layout, column checks, the output contract and atomic
writes of local outputs."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.market import RecordError
from features.records import TABLES
from models.contract import RISKS

logger = logging.getLogger(__name__)

#: tables without which a market cannot be scored; the others may be absent (empty)
REQUIRED_TABLES = ("merchants", "listings")
#: the column that names a row in error messages, per table
ROW_ID_COLUMN = {
    "merchants": "merchant_id",
    "listings": "listing_id",
    "reviews": "listing_id",
    "lab_results": "listing_id",
}
#: probability columns of a batch output, in `models.contract.RISKS` order
SCORE_COLUMNS = tuple(f"p_{r}" for r in RISKS)
OUTPUT_COLUMNS = ("listing_id", *SCORE_COLUMNS)


@dataclass
class BatchResult:
    """What a batch run did, for the CLI summary and the benchmark."""

    engine: str
    output: str
    n_listings: int
    seconds: float
    #: wall-clock seconds per phase (e.g. check, load/validate, score, write)
    phases: dict[str, float] = field(default_factory=dict)
    #: Spark: seconds its Python workers spent per step, summed over workers (`spark_engine.WorkerTimes`)
    worker_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def listings_per_second(self) -> float:
        return self.n_listings / self.seconds if self.seconds > 0 else float("nan")


def schema_columns(name: str) -> list[str]:
    """All columns of table `name` that the record schema knows."""
    return list(TABLES[name].model_fields)


def required_columns(name: str) -> list[str]:
    """Columns of table `name` that have no default and so must be present in the file."""
    return [n for n, f in TABLES[name].model_fields.items() if f.is_required()]


def find_local_table(directory: Path, name: str) -> Path | None:
    """Path of table `name` in `directory` (Parquet wins over CSV, as in `load_market`), or None."""
    for ext in ("parquet", "csv"):
        p = directory / f"{name}.{ext}"
        if p.exists():
            return p
    return None


def local_columns(path: Path) -> list[str]:
    """Column names of a CSV or Parquet table, read from its header or footer only."""
    if path.suffix.lower() == ".csv":
        try:
            with path.open(encoding="utf-8", newline="") as f:
                return next(csv.reader(f), [])
        except UnicodeDecodeError as e:
            raise RecordError(file=str(path), row=None, column=None, reason=f"not UTF-8 text ({e.reason})") from e
    import pyarrow.dataset as ds

    try:
        # a dataset reads only the footer(s); works for one file and for a directory of part files
        return list(ds.dataset(str(path), format="parquet").schema.names)
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise RecordError(file=str(path), row=None, column=None, reason=f"cannot read Parquet schema: {e}") from e


def check_columns(columns: Mapping[str, Sequence[str] | None], sources: Mapping[str, str]) -> None:
    """Raise `RecordError` naming the table and column when a table lacks a required column.

    `columns` maps each table to the column names found in its file, or None when the file is absent.
    """
    for name in TABLES:
        found = columns.get(name)
        source = sources.get(name, name)
        if found is None:
            if name in REQUIRED_TABLES:
                raise RecordError(
                    file=source, row=None, column=None, reason=f"{name} table not found (.parquet or .csv)"
                )
            continue
        missing = [c for c in required_columns(name) if c not in found]
        if missing:
            raise RecordError(
                file=source,
                row=None,
                column=missing[0],
                reason=f"table '{name}' is missing required column(s): {', '.join(missing)}",
            )


def check_local_market(directory: str | Path) -> dict[str, Path | None]:
    """Check a local market directory's headers before any row is read; return each table's path."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordError(file=str(directory), row=None, column=None, reason="not a directory")
    paths = {name: find_local_table(directory, name) for name in TABLES}
    sources = {name: str(p if p is not None else directory / f"{name}.parquet") for name, p in paths.items()}
    check_columns({name: (local_columns(p) if p is not None else None) for name, p in paths.items()}, sources)
    return paths


def check_scores(scores: pd.DataFrame, listing_ids: Iterable[str], *, scorer_name: str) -> pd.DataFrame:
    """Check a scorer's output covers exactly `listing_ids`; return it reduced to `OUTPUT_COLUMNS`."""
    missing = [c for c in OUTPUT_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scorer {scorer_name!r} returned no column(s) {missing}")
    expected = pd.Index(listing_ids)
    got = pd.Index(scores["listing_id"])
    if len(got) != len(expected) or not got.sort_values().equals(expected.sort_values()):
        raise ValueError(
            f"scorer {scorer_name!r} returned {len(got)} rows for {len(expected)} listings"
            " (it must return exactly one row per listing)"
        )
    out = scores.loc[:, list(OUTPUT_COLUMNS)].copy()
    out["listing_id"] = out["listing_id"].astype(str)
    for c in SCORE_COLUMNS:
        out[c] = out[c].astype("float64")
    return out.reset_index(drop=True)


def empty_scores() -> pd.DataFrame:
    """A batch output with no rows (a market without listings)."""
    return pd.DataFrame(
        {"listing_id": pd.Series(dtype="object")} | {c: pd.Series(dtype="float64") for c in SCORE_COLUMNS}
    )


def temporary_sibling(out: Path) -> Path:
    """A fresh hidden path next to `out`, on the same file system so that a rename is atomic."""
    return out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:12]}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def check_output(out: Path, *, overwrite: bool) -> None:
    """Refuse to start when `out` exists (unless `overwrite`) or its folder does not."""
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")


def publish(tmp: Path, out: Path, *, overwrite: bool) -> None:
    """Move a finished `tmp` (file or directory) to `out` by rename, so `out` is complete or absent.

    A file replaces a file atomically (`os.replace`). Replacing anything else takes two renames: the
    old output is renamed aside first, so at every moment `out` is either the old complete output,
    the new complete output, or (for an instant) absent; never partial.
    """
    if not (out.exists() or out.is_symlink()):
        os.rename(tmp, out)
        return
    if not overwrite:
        _remove(tmp)
        raise FileExistsError(f"{out} appeared while scoring; pass --overwrite to replace it")
    if tmp.is_file() and out.is_file():
        os.replace(tmp, out)
        return
    aside = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:12]}")
    os.rename(out, aside)
    os.rename(tmp, out)
    _remove(aside)


def write_parquet_atomic(frame: pd.DataFrame, out: Path, *, overwrite: bool) -> None:
    """Write `frame` as one Parquet file at `out` via a temporary sibling and a rename."""
    tmp = temporary_sibling(out)
    try:
        frame.to_parquet(tmp, index=False)
        publish(tmp, out, overwrite=overwrite)
    finally:
        _remove(tmp)


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a batch output (one Parquet file from the pandas engine or a directory of part files from
    Spark), sorted by `listing_id`."""
    frame = pd.read_parquet(path)
    return frame.loc[:, list(OUTPUT_COLUMNS)].sort_values("listing_id", ignore_index=True)
