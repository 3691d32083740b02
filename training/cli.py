"""`choujian`: the one command-line tool. Each command imports its heavy dependencies lazily so that
`choujian --help` stays fast."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

app = typer.Typer(
    name="choujian",
    help="抽检 Choujian: risk scores and budgeted mystery-buyer sampling plans for Chinese e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


# --- commands: each section below is owned by one part of the product -------------------------------
# (simulate)
# (features)
# (models)
# (planner)
# (serving)
# (batch)


def main() -> None:
    app()
