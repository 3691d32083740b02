"""The layer contracts in pyproject.toml hold, and a forbidden import breaks them (so they can fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "features", "models", "sampling", "training", "serving", "cli")
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copies, ahead of the installed checkout
    return subprocess.run(
        [str(LINT), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp / pkg, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_the_layers_hold() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("module", "line", "edge"),
    [
        ("training/corpus.py", "import serving.store", "training.corpus -> serving.store"),
        ("serving/metrics.py", "from training import train", "serving.metrics -> training.train"),
        ("features/normalize.py", "from models import contract", "features.normalize -> models.contract"),
        ("sampling/estimation.py", "import sqlalchemy", "sampling.estimation -> sqlalchemy"),
    ],
)
def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path, module: str, line: str, edge: str) -> None:
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # the edge the contracts forbid\n")
    res = _lint(root)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "BROKEN" in out and edge in out
