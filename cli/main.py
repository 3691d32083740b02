"""`choujian`: the one command-line tool, and the composition root: the only place that wires training
(simulate, train, evaluate, promote) and serving (serve, keys, db) together. Each stage's commands live in
a module of their own and import their heavy dependencies lazily, so `choujian --help` stays fast.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from cli import batch, lexicon, market, models, plans, pretrain, reviews, rounds, service, store, worlds

app = typer.Typer(
    name="choujian",
    help="抽检 Choujian: risk scores and budgeted mystery-buyer sampling plans for Chinese e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


#: libraries whose INFO lines (alembic's "Context impl SQLiteImpl", MLflow's "Creating initial MLflow database
#: tables") are noise to a user of the command: shown with --verbose only (their DEBUG lines never)
NOISY_LOGGERS = ("alembic", "mlflow", "urllib3", "httpx", "py4j", "transformers")
#: SQLAlchemy's INFO and DEBUG lines are every statement and mapper detail: never shown
SILENT_LOGGERS = ("sqlalchemy",)


class _DropMessages(logging.Filter):
    """Drop records whose message contains one of `needles`: warnings about our own, intended choices."""

    def __init__(self, *needles: str):
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(n in msg for n in self.needles)


class _DropInfoFrom(logging.Filter):
    """Drop INFO and DEBUG records a library logs through the root logger (ONNX Runtime's quantiser writes
    one line per tensor with `logging.info`), recognised by the file that logged them."""

    def __init__(self, package: str):
        super().__init__()
        self.part = f"/{package}/"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or self.part not in record.pathname.replace("\\", "/")


#: logger → the filter for its expected, harmless warnings: transformers' per-load "LOAD REPORT" (a fine-tuned
#: head that the pre-trained checkpoint lacks, by design); MLflow's note that a Python model is pickled (the
#: bundle is ours, loaded only from our own registry) and, through `warnings` (py.warnings), its advice to add
#: type hints to `predict` (ours takes a dict of tables or a frame on purpose: models/pyfunc.py). MLflow shows
#: that one inside its own `simplefilter("once")`, so a `warnings` filter cannot hide it: logging can.
QUIET_FILTERS = {
    "transformers.modeling_utils": _DropMessages("LOAD REPORT"),
    "mlflow.pyfunc": _DropMessages("serialized using CloudPickle"),
    "py.warnings": _DropMessages("Add type hints to the `predict` method"),
    "": _DropInfoFrom("onnxruntime"),  # the root logger
}


def configure_output(*, verbose: bool) -> None:
    """Our own INFO lines always; other libraries' INFO lines and their expected warnings only with --verbose.

    MLflow sets its loggers' levels when it is imported, from MLFLOW_LOGGING_LEVEL: the command sets that
    default too, so the libraries each command imports later stay as quiet as those already imported.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # the commands show their own
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    for name in SILENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, quiet in QUIET_FILTERS.items():
        logger = logging.getLogger(name)
        logger.removeFilter(quiet)
        if not verbose:
            logger.addFilter(quiet)
    logging.captureWarnings(True)  # warnings become one log line each, in the same format, filterable


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug messages, and other libraries' notes and warnings.")
    ] = False,
) -> None:
    configure_output(verbose=verbose)


market.register(app)  # simulate
models.register(app)  # train, evaluate, promote, models list|info
app.command("pretrain")(pretrain.pretrain_command)
app.add_typer(reviews.reviews_app, name="reviews")
plans.register(app)  # plan, estimate, simulate-rounds
service.register(app)  # serve, keys, db
store.register(app)  # ingest, export
rounds.register(app)  # round: export → retrain → promote → next plan → report
batch.register(app)  # score-batch
worlds.register(app)  # simulate-world, cross-world, cues
app.add_typer(lexicon.lexicon_app, name="lexicon")  # accept, reject, history


def main() -> None:
    app()


if __name__ == "__main__":
    main()
