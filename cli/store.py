"""`choujian ingest DIR` and `choujian export --out DIR`: a market directory into the service's store and back.

Ingest validates the whole directory first (`features.market.load_market`, the loader every command uses, and
its optional `removals` table), then writes it in one transaction: a bad row names its file, row and column
and leaves the store as it was; the same files twice change nothing. Export writes the store back as a market
directory, with every lab result recorded through the API or the pages, so `train`, `evaluate` and
`score-batch` read it unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import fail, first_line
from cli.market import TableFormat

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from serving import market_store
    from serving.market_store import IngestReport


def _engine(database_url: str | None) -> Engine:
    from serving import store
    from serving.db import make_engine
    from serving.settings import Settings

    engine = make_engine(database_url or Settings().database_url)
    store.upgrade(engine)
    return engine


def _sources(directory: Path) -> dict[str, str]:
    """The file each table was read from (Parquet wins over CSV, as in `load_market`), for messages."""
    out = {}
    for name in ("merchants", "listings", "reviews", "lab_results", "removals"):
        for ext in ("parquet", "csv"):
            if (directory / f"{name}.{ext}").exists():
                out[name] = str(directory / f"{name}.{ext}")
                break
    return out


def ingest_command(
    directory: Annotated[
        Path, typer.Argument(help="A market directory (CSV or Parquet tables, as `simulate` writes).")
    ],
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Load a market directory into the store: validated first, all or nothing, idempotent, history kept."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from features.market import RecordError, load_market, load_removals
    from serving import market_store
    from serving.db import make_sessionmaker

    console = Console(stderr=True)
    t0 = time.perf_counter()
    try:
        market = load_market(directory)
        removals = load_removals(directory, market.merchants["merchant_id"])
    except RecordError as e:
        fail(first_line(e))
    frames = market_store.MarketFrames.of(market, removals, sources=_sources(directory))
    engine = _engine(database_url)
    with (
        Progress(
            TextColumn("[bold]ingest[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as bar,
        make_sessionmaker(engine)() as session,
    ):
        tasks: dict[str, object] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)  # type: ignore[arg-type]

        try:
            report = market_store.ingest(session, frames, source="cli", actor=str(directory)[:200], progress=progress)
            session.commit()
        except RecordError as e:
            session.rollback()
            fail(first_line(e))
    engine.dispose()
    _print_report(console, report, directory=directory, seconds=time.perf_counter() - t0)


def _print_report(console: object, report: IngestReport, *, directory: Path, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    assert isinstance(console, Console)
    what = f"revision {report.revision}" if report.revision is not None else "nothing changed"
    table = Table(title=f"ingest {directory} → store: {what} ({seconds:.1f} s)")
    for col in ("table", "inserted", "updated", "unchanged", "rows/s"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for name, c in report.counts.items():
        rate = f"{c.rows / c.seconds:,.0f}" if c.seconds > 0 else "—"
        table.add_row(name, f"{c.inserted:,}", f"{c.updated:,}", f"{c.unchanged:,}", rate)
    console.print(table)
    console.print(f"identity registry: {report.linked_merchants:,} merchant(s) linked")


def export_store(out: Path, *, database_url: str | None = None, fmt: str = "parquet") -> market_store.Export:
    """Write the store as a market directory at `out` (recorded lab results included, with their inclusion
    probabilities): what `export`, `train --store` and `round` all train on. Fails with one line on an empty store."""
    from serving import market_store
    from serving.db import make_sessionmaker

    engine = _engine(database_url)
    with make_sessionmaker(engine)() as session:
        exported = market_store.read_market(session, with_recorded=True)
    engine.dispose()
    if not len(exported.market.listings):
        fail("the store holds no listings: run `choujian ingest DIR` first")
    exported.market.write(out, fmt=fmt)
    if len(exported.removals):
        name = out / f"removals.{fmt}"
        if fmt == "csv":
            exported.removals.to_csv(name, index=False)
        else:
            exported.removals.to_parquet(name, index=False)
    m = exported.market
    typer.echo(
        f"exported {len(m.merchants):,} merchants, {len(m.listings):,} listings, {len(m.reviews):,} reviews, "
        f"{len(m.lab_results):,} lab results ({exported.recorded:,} recorded through the service) → {out}",
        err=True,
    )
    if exported.skipped:
        typer.secho(
            f"warning: {exported.skipped} recorded result(s) name listings the store does not hold: not exported",
            fg=typer.colors.YELLOW,
            err=True,
        )
    return exported


def export_command(
    out: Annotated[Path, typer.Option(help="Directory to write the market to (created if missing).")],
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="File format of the tables.")] = TableFormat.parquet,
) -> None:
    """Write the store as a market directory, with every recorded lab result and its inclusion probability."""
    export_store(out, database_url=database_url, fmt=fmt.value)


def store_export_dir(what: str, root: Path | None = None) -> Path:
    """A new folder under `root` (default: data/processed/store-exports) for one job's export; kept, because
    `promote` re-creates the challenger's holdout from the directory it was trained on."""
    from datetime import UTC, datetime

    from core.paths import STORE_EXPORTS_DIR

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return (root or STORE_EXPORTS_DIR) / f"{what}-{stamp}"


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("export")(export_command)
