"""Lexicons of risky phrases and an Aho–Corasick matcher that reports hits in the *original* text.

The lexicon files live in `data/lexicons/`, or the folder `CHOUJIAN_LEXICON_DIR` names (one phrase per line,
or `phrase<TAB>note` for .tsv), each with a header naming its legal or practical source and a `# version:`
line; `features.lexicon_changes` adds accepted phrases and bumps that version. Phrases are normalised
with `features.normalize` before the automaton is built, and texts are normalised before matching, so
國 家 級, 国\u200b家\u200b级 and ｇｕｏｊｉａｊｉ all hit, and every hit's span is mapped back through the
offset map to the characters the seller wrote.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ahocorasick
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from core.paths import LEXICON_DIR
from core.settings import shared_settings
from features.normalize import Normalized, normalize, normalize_text
from features.segment import USER_DICT, DictEntry, Segmenter, read_user_dict

#: the lexicon kinds the product ships, in feature order
KINDS = ("absolute_claim", "efficacy_claim", "counterfeit_cue", "complaint_cue", "fake_mention", "ccc_product")
#: each kind as an analyst reads it (the planner pages, reasons)
KIND_ZH = {
    "absolute_claim": "绝对化用语",
    "efficacy_claim": "功效/医疗用语",
    "counterfeit_cue": "假货暗语",
    "complaint_cue": "投诉用语",
    "fake_mention": "假货评价",
    "ccc_product": "3C 目录产品",
}
_VERSION_RE = re.compile(r"#\s*version:\s*(\S+)")


class Evidence(BaseModel):
    """A lexicon hit in the listing's own text, with its span in the *original* (un-normalised) text."""

    kind: str = Field(description="lexicon kind, e.g. absolute_claim, efficacy_claim, counterfeit_cue")
    phrase: str = Field(description="the lexicon entry that matched, e.g. 国家级")
    field: Literal["title", "description", "review"]
    start: int = Field(ge=0, description="start offset (characters) in the original text")
    end: int = Field(ge=0, description="end offset, exclusive")
    text: str = Field(description="the original characters at [start, end)")


@dataclass(frozen=True, slots=True)
class Hit:
    """One lexicon hit: `start`/`end` index the original text, `text` is what the seller wrote there."""

    kind: str
    phrase: str
    start: int
    end: int
    text: str


def read_lexicon_file(path: str | Path) -> tuple[list[str], str]:
    """The phrases of one lexicon file (first column for .tsv) and its version."""
    path = Path(path)
    phrases: list[str] = []
    version = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            m = _VERSION_RE.match(line)
            if m and not version:
                version = m.group(1)
            continue
        phrase = line.split("\t", 1)[0].strip()
        if phrase:
            phrases.append(phrase)
    return phrases, version or "md5-" + hashlib.md5(path.read_bytes()).hexdigest()[:12]


def lexicon_dir() -> Path:
    """The lexicon directory the settings name now (`CHOUJIAN_LEXICON_DIR`, default the shipped one)."""
    return shared_settings().lexicon_path()


def lexicon_file(directory: str | Path, kind: str) -> Path | None:
    """`<kind>.txt` or `<kind>.tsv` in `directory`, whichever exists."""
    d = Path(directory)
    return next((p for p in (d / f"{kind}.txt", d / f"{kind}.tsv") if p.exists()), None)


