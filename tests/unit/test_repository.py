"""The checkout itself: no tracked text file carries a merge's conflict markers (a README once did)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)
TEXT = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".tsv", ".csv", ".html", ".js", ".css", ".sh", ".cfg", ".json"}


def test_no_tracked_file_has_conflict_markers() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    marked = []
    for name in files:
        path = ROOT / name
        if path.suffix in TEXT and path.is_file() and path.stat().st_size < 5_000_000:
            if MARKER.search(path.read_text(encoding="utf-8", errors="replace")):
                marked.append(name)
    assert not marked, f"conflict markers in {marked}"
