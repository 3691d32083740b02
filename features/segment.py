"""The segmenter: a model artifact with its own dictionary, saved with the model and warmed on load.

jieba is the reference: `Segmenter.reference()` is a private `jieba.Tokenizer` (never the global
`jieba.dt`) loaded with exactly the same merged dictionary. The production backend is jieba-rs (the
`rjieba` binding) fed the same words and frequencies, which segments about ten times faster. Two places
where jieba-rs departs from jieba's default mode are repaired so the output stays jieba's:

* jieba hands any run of characters that the dictionary graph leaves as single characters to
  `finalseg.cut`, which splits non-Chinese runs with `re_skip` (``[a-zA-Z0-9]+(?:\\.\\d+)?%?``); so
  "3-4", "I-V" and "yahoo.com" come out as "3", "-", "4". jieba-rs keeps them whole: we re-split them.
* jieba's HMM breaks exact Viterbi ties by state name; jieba-rs breaks them the other way. Ties only
  arise on periodic runs such as 赞赞赞赞赞, so such runs are re-cut with jieba's own `finalseg`.

Both repairs touch only the few texts that need them, so the speed comes from the backend, not from
caching. `benchmarks/tokenize.py` measures speed and agreement on the real review corpus.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import not_
from pathlib import Path
from typing import Any

import jieba
import jieba.finalseg
import rjieba

from core.paths import LEXICON_DIR

logger = logging.getLogger(__name__)

USER_DICT = LEXICON_DIR / "user_dict.txt"
BASE_DICT = Path(jieba.__file__).resolve().parent / "dict.txt"

# jieba's own patterns (jieba/__init__.py and jieba/finalseg/__init__.py, version 0.42.1)
_RE_SKIP_HMM = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_RE_HAN_HMM = re.compile("^[\u4e00-\u9fd5]+$")
_RE_USERDICT = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")
# a text can only need the first repair if an ASCII letter/digit touches one of jieba's joiners
_NEEDS_SKIP_SPLIT = re.compile(r"[A-Za-z0-9][+#&._%\-]|[+#&._%\-][A-Za-z0-9]")
_JOINERS = frozenset("+#&._%-")
# ... and the second only if a Chinese character repeats at least four times: an exact Viterbi tie needs
# two HMM words of different lengths made of the same character (赞赞|赞赞赞 against 赞赞赞|赞赞)
_NEEDS_TIE_CHECK = re.compile(r"([\u4e00-\u9fd5])\1{3,}")

_NEEDS_REPAIR = re.compile(r"[A-Za-z0-9][+#&._%\-]|[+#&._%\-][A-Za-z0-9]|([\u4e00-\u9fd5])\1{3}")

_WARMUP = "本品为国家级认证产品，3-4天发货，赞赞赞赞赞！"


@dataclass(frozen=True)
class DictEntry:
    """One user-dictionary word; `freq` None means 'just enough to keep the word whole'."""

    word: str
    freq: int | None = None
    tag: str | None = None


def read_user_dict(path: str | Path) -> list[DictEntry]:
    """Read a jieba-format user dictionary (`word [freq] [tag]`, '#' comments allowed)."""
    entries: list[DictEntry] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _RE_USERDICT.match(line)
        if m is None:  # pragma: no cover - the pattern matches every non-empty line
            continue
        word, freq, tag = m.group(1).strip(), m.group(2), m.group(3)
        entries.append(DictEntry(word, int(freq) if freq else None, tag.strip() if tag else None))
    return entries


def _file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class Segmenter:
    """jieba-compatible word segmentation with a versioned domain dictionary.

    Args:
        user_entries: domain words (brands, product terms, lexicon phrases) added on top of jieba's
            dictionary; a missing frequency is chosen the way `jieba.suggest_freq(word)` does.
        version: the user dictionary's version, saved with the model.
        hmm: use jieba's HMM for unknown words (jieba's default).
        backend: "rjieba" (fast, default) or "jieba" (the reference tokenizer, same dictionary).
    """

    def __init__(
        self,
        user_entries: Iterable[DictEntry] = (),
        *,
        version: str = "unversioned",
        hmm: bool = True,
        backend: str = "rjieba",
    ) -> None:
        if backend not in ("rjieba", "jieba"):
            raise ValueError(f"unknown backend {backend!r}: use 'rjieba' or 'jieba'")
        self.version = version
        self.hmm = hmm
        self.backend = backend
        self.base_dict_md5 = _file_md5(BASE_DICT)
        self._reference: jieba.Tokenizer | None = None
        self._rj, self.user_entries = self._build(list(user_entries))
        self.warm()

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_files(
        cls,
        paths: Sequence[str | Path] = (USER_DICT,),
        *,
        extra: Iterable[DictEntry] = (),
        version: str | None = None,
        **kwargs: Any,
    ) -> Segmenter:
        """A segmenter whose user dictionary is the given files plus `extra` words (e.g. lexicon phrases)."""
        entries: list[DictEntry] = []
        for p in paths:
            entries.extend(read_user_dict(p))
        entries.extend(extra)
        if version is None:
            version = _dict_version(paths)
        return cls(entries, version=version, **kwargs)

    def _build(self, entries: list[DictEntry]) -> tuple[Any, tuple[DictEntry, ...]]:
        """Load jieba's dictionary and the user words into a fresh jieba-rs instance.

        Missing frequencies are resolved here, once, so that the saved entries (and the reference
        tokenizer) carry exactly the numbers the backend used.
        """
        rj = rjieba.Jieba.empty()
        freq: dict[str, int] = {}
        total = 0
        with BASE_DICT.open(encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if not parts:
                    continue
                f = int(parts[1])
                rj.add_word(parts[0], f, parts[2] if len(parts) > 2 else None)
                freq[parts[0]] = f
                total += f
        resolved: list[DictEntry] = []
        seen: set[str] = set()
        for e in entries:
            word = e.word.strip()
            if not word or word in seen or any(c.isspace() for c in word):
                continue
            seen.add(word)
            f = e.freq if e.freq is not None and e.freq > 0 else _suggest_freq(rj, word, freq, total)
            old = freq.get(word)
            if old == f:
                continue
            rj.add_word(word, f, e.tag)
            # jieba-rs replaces a word's frequency in its total; keep the same books for the reference
            total += f - (old or 0)
            freq[word] = f
            resolved.append(DictEntry(word, f, e.tag))
        return rj, tuple(resolved)

    def warm(self) -> None:
        """Run one cut so the first real request does not pay for lazy initialisation."""
        self.cut(_WARMUP)

    # -- segmentation -----------------------------------------------------------------------------
    def cut(self, text: str) -> list[str]:
        """Segment one text exactly as jieba's default mode would (with this dictionary)."""
        if self.backend == "jieba":
            return self.reference().lcut(text, HMM=self.hmm)
        tokens: list[str] = self._rj.cut(text, self.hmm)
        if self.hmm and _NEEDS_REPAIR.search(text) is not None:
            tokens = self._repair(text, tokens)
        return tokens

    def cut_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Segment many texts."""
        if self.backend == "jieba" or not self.hmm:
            return [self.cut(t) for t in texts]
        rj_cut, needs, repair = self._rj.cut, _NEEDS_REPAIR.search, self._repair
        out: list[list[str]] = []
        append = out.append
        for t in texts:
            tokens = rj_cut(t, True)
            append(tokens if needs(t) is None else repair(t, tokens))
        return out

    def _repair(self, text: str, tokens: list[str]) -> list[str]:
        # the checks below run at C speed (map/compress); Python only touches the few bad tokens
        if _NEEDS_SKIP_SPLIT.search(text) is not None:
            tokens = self._split_skip_runs(tokens)
        if _NEEDS_TIE_CHECK.search(text) is not None:
            has_word = self._rj.has_word
            pairs = {m.group(1) * 2 for m in _NEEDS_TIE_CHECK.finditer(text)}
            # 哈哈, 谢谢, 常常 are dictionary words and never reach the HMM; 赞赞 is not
            unknown = [p for p in pairs if not has_word(p)]
            if unknown:
                tokens = self._recut_ties(tokens, unknown)
        return tokens

    def _split_skip_runs(self, tokens: list[str]) -> list[str]:
        n = len(tokens)
        has_word = self._rj.has_word
        # candidates: several characters with a joiner in them ("3-4", "8gb+256gb") and not a word
        idx = [
            i
            for i in compress(range(n), map(not_, map(_JOINERS.isdisjoint, tokens)))
            if len(tokens[i]) > 1 and not has_word(tokens[i])
        ]
        if not idx:
            return tokens
        out = tokens[: idx[0]]
        for k, i in enumerate(idx):
            out.extend(p for p in _RE_SKIP_HMM.split(tokens[i]) if p)
            out.extend(tokens[i + 1 : idx[k + 1] if k + 1 < len(idx) else n])
        return out

    def _recut_ties(self, tokens: list[str], pairs: list[str]) -> list[str]:
        """Re-cut HMM runs that contain a repeated-character word with jieba's own Viterbi."""
        has_word = self._rj.has_word
        n = len(tokens)
        suspect = [False] * n
        for p in pairs:
            for i in compress(range(n), map(str.__contains__, tokens, repeat(p))):
                t = tokens[i]
                suspect[i] = suspect[i] or (t == p[0] * len(t) and not has_word(t))
        if not any(suspect):
            return tokens
        out: list[str] = []
        i = 0
        while i < n:
            if not suspect[i]:
                out.append(tokens[i])
                i += 1
                continue
            # the buffer jieba handed to the HMM: the maximal run of single characters and
            # HMM-made (non-dictionary) Chinese words around the suspect token
            lo = i
            while lo > 0 and out and _is_hmm_piece(tokens[lo - 1], has_word):
                lo -= 1
                out.pop()
            hi = i + 1
            while hi < n and _is_hmm_piece(tokens[hi], has_word):
                hi += 1
            buf = "".join(tokens[lo:hi])
            if has_word(buf):
                out.extend(buf)
            else:
                out.extend(jieba.finalseg.cut(buf))
            i = hi
        return out

    # -- reference --------------------------------------------------------------------------------
    def reference(self) -> jieba.Tokenizer:
        """A private `jieba.Tokenizer` loaded with exactly this segmenter's merged dictionary."""
        if self._reference is None:
            self._reference = _reference_tokenizer(self.user_entries)
        return self._reference

    def merged_dictionary_lines(self) -> list[str]:
        """jieba's dictionary with the user words applied, as `word freq [tag]` lines."""
        lines: dict[str, str] = {}
        with BASE_DICT.open(encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if parts:
                    lines[parts[0]] = " ".join(parts)
        for e in self.user_entries:
            lines[e.word] = f"{e.word} {e.freq}" + (f" {e.tag}" if e.tag else "")
        return list(lines.values())

    # -- persistence: the backend is rebuilt, never pickled ------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "hmm": self.hmm,
            "backend": self.backend,
            "base_dict_md5": self.base_dict_md5,
            "user_entries": [(e.word, e.freq, e.tag) for e in self.user_entries],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        current = _file_md5(BASE_DICT)
        if state["base_dict_md5"] != current:
            logger.warning(
                "jieba's dict.txt differs from the one this segmenter was saved with (%s != %s): "
                "segmentation may differ from training",
                current,
                state["base_dict_md5"],
            )
        self.version = state["version"]
        self.hmm = state["hmm"]
        self.backend = state["backend"]
        self.base_dict_md5 = current
        self._reference = None
        self._rj, self.user_entries = self._build([DictEntry(*e) for e in state["user_entries"]])
        self.warm()

    def __repr__(self) -> str:
        return (
            f"Segmenter(version={self.version!r}, user_words={len(self.user_entries)}, "
            f"backend={self.backend!r}, hmm={self.hmm})"
        )


def _is_hmm_piece(tok: str, has_word: Any) -> bool:
    if _RE_HAN_HMM.match(tok) is None:
        return False
    return len(tok) == 1 or not has_word(tok)


def _suggest_freq(rj: Any, word: str, freq: dict[str, int], total: int) -> int:
    """jieba's `suggest_freq(word, tune=False)`: just enough for the word to win over its pieces."""
    p = 1.0
    for seg in rj.cut(word, False):
        p *= freq.get(seg, 1) / total
    return max(int(p * total) + 1, freq.get(word, 1))


def _dict_version(paths: Sequence[str | Path]) -> str:
    """The version named in the first file's header (`# version: ...`), else a content hash."""
    h = hashlib.md5()
    for p in paths:
        text = Path(p).read_text(encoding="utf-8")
        for line in text.splitlines()[:20]:
            m = re.match(r"#\s*version:\s*(\S+)", line)
            if m:
                return m.group(1)
        h.update(text.encode("utf-8"))
    return "md5-" + h.hexdigest()[:12]


def _reference_tokenizer(entries: Sequence[DictEntry]) -> jieba.Tokenizer:
    """Build a jieba.Tokenizer whose dictionary file is jieba's own with `entries` merged in."""
    lines: dict[str, str] = {}
    with BASE_DICT.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if parts:
                lines[parts[0]] = " ".join(parts)
    for e in entries:
        lines[e.word] = f"{e.word} {e.freq}" + (f" {e.tag}" if e.tag else "")
    body = "\n".join(lines.values()) + "\n"
    digest = hashlib.md5(body.encode("utf-8")).hexdigest()[:16]
    cache_dir = Path(tempfile.gettempdir()) / "choujian-jieba"
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"dict-{digest}.txt"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
    tk = jieba.Tokenizer(dictionary=str(path))
    tk.tmp_dir = str(cache_dir)
    tk.initialize()
    return tk


__all__ = ["BASE_DICT", "USER_DICT", "DictEntry", "Segmenter", "read_user_dict"]
