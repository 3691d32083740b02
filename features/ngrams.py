"""`vectorize(vectorizer, texts)`: a fitted scikit-learn `TfidfVectorizer`/`CountVectorizer`'s `transform`,
computed without its per-feature Python loop; the same matrix, entry for entry.

Every text feature of the product goes through a fitted vectorizer: the character n-gram TF-IDF of the
label-driven text risk (`features.pooling.TextRisk`), the word TF-IDF of `TextFeatures`, and the review
model's character and word n-grams. scikit-learn's `transform` counts each document's features in a Python
loop (one dictionary look-up, one try/except and one update per n-gram): on a 100-character listing text
with 1-3-grams, about 300 iterations, which made the character TF-IDF 40% of batch scoring.

Here, for character n-grams, every character of all the documents becomes a small integer code and each
n-gram the integer packing its codes, looked up among the vocabulary's by binary search in NumPy (3x faster
on listing texts); for a callable analyzer (the word n-grams), its features of all documents are looked up
in one C-level `map`. The counts are summed per row by SciPy (`sum_duplicates`). The resulting CSR matrix has
the same shape, sorted indices and float counts as scikit-learn's, so the TF-IDF weighting after it, and any
model reading it, give the same numbers. Vectorizers this does not replicate exactly (scikit-learn's own
word tokenizer, a custom preprocessor or tokenizer, accent stripping, bytes input) go through their own
`transform`. `tests/unit/test_vectorize.py` compares the two on awkward texts and on the fitted vectorizers.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

#: scikit-learn's `_VectorizerMixin._white_spaces`: runs of two or more whitespace characters become one space
_WHITE_SPACES = re.compile(r"\s\s+")


def char_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's `analyzer="char"` n-grams of an already preprocessed text, in its order: whitespace
    runs folded to one space, then every n-gram of length min_n..max_n, shortest first."""
    text = _WHITE_SPACES.sub(" ", text)
    length = len(text)
    grams = list(text) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n, length) + 1):
        grams += [text[i : i + n] for i in range(length - n + 1)]
    return grams


class _CharTable:
    """A fitted character-n-gram vocabulary as sorted integer keys, for look-ups in NumPy.

    Each character of the vocabulary's terms gets a dense code 1..K (every other character 0, and no term
    contains it); an n-gram is the integer that packs its n codes in `bits` bits each, so a look-up is a
    binary search among the vocabulary's n-grams of that length.
    """

    def __init__(self, vocabulary: dict[str, int], min_n: int, max_n: int) -> None:
        self.vocabulary, self.ngram_range = vocabulary, (min_n, max_n)  # what it was built from
        chars = sorted({c for term in vocabulary for c in term})
        self.bits = max(1, int(len(chars)).bit_length())
        self.min_n, self.max_n = min_n, max_n
        self.fits = self.bits * max_n <= 63
        self.code = {c: i + 1 for i, c in enumerate(chars)}
        self.width = len(vocabulary)
        self.keys: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if not self.fits:
            return
        by_length: dict[int, list[tuple[int, int]]] = {}
        for term, j in vocabulary.items():
            key = 0
            for c in term:
                key = (key << self.bits) | self.code[c]
            by_length.setdefault(len(term), []).append((key, j))
        for n, pairs in by_length.items():
            pairs.sort()
            self.keys[n] = (
                np.array([k for k, _ in pairs], dtype=np.int64),
                np.array([j for _, j in pairs], dtype=np.int64),
            )

    def codes(self, text: str) -> np.ndarray:
        """Dense codes of `text`'s characters (0 for a character in no term)."""
        get = self.code.get
        return np.fromiter(map(get, text, repeat(0)), dtype=np.int64, count=len(text))

    def counts(self, docs: list[str], dtype: Any) -> Any:
        """Float counts of the vocabulary's n-grams in each (preprocessed) document, CSR with sorted indices."""
        n_docs = len(docs)
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=n_docs)
        # the documents one after another, each followed by a 0 that no n-gram in the vocabulary contains
        ends = np.cumsum(lengths + 1)  # each document's end, just past its 0
        d = self.codes("\0".join(docs) + "\0")
        d[ends - 1] = 0
        total = len(d)
        ids = np.full((total, self.max_n), -1, dtype=np.int64)
        key = np.zeros(total, dtype=np.int64)
        alive = np.ones(total, dtype=bool)
        for n in range(1, self.max_n + 1):
            # key[p] packs d[p..p+n-1]; an n-gram running past a document's end meets its 0
            shifted = np.zeros(total, dtype=np.int64)
            shifted[: total - n + 1] = d[n - 1 :]
            key = (key << self.bits) | shifted
            alive &= shifted > 0
            if n < self.min_n or n not in self.keys:
                continue
            keys, col = self.keys[n]
            at = np.flatnonzero(alive)
            pos = np.searchsorted(keys, key[at])
            pos[pos == len(keys)] = 0
            hit = keys[pos] == key[at]
            ids[at[hit], n - 1] = col[pos[hit]]
        flat = ids.ravel()
        known = flat >= 0
        indices = flat[known].astype(np.int32)
        # row-major: each document's positions, and each position's n-grams, are contiguous
        per_position = known.reshape(total, self.max_n).sum(axis=1)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        if n_docs:
            np.cumsum(np.add.reduceat(per_position, ends - (lengths + 1)), out=indptr[1:])
        X = sp.csr_matrix((np.ones(len(indices), dtype=dtype), indices, indptr), shape=(n_docs, self.width))
        X.sum_duplicates()  # sorts each row's indices and adds up repeated n-grams
        return X


