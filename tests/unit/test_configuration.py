"""One configuration story: settings are the only reader of CHOUJIAN_* variables, core/paths.py the only
place that knows where the project is, and the README's table lists every setting."""

from __future__ import annotations

import re
from pathlib import Path

from serving.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "features", "models", "sampling", "training", "serving", "cli")


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]


def test_nothing_but_the_settings_reads_choujian_variables() -> None:
    reads = re.compile(r"(os\.environ|getenv)[^\n]*CHOUJIAN_")
    offenders = [str(p.relative_to(ROOT)) for p in _sources() if reads.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_only_the_paths_module_works_out_the_project_root() -> None:
    climbs = re.compile(r"Path\(__file__\)\.resolve\(\)\.(parent\.parent|parents\[)")
    offenders = [str(p.relative_to(ROOT)) for p in _sources() if climbs.search(p.read_text(encoding="utf-8"))]
    assert offenders == ["core/paths.py"]


def test_the_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(CHOUJIAN_[A-Z_]+)`", readme, flags=re.M))
    fields = {f"CHOUJIAN_{name.upper()}" for name in Settings.model_fields}
    assert fields == table
