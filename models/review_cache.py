"""A memo in front of the transformer review model, with an optional on-disk score store.

Training scores the same review texts several times (listing pipeline, merchant pipeline, held-out
scoring, the merchant table) and simulated or real markets repeat texts across listings, so each
distinct text is run through the transformer once per process. The memo is never pickled: a loaded
bundle starts empty, and its scores are the model's own, so caching cannot change a number.

Batch commands (`train`, `evaluate`, `plan`, `score-batch`) also switch on a score store shared across
processes (`use_score_store`): one SQLite file per model, keyed by the SHA-256 of every file of the model
folder plus its backend and the text normaliser, so a retrained or re-exported model never reads another
model's scores. Re-scoring a catalogue whose reviews have not changed then costs no encoder pass. The
online service does not use it. `CHOUJIAN_SCORE_CACHE=off` turns it off; any other value is its folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

_store_dir: Path | None = None
#: SQLite's default limit on host parameters is 999 (older builds); stay under it
_CHUNK = 900


def default_store_dir() -> Path | None:
    """`$CHOUJIAN_SCORE_CACHE` (`off` for none), else `<project>/data/processed/score-cache`."""
    from core.settings import shared_settings

    return shared_settings().score_cache_dir()


def use_score_store(path: str | Path | None) -> None:
    """Switch the on-disk score store on (a folder) or off (None) for this process."""
    global _store_dir
    _store_dir = Path(path) if path is not None else None


def current_store_dir() -> Path | None:
    """The folder of the score store this process uses, or None."""
    return _store_dir


def use_default_score_store() -> None:
    """What the batch commands call: the store in `default_store_dir()` (or none when that is off)."""
    use_score_store(default_store_dir())


def model_key(scorer: Any) -> str | None:
    """SHA-256 of the model folder's files, backend and normaliser; None for a scorer without a folder."""
    folder = getattr(scorer, "path", None)
    if folder is None or not Path(folder).is_dir():
        return None
    from features.normalize import NORMALIZER_VERSION

    h = hashlib.sha256()
    h.update(f"{type(scorer).__module__}.{type(scorer).__qualname__}|{getattr(scorer, 'backend', None)}".encode())
    h.update(f"|normalizer {NORMALIZER_VERSION}".encode())
    root = Path(folder)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        with f.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


class _Store:
    """text -> probability in one SQLite file (WAL, so readers and a writer can share it)."""

    def __init__(self, file: Path) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(file, timeout=30)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("CREATE TABLE IF NOT EXISTS scores (text TEXT PRIMARY KEY, p REAL NOT NULL)")

    def get(self, texts: list[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for i in range(0, len(texts), _CHUNK):
            part = texts[i : i + _CHUNK]
            q = f"SELECT text, p FROM scores WHERE text IN ({','.join('?' * len(part))})"
            out.update(self.con.execute(q, part).fetchall())
        return out

    def put(self, items: dict[str, float]) -> None:
        with self.con:
            self.con.executemany("INSERT OR IGNORE INTO scores (text, p) VALUES (?, ?)", items.items())


class CachedReviewScorer:
    """`predict_proba(texts)` of the wrapped scorer, computing each distinct text once."""

    def __init__(self, scorer: Any, *, max_items: int = 2_000_000) -> None:
        self.scorer = scorer
        self.max_items = max_items
        self._memo: dict[str, float] = {}
        self._store: _Store | None = None
        self._store_for: Path | None = None
        self._store_pid = os.getpid()

    @property
    def path(self) -> Any:
        """The wrapped model's folder (what `choujian reviews score` and the registry report)."""
        return getattr(self.scorer, "path", None)

    def _disk(self) -> _Store | None:
        """The store of this model in the active folder, opened on first use (None when off)."""
        if _store_dir is None:
            return None
        if self._store_for != _store_dir or self._store_pid != os.getpid():  # a forked child opens its own
            key = model_key(self.scorer)
            self._store = _Store(_store_dir / f"{key[:24]}.sqlite") if key is not None else None
            self._store_for = _store_dir
            self._store_pid = os.getpid()
        return self._store

    def predict_proba(self, texts: Sequence[object]) -> NDArray[np.float64]:
        """Complaint probability per text, shape (n,)."""
        keys = [str(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            found: dict[str, float] = {}
            store = self._disk()
            if store is not None:
                found = store.get(missing)
                missing = [k for k in missing if k not in found]
            computed: dict[str, float] = {}
            if missing:
                p = np.asarray(self.scorer.predict_proba(missing), dtype=np.float64)
                if p.ndim == 2:  # (n, 2) classifiers: the complaint class is the last column
                    p = p[:, -1]
                computed = dict(zip(missing, p.tolist(), strict=True))
                if store is not None:
                    store.put(computed)
            if len(self._memo) + len(found) + len(computed) > self.max_items:
                wanted = set(keys)  # keep what this call still needs
                self._memo = {k: v for k, v in self._memo.items() if k in wanted}
            self._memo.update(found)
            self._memo.update(computed)
        return np.fromiter((self._memo[k] for k in keys), dtype=np.float64, count=len(keys))

    def __getstate__(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "max_items": self.max_items}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["scorer"], max_items=state["max_items"])  # type: ignore[misc]
