"""The command's normal output is its own: other libraries' INFO lines (alembic, MLflow) and their expected
warnings (transformers' LOAD REPORT, MLflow's pickling and type-hint notes) appear only with --verbose."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _choujian(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHOUJIAN_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("MLFLOW_LOGGING_LEVEL", None)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )


def test_db_upgrade_prints_no_alembic_info_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    quiet = _choujian("db", "upgrade", "--database-url", url, tmp_path=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "revision" in quiet.stdout
    assert "alembic" not in quiet.stderr and "Context impl" not in quiet.stderr, quiet.stderr
    # the same command with --verbose shows them: the check above would see them
    other = f"sqlite:///{tmp_path / 'other.db'}"
    loud = _choujian("--verbose", "db", "upgrade", "--database-url", other, tmp_path=tmp_path)
    assert loud.returncode == 0 and "INFO alembic.runtime.migration" in loud.stderr


def test_models_list_prints_no_mlflow_info_lines(tmp_path: Path) -> None:
    r = _choujian("models", "list", tmp_path=tmp_path)
    assert r.returncode == 0 and "no versions" in r.stdout
    assert "INFO mlflow" not in r.stderr and "Creating initial MLflow database tables" not in r.stderr, r.stderr


@pytest.fixture
def restore_logging() -> Iterator[None]:
    from cli.main import NOISY_LOGGERS, QUIET_FILTERS, SILENT_LOGGERS

    names = [*NOISY_LOGGERS, *SILENT_LOGGERS, *QUIET_FILTERS]
    levels = {n: logging.getLogger(n).level for n in names}
    filters = {n: list(logging.getLogger(n).filters) for n in names}
    with warnings.catch_warnings():
        yield
    logging.captureWarnings(False)
    for n in names:
        logging.getLogger(n).setLevel(levels[n])
        logging.getLogger(n).filters[:] = filters[n]


@pytest.mark.usefixtures("restore_logging")
def test_expected_library_warnings_only_with_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import configure_output

    for name in ("MLFLOW_LOGGING_LEVEL", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
        monkeypatch.setenv(name, "")  # so that monkeypatch restores whatever the command sets
        monkeypatch.delenv(name)

    def shown(logger: str, msg: str, *args: object) -> bool:
        log = logging.getLogger(logger)
        record = log.makeRecord(logger, logging.WARNING, __file__, 1, msg, args, None)
        return log.isEnabledFor(logging.WARNING) and bool(log.filter(record))

    report = "BertForSequenceClassification LOAD REPORT from: data/pretrained/choujian-bert-mini\n..."
    pickled = "Passing a Python object as `python_model` causes it to be serialized using CloudPickle, ..."
    hints = "\x1b[33mAdd type hints to the `predict` method to enable data validation ...\x1b[0m"
    configure_output(verbose=False)
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    assert not shown("transformers.modeling_utils", report)
    assert not shown("mlflow.pyfunc", pickled)
    assert not shown("py.warnings", "%s", f"data_validation.py:187: UserWarning: {hints}")
    assert shown("mlflow.pyfunc", "The version of CloudPickle used to save the model differs")  # a real problem
    assert not logging.getLogger("alembic").isEnabledFor(logging.INFO)
    configure_output(verbose=True)
    assert shown("transformers.modeling_utils", report) and shown("mlflow.pyfunc", pickled)
    assert logging.getLogger("alembic").isEnabledFor(logging.INFO)


def test_onnx_runtime_info_through_the_root_logger_is_dropped_by_default() -> None:
    """ONNX Runtime's quantiser logs one INFO line per tensor on the root logger: not shown without --verbose."""
    import logging

    from cli.main import configure_output

    root = logging.getLogger()
    ort = logging.LogRecord(
        "root", logging.INFO, "/x/site-packages/onnxruntime/quantization/q.py", 1, "tensor", None, None
    )
    ours = logging.LogRecord("root", logging.INFO, "/x/training/text/review.py", 1, "ours", None, None)
    try:
        configure_output(verbose=False)
        assert not root.filter(ort) and root.filter(ours)
        configure_output(verbose=True)
        assert root.filter(ort)
    finally:
        configure_output(verbose=False)