class Lexicon:
    """Phrases by kind, matched all at once with one Aho–Corasick automaton over normalised text."""

    def __init__(self, phrases: Mapping[str, Iterable[str]], *, version: str = "unversioned", source: str = "") -> None:
        self.phrases: dict[str, tuple[str, ...]] = {k: tuple(dict.fromkeys(v)) for k, v in phrases.items()}
        self.version = version
        self.source = source  # the directory it was loaded from ("" when built in code)
        self._build()

    @classmethod
    def load(cls, directory: str | Path | None = None, *, kinds: Iterable[str] = KINDS) -> Lexicon:
        """Load `<kind>.txt` or `<kind>.tsv` for each kind from `directory` (default: `CHOUJIAN_LEXICON_DIR`,
        else the shipped data/lexicons)."""
        directory = Path(directory) if directory is not None else lexicon_dir()
        phrases: dict[str, list[str]] = {}
        versions: list[str] = []
        for kind in kinds:
            path = lexicon_file(directory, kind)
            if path is None:
                raise FileNotFoundError(f"lexicon {kind!r} not found in {directory} (.txt or .tsv)")
            phrases[kind], v = read_lexicon_file(path)
            versions.append(f"{kind}={v}")
        return cls(phrases, version=";".join(versions), source=str(directory.resolve()))

    def _build(self) -> None:
        self.kinds: tuple[str, ...] = tuple(self.phrases)
        self._kind_index = {k: i for i, k in enumerate(self.kinds)}
        by_norm: dict[str, list[tuple[str, str]]] = {}
        for kind, items in self.phrases.items():
            for p in items:
                key = normalize_text(p)
                if key:
                    by_norm.setdefault(key, []).append((kind, p))
        self._automaton: Any = ahocorasick.Automaton()
        for key, owners in by_norm.items():
            kinds = tuple(dict.fromkeys(k for k, _ in owners))
            self._automaton.add_word(key, (key, len(key), kinds, tuple(self._kind_index[k] for k in kinds)))
        self._n_keys = len(by_norm)
        if self._n_keys:
            self._automaton.make_automaton()

    # -- matching ---------------------------------------------------------------------------------
    def find(self, text: str | Normalized) -> list[Hit]:
        """Every hit (overlaps included) in `text`, with spans in the original text, in text order."""
        norm = text if isinstance(text, Normalized) else normalize(text)
        if not self._n_keys or not norm.text:
            return []
        hits: list[Hit] = []
        for end_idx, (key, n, kinds, _) in self._automaton.iter(norm.text):
            a, b = norm.to_original(end_idx - n + 1, end_idx + 1)
            for kind in kinds:
                hits.append(Hit(kind, key, a, b, norm.original[a:b]))
        hits.sort(key=lambda h: (h.start, -h.end, h.kind))
        return hits

    def counts(self, normalized_text: str) -> NDArray[np.float64]:
        """Hit counts per kind (in `self.kinds` order) in an already normalised text."""
        out = np.zeros(len(self.kinds), dtype=np.float64)
        if self._n_keys and normalized_text:
            for _, (_, _, _, idx) in self._automaton.iter(normalized_text):
                for i in idx:
                    out[i] += 1
        return out

    def counts_many(self, normalized_texts: Iterable[str]) -> NDArray[np.float64]:
        """Hit counts per kind for many normalised texts (rows) — distinct texts are matched once."""
        texts = list(normalized_texts)
        out = np.zeros((len(texts), len(self.kinds)), dtype=np.float64)
        if not self._n_keys:
            return out
        seen: dict[str, int] = {}
        for r, t in enumerate(texts):
            j = seen.get(t)
            if j is not None:
                out[r] = out[j]
                continue
            seen[t] = r
            if t:
                for _, (_, _, _, idx) in self._automaton.iter(t):
                    for i in idx:
                        out[r, i] += 1
        return out

    def contains(self, normalized_text: str, kind: str) -> bool:
        """True if the normalised text has at least one hit of `kind`."""
        return bool(self.counts(normalized_text)[self._kind_index[kind]])

    # -- the segmenter shares the phrases -----------------------------------------------------------
    def dictionary_entries(self) -> list[DictEntry]:
        """Every lexicon phrase (normalised) as a user-dictionary word, so it segments as one token."""
        seen: dict[str, None] = {}
        for items in self.phrases.values():
            for p in items:
                key = normalize_text(p)
                if key and not any(c.isspace() for c in key):
                    seen[key] = None
        return [DictEntry(w) for w in seen]

    def facts(self) -> dict[str, Any]:
        """What a trained bundle records of its lexicon: version, source folder, phrases per kind, content digest."""
        body = json.dumps({k: sorted(v) for k, v in self.phrases.items()}, ensure_ascii=False, sort_keys=True)
        return {
            "version": self.version,
            "source": self.source,
            "sizes": {k: len(v) for k, v in self.phrases.items()},
            "sha256": hashlib.sha256(body.encode()).hexdigest(),
        }

    # -- persistence: the automaton is rebuilt, not pickled -----------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        phrases = {k: list(v) for k, v in self.phrases.items()}
        return {"phrases": phrases, "version": self.version, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.phrases = {k: tuple(v) for k, v in state["phrases"].items()}
        self.version = state["version"]
        self.source = state.get("source", "")  # bundles pickled before the field
        self._build()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.phrases.items())
        return f"Lexicon({sizes}, version={self.version!r})"


def build_segmenter(
    lexicon: Lexicon | None = None,
    *,
    user_dict: str | Path | None = USER_DICT,
    extra_words: Iterable[str] = (),
    **kwargs: Any,
) -> Segmenter:
    """The product's segmenter: jieba's dictionary + the domain user dictionary + every lexicon phrase.

    `extra_words` are further domain terms (e.g. the brands seen when a pipeline is fitted).
    """
    lexicon = lexicon if lexicon is not None else Lexicon.load()
    entries: list[DictEntry] = read_user_dict(user_dict) if user_dict is not None else []
    entries += lexicon.dictionary_entries()
    entries += [DictEntry(normalize_text(w)) for w in extra_words if normalize_text(w)]
    dict_version = ""
    if user_dict is not None:
        _, dict_version = read_lexicon_file(user_dict)
    version = f"user_dict={dict_version or 'none'};{lexicon.version}"
    return Segmenter(entries, version=version, **kwargs)


__all__ = [
    "KINDS",
    "KIND_ZH",
    "LEXICON_DIR",
    "Evidence",
    "Hit",
    "Lexicon",
    "build_segmenter",
    "lexicon_dir",
    "lexicon_file",
    "read_lexicon_file",
]