#: each fitted vectorizer's table, built on first use and dropped with the vectorizer (a reloaded model's
#: old vectorizers are not kept alive by it)
_TABLES: weakref.WeakKeyDictionary[CountVectorizer, _CharTable] = weakref.WeakKeyDictionary()


def _char_table(vec: CountVectorizer) -> _CharTable:
    """The vectorizer's table; made again if it was refitted since (a new vocabulary or n-gram range)."""
    table = _TABLES.get(vec)
    if table is None or table.vocabulary is not vec.vocabulary_ or table.ngram_range != tuple(vec.ngram_range):
        table = _TABLES[vec] = _CharTable(vec.vocabulary_, *vec.ngram_range)
    return table


def _char_docs(vec: CountVectorizer, texts: Sequence[str]) -> list[str] | None:
    """The documents as scikit-learn's `analyzer="char"` reads them (lower-cased when it lower-cases,
    whitespace runs folded), or None when this module does not reproduce that vectorizer."""
    if (
        vec.analyzer != "char"
        or vec.input != "content"
        or vec.preprocessor is not None
        or vec.tokenizer is not None
        or vec.strip_accents is not None
        or not all(type(t) is str for t in texts)
    ):
        return None
    fold = _WHITE_SPACES.sub
    return [fold(" ", t.lower() if vec.lowercase else t) for t in texts]


def _analyzed_counts(vec: CountVectorizer, docs: Sequence[Any], dtype: Any) -> Any:
    """Counts for a callable analyzer: its features of every document looked up in one C-level `map`."""
    analyze, vocab = vec.analyzer, vec.vocabulary_
    n = len(docs)
    features: list[str] = []
    lengths = np.empty(n, dtype=np.int64)
    for i, doc in enumerate(docs):
        grams = analyze(doc)
        lengths[i] = len(grams)
        features += grams
    ids = np.fromiter(map(vocab.get, features, repeat(-1)), dtype=np.int64, count=len(features))
    known = ids >= 0
    seen = np.concatenate([[0], np.cumsum(known)])
    ends = np.cumsum(lengths)
    indptr = np.concatenate([[0], np.cumsum(seen[ends] - seen[ends - lengths])])
    indices = ids[known].astype(np.int32)
    X = sp.csr_matrix((np.ones(len(indices), dtype=dtype), indices, indptr), shape=(n, len(vocab)))
    X.sum_duplicates()
    return X


def counts(vec: CountVectorizer, texts: Sequence[Any]) -> Any:
    """`CountVectorizer.transform(texts)` of a fitted vectorizer (float counts, CSR, sorted indices), or None
    when this module does not reproduce it: a character-n-gram analyzer, or a callable one on content that
    needs no decoding (scikit-learn calls it on each document as it is)."""
    if callable(vec.analyzer):
        if vec.input != "content" or any(isinstance(t, bytes) or t is np.nan for t in texts):
            return None
        X = _analyzed_counts(vec, texts, vec.dtype)
    else:
        docs = _char_docs(vec, texts)
        if docs is None:
            return None
        table = _char_table(vec)
        if not table.fits:
            return None
        X = table.counts(docs, vec.dtype)
    if vec.binary:
        X.data.fill(1)
    return X


def vectorize(vec: Any, texts: Sequence[Any]) -> Any:
    """`vec.transform(texts)` for a fitted `CountVectorizer` or `TfidfVectorizer`: the same matrix, without
    scikit-learn's per-feature loop where `counts` applies; anything else is `vec.transform(texts)`."""
    if type(vec) not in (CountVectorizer, TfidfVectorizer) or isinstance(texts, str) or not hasattr(vec, "vocabulary_"):
        return vec.transform(texts)
    X = counts(vec, texts)
    if X is None:
        return vec.transform(texts)
    if type(vec) is TfidfVectorizer:
        return vec._tfidf.transform(X, copy=False)
    return X


__all__ = ["char_ngrams", "counts", "vectorize"]
