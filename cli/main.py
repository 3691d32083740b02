"""`choujian`: the one command-line tool, and the composition root: the only place that wires training
(simulate, train, evaluate, promote) and serving (serve, keys, db) together. Each stage's commands live in
a module of their own and import their heavy dependencies lazily, so `choujian --help` stays fast.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli import batch, market, models, plans, pretrain, reviews, service

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


market.register(app)  # simulate
models.register(app)  # train, evaluate, promote, models list|info
app.command("pretrain")(pretrain.pretrain_command)
app.add_typer(reviews.reviews_app, name="reviews")
plans.register(app)  # plan, estimate, simulate-rounds
service.register(app)  # serve, keys, db
batch.register(app)  # score-batch


def main() -> None:
    app()


if __name__ == "__main__":
    main()
