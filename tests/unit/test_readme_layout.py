"""The README's layout section names every top-level folder of the checkout, and only folders that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1]


def _named_folders(block: str) -> set[str]:
    """Folder names the block introduces: `name/` at the start of a line or after '; '."""
    return set(re.findall(r"(?:^|; )([a-z_]+)/", block, flags=re.MULTILINE))


def _tracked_folders() -> set[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return {f.split("/", 1)[0] for f in files if "/" in f and not f.startswith(".")}


def test_the_layout_names_every_top_level_folder_and_no_other() -> None:
    named, tracked = _named_folders(_layout_block()), _tracked_folders()
    assert tracked - named == set(), "folders the README's layout section does not describe"
    assert named - tracked == set(), "folders the README's layout section names that the checkout lacks"
