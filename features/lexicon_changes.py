"""Analysts' changes to a lexicon directory: accept a suggested phrase into a kind, or reject it, with history.

Accepting appends the phrase to `<kind>.txt` (or `.tsv`) and bumps that file's `# version:` line
(`2026.11-1` → `2026.11-2`), so `Lexicon.version`, which the next trained bundle records, changes with it.
Every decision (accept or reject) is one JSON line in `history.jsonl` in the same directory: who, when,
phrase, kind, the evidence the analyst saw, a note, and the lexicon versions before and after. A rejected
phrase is no longer suggested (`rejected_phrases`); accepting it later is still allowed.

Files are never left half-written: each is written to a temporary file in the directory and moved over the
old one (`os.replace`), and one change at a time holds an exclusive lock on the directory, so two analysts
(or two service workers) accepting at once both land. The CLI and the planner pages both call this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.lexicon import KINDS, Lexicon, lexicon_file, read_lexicon_file
from features.normalize import normalize_text

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
#: shortest and longest phrase (normalised characters) a lexicon takes: one character would hit everywhere
MIN_LEN, MAX_LEN = 2, 30
_VERSION_LINE = re.compile(r"^(#\s*version:\s*)(\S+)(.*)$")
_BAD_CHARS = re.compile(r"[\t\r\n\x00]")


class LexiconChangeError(ValueError):
    """A change the lexicon refuses (empty, duplicate or unknown kind); the message is one line for the user."""


@dataclass(frozen=True)
class LexiconChange:
    """One analyst decision, as `history.jsonl` keeps it."""

    action: str  # "accept" or "reject"
    phrase: str
    kind: str
    by: str
    at: str  # ISO 8601, UTC
    previous_version: str
    version: str
    kind_version: str = ""  # the kind file's version after the change
    evidence: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def check_phrase(phrase: str, kind: str, lexicon: Lexicon) -> str:
    """The phrase as it will be written (stripped), or `LexiconChangeError` saying why it cannot join `kind`."""
    text = phrase.strip()
    norm = normalize_text(text)
    if not norm:
        raise LexiconChangeError("the phrase is empty (nothing left after normalisation)")
    if _BAD_CHARS.search(text) or text.startswith("#"):
        raise LexiconChangeError(f"the phrase {text!r} may not hold tabs, line breaks or start with '#'")
    if not MIN_LEN <= len(norm) <= MAX_LEN:
        raise LexiconChangeError(f"the phrase {text!r} must be {MIN_LEN}–{MAX_LEN} characters after normalisation")
    if kind not in lexicon.kinds:
        raise LexiconChangeError(f"unknown lexicon kind {kind!r}: one of {', '.join(lexicon.kinds)}")
    held = _holder(lexicon, norm)
    if held is not None:
        k, p = held
        written = "" if p == text else f" (written {p!r})"
        raise LexiconChangeError(f"{text!r} is already in the {k} lexicon{written}")
    return text


def _holder(lexicon: Lexicon, norm: str) -> tuple[str, str] | None:
    """The first lexicon kind (and its phrase as written) holding a phrase that normalises to `norm`."""
    for k in lexicon.kinds:
        for p in lexicon.phrases.get(k, ()):
            if normalize_text(p) == norm:
                return k, p
    return None


def accept(
    directory: str | Path,
    phrase: str,
    *,
    kind: str,
    by: str,
    evidence: dict[str, Any] | None = None,
    note: str = "",
) -> LexiconChange:
    """Add `phrase` to the `kind` lexicon in `directory`, bump its version and record the change."""
    by = _who(by)
    with _locked(Path(directory)) as d:
        before = Lexicon.load(d, kinds=_kinds(d))
        text = check_phrase(phrase, kind, before)
        path = lexicon_file(d, kind)
        assert path is not None  # Lexicon.load found it
        _, kind_version = read_lexicon_file(path)
        new_kind_version = _bump(kind_version)
        _write_atomic(path, _with_phrase(path, text, new_kind_version, note=note, by=by))
        after = Lexicon.load(d, kinds=_kinds(d))
        change = LexiconChange(
            action="accept",
            phrase=text,
            kind=kind,
            by=by,
            at=_now(),
            previous_version=before.version,
            version=after.version,
            kind_version=new_kind_version,
            evidence=evidence or {},
            note=note,
        )
        _append_history(d, change)
    logger.info("lexicon %s: %r accepted into %s by %s (now %s)", d, text, kind, by, new_kind_version)
    return change


def reject(
    directory: str | Path,
    phrase: str,
    *,
    by: str,
    kind: str = "",
    evidence: dict[str, Any] | None = None,
    note: str = "",
) -> LexiconChange:
    """Record that `phrase` should not join a lexicon (it is then no longer suggested); no file changes."""
    by = _who(by)
    text = phrase.strip()
    norm = normalize_text(text)
    if not norm:
        raise LexiconChangeError("the phrase is empty (nothing left after normalisation)")
    with _locked(Path(directory)) as d:
        lex = Lexicon.load(d, kinds=_kinds(d))
        if kind and kind not in lex.kinds:
            raise LexiconChangeError(f"unknown lexicon kind {kind!r}: one of {', '.join(lex.kinds)}")
        held = _holder(lex, norm)
        if held is not None:
            raise LexiconChangeError(f"{text!r} is in the {held[0]} lexicon: rejecting a suggestion does not remove it")
        if norm in rejected_phrases(d):
            raise LexiconChangeError(f"{text!r} was already rejected")
        change = LexiconChange(
            action="reject",
            phrase=text,
            kind=kind,
            by=by,
            at=_now(),
            previous_version=lex.version,
            version=lex.version,
            evidence=evidence or {},
            note=note,
        )
        _append_history(d, change)
    logger.info("lexicon %s: %r rejected by %s", d, text, by)
    return change


def history(directory: str | Path) -> list[LexiconChange]:
    """Every recorded decision, oldest first (empty for a directory nobody changed)."""
    path = Path(directory) / HISTORY_FILE
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(LexiconChange(**json.loads(line)))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}, line {n}: not a lexicon change record ({e})") from e
    return out


def rejected_phrases(directory: str | Path) -> set[str]:
    """Normalised phrases whose latest decision is a rejection (not to be suggested again)."""
    latest: dict[str, str] = {}
    for c in history(directory):
        latest[normalize_text(c.phrase)] = c.action
    return {p for p, action in latest.items() if action == "reject"}


# -- files ------------------------------------------------------------------------------------------------
def _kinds(directory: Path) -> tuple[str, ...]:
    """The product's kinds present in `directory` (a deployment's folder may hold only some)."""
    present = tuple(k for k in KINDS if lexicon_file(directory, k) is not None)
    if not present:
        raise LexiconChangeError(f"no lexicon files in {directory}")
    return present


def _who(by: str) -> str:
    by = " ".join(str(by).split())
    if not by:
        raise LexiconChangeError("say who makes the change (a name or staff id)")
    return by[:100]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _bump(version: str) -> str:
    """`2026.11-1` → `2026.11-2`, `7` → `8`; a version without a trailing number gets `-1`."""
    m = re.match(r"^(.*?)(\d+)$", version)
    if m and not version.startswith("md5-"):
        return f"{m.group(1)}{int(m.group(2)) + 1}"
    return "1" if version.startswith("md5-") else f"{version}-1"


def _with_phrase(path: Path, phrase: str, version: str, *, note: str, by: str) -> str:
    """The file's text with its version line set to `version` and `phrase` appended (a note column in .tsv)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = _VERSION_LINE.match(line)
        if m:
            lines[i] = f"{m.group(1)}{version}{m.group(3)}"
            break
    else:
        lines.insert(0, f"# version: {version}")
    if path.suffix == ".tsv":
        extra = " ".join(f"accepted by {by}; {note}".split()).strip("; ")
        lines.append(f"{phrase}\t{extra}")
    else:
        lines.append(phrase)
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a reader sees the old file or the new one, never a mix."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _append_history(directory: Path, change: LexiconChange) -> None:
    path = directory / HISTORY_FILE
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    _write_atomic(path, old + json.dumps(asdict(change), ensure_ascii=False, sort_keys=True) + "\n")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[Path]:
    """Hold an exclusive lock on the directory itself (no lock file to leave behind) while changing it."""
    if not directory.is_dir():
        raise LexiconChangeError(f"no lexicon directory {directory}")
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


__all__ = [
    "HISTORY_FILE",
    "LexiconChange",
    "LexiconChangeError",
    "accept",
    "check_phrase",
    "history",
    "rejected_phrases",
    "reject",
]
