"""The tokenizer of every text model: bert-base-chinese's vocabulary from `data/raw`, built locally.

transformers 5 silently ignores `BertTokenizer(vocab_file=...)` and builds a 5-token vocabulary, so the
vocabulary is passed as `vocab=` and its size is checked. Every text goes through `prepare_texts` first:
the project's normaliser when `features.normalize` provides one, so training and scoring share one path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from transformers import BertTokenizer

from core.paths import VOCAB_TXT

logger = logging.getLogger(__name__)

#: size of bert-base-chinese's vocabulary; anything else means the vocabulary was not loaded
VOCAB_SIZE = 21128


def load_tokenizer(path: str | Path = VOCAB_TXT) -> BertTokenizer:
    """The bert-base-chinese WordPiece tokenizer from a local vocab.txt (or a directory holding one)."""
    path = Path(path)
    vocab = path / "vocab.txt" if path.is_dir() else path
    if not vocab.is_file():
        raise FileNotFoundError(f"no vocabulary at {vocab}")
    tok = BertTokenizer(vocab=str(vocab), do_lower_case=True, tokenize_chinese_chars=True)
    if tok.vocab_size != VOCAB_SIZE:
        raise ValueError(f"{vocab} gave a vocabulary of {tok.vocab_size} tokens, expected {VOCAB_SIZE}")
    return tok


def _resolve_normalizer() -> tuple[str | None, Callable[[str], str] | None]:
    """The project's text normaliser, if the features package provides one."""
    try:
        from features import normalize as norm_mod  # noqa: PLC0415 - optional, owned by features
    except ImportError:
        return None, None
    version = getattr(norm_mod, "NORMALIZER_VERSION", "?")
    fn = getattr(norm_mod, "normalize_text", None)
    if callable(fn):
        return f"features.normalize.normalize_text v{version}", fn
    return None, None


def normalizer_name() -> str | None:
    """Which normaliser `prepare_texts` applies (recorded with every checkpoint), or None."""
    return _resolve_normalizer()[0]


def prepare_texts(texts: Iterable[object]) -> list[str]:
    """Turn raw values into model text: missing values become '', then the project's normaliser."""
    out = ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in texts]
    _, fn = _resolve_normalizer()
    if fn is not None:
        out = [fn(t) for t in out]
    return [t.strip() for t in out]
