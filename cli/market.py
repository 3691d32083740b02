"""`choujian simulate`: a market with known ground truth, the data every other command can start from."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class TableFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


def simulate_command(
    out: Annotated[Path, typer.Option(help="Directory to write the market and its ground truth to.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed and sizes give the same market.")] = 7,
    merchants: Annotated[int, typer.Option(min=1, help="Number of shops.")] = 2000,
    listings: Annotated[int, typer.Option(min=1, help="Number of listings.")] = 50_000,
    fmt: Annotated[TableFormat, typer.Option("--format", help="File format of the four tables.")] = (
        TableFormat.parquet
    ),
) -> None:
    """Simulate a market with known ground truth (tables, ground truth, manifest.json)."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from training.simulator import simulate, write_simulation

    console = Console(stderr=True)
    steps = ["merchants", "listings", "risk", "reviews", "lab results", "summary", "write"]
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]simulate[/bold] {task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task(steps[0], total=len(steps))

        def advance(done: str) -> None:
            i = steps.index(done) + 1
            bar.update(task, advance=1, description=steps[i] if i < len(steps) else "done")

        sim = simulate(merchants, listings, seed=seed, progress=advance)
        write_simulation(sim, out, fmt=fmt.value)
        advance("write")
    rates = sim.manifest["rates"]
    table = Table(title=f"simulated market → {out}  ({time.perf_counter() - t0:.1f} s)")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, n in sim.manifest["sizes"].items():
        table.add_row(name, f"{n:,}")
    for key in (
        "fail_p_mean",
        "fail_realised",
        "counterfeit_realised",
        "false_advertising_realised",
        "quality_realised",
        "three_no_realised",
        "labelled_share",
        "labelled_fail_rate",
    ):
        table.add_row(key, f"{rates[key]:.3f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
