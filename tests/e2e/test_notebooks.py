"""The model-review notebook runs top to bottom on a fresh evaluation report (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from training.evaluate import evaluate
from training.simulator import Simulation, write_simulation

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tiny_simulation: Simulation, tiny_bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation report of the session's tiny bundle on the tiny market (ground truth included)."""
    tmp = tmp_path_factory.mktemp("notebook")
    data = tmp / "market"
    write_simulation(tiny_simulation, data)
    tiny_bundle.save(tmp / "bundle")
    out = tmp / "reports" / "evaluation.json"
    evaluate(data, model=str(tmp / "bundle"), out=out, log_to_mlflow=False)
    return out


def test_model_review_notebook_executes(report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHOUJIAN_EVALUATION", str(report))
    path = ROOT / "notebooks" / "1.0-model-review.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 3  # lift, PR curves, calibration
    # the notebook imports project code and defines none
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def " not in source and "class " not in source
