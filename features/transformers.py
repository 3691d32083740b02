"""Feature transformers over the frames of `features.frames`, with the scikit-learn contract.

`__init__` stores parameters only; everything learned ends in `_` and is set in `fit`, which returns
`self`; `get_feature_names_out()` names every output column. Each output row depends only on that
row (the listing's own record, its merchant's record, its own reviews) and on fitted state, never on
the other rows of the batch: batch-level work (deduplicating review texts, matching lexicons once
per distinct text) only saves time and gives the same numbers row by row.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from features.frames import str_ids
from features.identity import IdentityIndex, shop_keys
from features.lexicon import Lexicon, build_segmenter
from features.ngrams import vectorize
from features.normalize import CONTACT_KINDS, Normalized, normalize_many
from features.records import FailureType, RegistryStatus, split_failure_types
from features.segment import Segmenter

logger = logging.getLogger(__name__)

CLAIM_KINDS = ("absolute_claim", "efficacy_claim", "counterfeit_cue")
FAILURE_TYPES = tuple(t.value for t in FailureType)
REGISTRY_LEVELS = tuple(s.value for s in RegistryStatus)
OTHER = "__other__"
_CCC_CERT = re.compile(r"^\d{16}$")
_TOKEN_OK = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")


# -- shared helpers --------------------------------------------------------------------------------
class _FrameTransformer(TransformerMixin, BaseEstimator):
    """Base: names set in fit; input is a pandas frame from `features.frames`."""

    names_: list[str]

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        """Names of the output columns."""
        check_is_fitted(self, "names_")
        return np.asarray(self.names_, dtype=object)

    def _check_frame(self, X: Any, required: Sequence[str]) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} expects a DataFrame from features.listing_frame/merchant_frame")
        missing = [c for c in required if c not in X.columns]
        if missing:
            raise ValueError(f"{type(self).__name__}: input frame lacks column(s) {missing}")
        return X


_NS_PER_DAY = 86_400_000_000_000
#: |as_of - date| below this many ns cannot overflow int64 (about 290 years); farther dates take pandas' path
_NS_SAFE = 290 * 365 * _NS_PER_DAY


def _days(as_of: pd.Timestamp, when: Any) -> NDArray[np.float64]:
    """Days from each date in `when` (a column) to `as_of`; NaN where the date is missing."""
    if isinstance(when, pd.Series) and when.dtype == np.dtype("datetime64[ns]"):
        # already what `to_datetime` would make of it: pandas' `(as_of - when).dt.days` in NumPy (floor of
        # the nanosecond difference in days), without the Series arithmetic's fixed cost on a few rows
        ns = when.to_numpy().view(np.int64)
        missing = ns == np.iinfo(np.int64).min  # NaT
        ref = int(as_of.as_unit("ns").value)
        ok = ns[~missing]
        if not len(ok) or (abs(ref - int(ok.min())) < _NS_SAFE and abs(ref - int(ok.max())) < _NS_SAFE):
            out = np.floor_divide(ref - ns, _NS_PER_DAY).astype(np.float64)
            out[missing] = np.nan
            return out
        return np.asarray((as_of - when.reset_index(drop=True)).dt.days, dtype=np.float64)
    d = pd.to_datetime(pd.Series(list(when), dtype=object), errors="coerce")
    return np.asarray((as_of - d).dt.days, dtype=np.float64)


def _as_of(X: pd.DataFrame, fixed: date | None) -> pd.Timestamp:
    """The reference date for ages: the configured one, else the latest date the training frame shows."""
    if fixed is not None:
        return pd.Timestamp(fixed)
    latest: list[pd.Timestamp] = []
    for c in ("listed_date", "opened_date"):
        if c in X and len(X):
            v = pd.to_datetime(X[c]).max()
            if pd.notna(v):
                latest.append(v)
    for c in ("review_dates", "lab_dates"):
        if c in X:
            ds = [max(lst) for lst in X[c] if len(lst)]
            if ds:
                latest.append(pd.Timestamp(max(ds)))
    return max(latest) if latest else pd.Timestamp("2025-01-01")


def _str(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _levels(values: pd.Series, min_count: int) -> list[str]:
    counts = values.map(_str).value_counts()
    return sorted(str(k) for k, n in counts.items() if n >= min_count and str(k))


def _one_hot(values: Sequence[str], levels: Sequence[str]) -> NDArray[np.float64]:
    """One column per level plus a last column for anything unseen at fit time."""
    index = {v: i for i, v in enumerate(levels)}
    out = np.zeros((len(values), len(levels) + 1), dtype=np.float64)
    for r, v in enumerate(values):
        out[r, index.get(v, len(levels))] = 1.0
    return out


class LexiconReviewScorer:
    """Default review complaint scorer: 1 − 0.5^(complaint-cue hits), from the complaint lexicon.

    Any object with `predict_proba(list[str]) -> array` of complaint probabilities can replace it
    (the transformer review model does).
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else Lexicon.load()

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        norm = [n.text for n in normalize_many(texts)]
        counts = self.lexicon.counts_many(norm)
        hits = counts[:, self.lexicon.kinds.index("complaint_cue")]
        return np.asarray(1.0 - np.power(0.5, hits), dtype=np.float64)


def _scores(scorer: Any, texts: list[str]) -> NDArray[np.float64]:
    if not texts:
        return np.zeros(0, dtype=np.float64)
    p = np.asarray(scorer.predict_proba(texts), dtype=np.float64)
    if p.ndim == 2:  # (n, 2) classifiers: the complaint class is the last column
        p = p[:, -1]
    if p.shape != (len(texts),):
        raise ValueError(f"review_scorer.predict_proba returned shape {p.shape} for {len(texts)} texts")
    return p


# -- lab results newer than the model ---------------------------------------------------------------
def _lab_key(listing_id: Any, verdict: Any, types: Any, when: Any) -> tuple[str, str, str, str]:
    return (_str(listing_id), _str(verdict), _str(types), str(pd.Timestamp(when).date()) if _str(when) else "")


def seen_lab_keys(X: pd.DataFrame) -> frozenset[tuple[str, str, str, str]]:
    """The lab results a training frame shows (each row's own), as keys `new_merchant_labs` compares with."""
    if not {"listing_id", "lab_verdicts", "lab_failure_types", "lab_dates"} <= set(X.columns):
        return frozenset()
    return frozenset(
        _lab_key(lid, v, t, d)
        for lid, vs, ts, ds in zip(
            X["listing_id"].astype(str), X["lab_verdicts"], X["lab_failure_types"], X["lab_dates"], strict=True
        )
        for v, t, d in zip(vs, ts, ds, strict=True)
    )


LabKey = tuple[str, str, str, str]


def new_merchant_labs(X: pd.DataFrame, seen: frozenset[LabKey] | None) -> list[list[tuple[str, str]]]:
    """Per row, (verdict, failure_types) of its merchant's lab results that the fitted state has not seen,
    leaving out the row's own listing's (in training a row never sees its own label either).

    This is the pipeline's memory: a result recorded after the model was trained (a market exported from the
    store, or the store's context added to a request) counts in the merchant's identity history at scoring
    time. None (a model fitted before this existed) or a frame without `merchant_lab_*` columns: no rows add
    anything. A row's value depends on its merchant's rows only, so batches that keep merchants whole agree."""
    n = len(X)
    if seen is None or "merchant_lab_verdicts" not in X.columns:
        return [[] for _ in range(n)]
    out: list[list[tuple[str, str]]] = []
    cache: dict[int, list[tuple[str, str, str]]] = {}
    for lid, ids, vs, ts, ds in zip(
        str_ids(X["listing_id"]),
        X["merchant_lab_listing_ids"],
        X["merchant_lab_verdicts"],
        X["merchant_lab_failure_types"],
        X["merchant_lab_dates"],
        strict=True,
    ):
        new = cache.get(id(ids))
        if new is None:  # rows of one merchant share its lists: filter them once
            new = [
                (_str(i), _str(v), _str(t))
                for i, v, t, d in zip(ids, vs, ts, ds, strict=True)
                if _lab_key(i, v, t, d) not in seen
            ]
            cache[id(ids)] = new
        out.append([(v, t) for i, v, t in new if i != lid])
    return out


# -- listing record: category, platform, 3C, ages ---------------------------------------------------
class ListingFeatures(_FrameTransformer):
    """Category and platform (levels fixed at fit), 3C required-but-missing, listing age, sales, brand."""

    def __init__(self, *, lexicon: Lexicon | None = None, min_count: int = 1, as_of: date | None = None) -> None:
        self.lexicon = lexicon
        self.min_count = min_count
        self.as_of = as_of

    def fit(self, X: pd.DataFrame, y: Any = None) -> ListingFeatures:
        X = self._check_frame(X, ("category", "platform", "title", "ccc_cert", "listed_date"))
        lexicon = self.lexicon if self.lexicon is not None else Lexicon.load()
        self.ccc_terms_ = sorted({n.text for n in normalize_many(lexicon.phrases.get("ccc_product", ()))})
        self.categories_ = _levels(X["category"], self.min_count)
        self.platforms_ = _levels(X["platform"], self.min_count)
        self.as_of_ = _as_of(X, self.as_of)
        self.lexicon_ = lexicon
        self.names_ = [
            *(f"category={c}" for c in self.categories_),
            f"category={OTHER}",
            *(f"platform={p}" for p in self.platforms_),
            f"platform={OTHER}",
            "ccc_required",
            "ccc_term_in_title",
            "ccc_cert_present",
            "ccc_missing",
            "ccc_cert_malformed",
            "listing_age_days",
            "log_sales",
            "unbranded",
            "has_description",
        ]
        return self

    def _ccc_required(self, category: str) -> bool:
        key = normalize_many([category])[0].text
        return any(t in key for t in self.ccc_terms_)

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        X = self._check_frame(X, ("category", "platform", "title", "ccc_cert", "listed_date"))
        cats = [_str(v) for v in X["category"]]
        parts = [_one_hot(cats, self.categories_), _one_hot([_str(v) for v in X["platform"]], self.platforms_)]
        required_by_cat = {c: self._ccc_required(c) for c in set(cats)}
        titles = normalize_many([_str(t) for t in X["title"]])
        ccc_idx = self.lexicon_.kinds.index("ccc_product") if "ccc_product" in self.lexicon_.kinds else None
        rows = np.zeros((len(X), 9), dtype=np.float64)
        brands = X["brand"] if "brand" in X else pd.Series([""] * len(X))
        descs = X["description"] if "description" in X else pd.Series([""] * len(X))
        sales = X["sales"] if "sales" in X else pd.Series([0] * len(X))
        age = _days(self.as_of_, X["listed_date"])
        for r, (cat, cert, listed, t, b, d, s) in enumerate(
            zip(cats, X["ccc_cert"], age, titles, brands, descs, sales, strict=True)
        ):
            req = required_by_cat[cat]
            in_title = bool(ccc_idx is not None and self.lexicon_.counts(t.text)[ccc_idx] > 0)
            c = _str(cert).strip()
            rows[r] = (
                req,
                in_title,
                bool(c),
                req and not c,
                bool(c) and _CCC_CERT.match(c) is None,
                listed,
                math.log1p(max(float(s or 0), 0.0)),
                not _str(b).strip(),
                bool(_str(d).strip()),
            )
        return np.hstack([*parts, rows])


# -- price against brand and category levels -------------------------------------------------------
class PriceFeatures(_FrameTransformer):
    """Robust z-score (median/MAD of log price) against the brand's level in its category, the
    category's level and the whole market's; unseen brands fall back to the category, unseen
    categories to the market."""

    def __init__(self, *, min_count: int = 5, mad_floor: float = 0.05) -> None:
        self.min_count = min_count
        self.mad_floor = mad_floor

    @staticmethod
    def _level(lp: pd.Series) -> tuple[float, float, int]:
        med = float(lp.median())
        mad = float((lp - med).abs().median()) * 1.4826
        return med, mad, int(len(lp))

    def fit(self, X: pd.DataFrame, y: Any = None) -> PriceFeatures:
        X = self._check_frame(X, ("price", "category"))
        df = pd.DataFrame(
            {
                "lp": np.log(X["price"].astype(float).clip(lower=0.01).to_numpy()),
                "cat": [_str(c) for c in X["category"]],
                "brand": [_str(b).strip() for b in X["brand"]] if "brand" in X else "",
            }
        )
        self.global_ = self._level(df["lp"]) if len(df) else (0.0, 1.0, 0)
        self.category_ = {str(k): self._level(g["lp"]) for k, g in df.groupby("cat")}
        self.brand_ = {
            (str(k[0]), str(k[1])): self._level(g["lp"]) for k, g in df[df["brand"] != ""].groupby(["cat", "brand"])
        }
        self.names_ = [
            "log_price",
            "z_brand",
            "z_category",
            "z_market",
            "ratio_to_brand_level",
            "brand_level_known",
            "category_level_known",
        ]
        return self

    def _z(self, lp: float, level: tuple[float, float, int]) -> float:
        return (lp - level[0]) / max(level[1], self.mad_floor)

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        X = self._check_frame(X, ("price", "category"))
        brands = X["brand"] if "brand" in X else pd.Series([""] * len(X))
        out = np.zeros((len(X), len(self.names_)), dtype=np.float64)
        for r, (p, c, b) in enumerate(zip(X["price"], X["category"], brands, strict=True)):
            lp = math.log(max(float(p), 0.01))
            cat = self.category_.get(_str(c))
            cat_ok = cat is not None and cat[2] >= self.min_count
            cat_level = cat if cat_ok and cat is not None else self.global_
            br = self.brand_.get((_str(c), _str(b).strip()))
            br_ok = br is not None and br[2] >= self.min_count
            br_level = br if br_ok and br is not None else cat_level
            out[r] = (
                lp,
                self._z(lp, br_level),
                self._z(lp, cat_level),
                self._z(lp, self.global_),
                math.exp(lp - br_level[0]),
                br_ok,
                cat_ok,
            )
        return out


# -- listing text -----------------------------------------------------------------------------------
class TokenNgrams:
    """Analyzer for the vectorisers: token lists in, word n-grams out (pickle-safe, no lambdas)."""

    def __init__(self, ngram_max: int = 1) -> None:
        self.ngram_max = ngram_max

    def __call__(self, tokens: list[str]) -> list[str]:
        # keep words with a letter, digit or Chinese character (isalnum is the fast path)
        toks = [t for t in tokens if t.isalnum() or (len(t) > 1 and _TOKEN_OK.search(t) is not None)]
        grams = list(toks)
        for n in range(2, self.ngram_max + 1):
            grams.extend(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
        return grams


_TEXT_FIELD_FEATURES = (
    "len",
    *(f"{k}_hits" for k in CLAIM_KINDS),
    "evasion_hits",
    *(f"contact_{k}" for k in CONTACT_KINDS),
    "contact_mentions",
    "shout_runs",
    "punct_folds",
    "exclamations",
    "traditional",
)


class TextFeatures(_FrameTransformer):
    """Title and description: lexicon hits by kind (and disguised hits), off-platform contact counts,
    length and shouting, repeated claims, and token TF-IDF (or hashing) from the Segmenter."""

    def __init__(
        self,
        *,
        lexicon: Lexicon | None = None,
        segmenter: Segmenter | None = None,
        mode: str = "tfidf",
        max_features: int = 200,
        min_df: int = 3,
        ngram_max: int = 1,
        hashing_features: int = 256,
    ) -> None:
        self.lexicon = lexicon
        self.segmenter = segmenter
        self.mode = mode
        self.max_features = max_features
        self.min_df = min_df
        self.ngram_max = ngram_max
        self.hashing_features = hashing_features

    def _texts(self, X: pd.DataFrame) -> tuple[list[Normalized], list[Normalized]]:
        titles = normalize_many([_str(t) for t in X["title"]])
        descs = normalize_many([_str(d) for d in X["description"]]) if "description" in X else []
        if not descs:
            descs = normalize_many([""] * len(X))
        return titles, descs

    def fit(self, X: pd.DataFrame, y: Any = None) -> TextFeatures:
        X = self._check_frame(X, ("title",))
        if self.mode not in ("tfidf", "hashing", "none"):
            raise ValueError(f"mode must be tfidf, hashing or none, not {self.mode!r}")
        self.lexicon_ = self.lexicon if self.lexicon is not None else Lexicon.load()
        if self.segmenter is not None:
            self.segmenter_ = self.segmenter
        else:
            brands = sorted({_str(b).strip() for b in X["brand"]} - {""}) if "brand" in X else []
            self.segmenter_ = build_segmenter(self.lexicon_, extra_words=brands)
        self.vectorizer_: Any = None
        token_names: list[str] = []
        if self.mode == "tfidf":
            titles, descs = self._texts(X)
            tokens = self._tokens(titles, descs)
            self.vectorizer_ = TfidfVectorizer(
                analyzer=TokenNgrams(self.ngram_max),
                max_features=self.max_features,
                min_df=min(self.min_df, max(1, len(X))),
                sublinear_tf=True,
                dtype=np.float64,
            )
            try:
                self.vectorizer_.fit(tokens)
                token_names = [f"tok={t}" for t in self.vectorizer_.get_feature_names_out()]
            except ValueError:  # no token reaches min_df (tiny training frames)
                self.vectorizer_ = None
        elif self.mode == "hashing":
            self.vectorizer_ = HashingVectorizer(
                analyzer=TokenNgrams(self.ngram_max),
                n_features=self.hashing_features,
                alternate_sign=False,
                dtype=np.float64,
            )
            token_names = [f"tok#{i}" for i in range(self.hashing_features)]
        self.names_ = [
            *(f"title_{f}" for f in _TEXT_FIELD_FEATURES),
            *(f"desc_{f}" for f in _TEXT_FIELD_FEATURES),
            "repeated_claims",
            "claim_kinds_present",
            *token_names,
        ]
        return self

    def _tokens(self, titles: list[Normalized], descs: list[Normalized]) -> list[list[str]]:
        return self.segmenter_.cut_many([f"{t.text} {d.text}" for t, d in zip(titles, descs, strict=True)])

    def _field(self, norm: Normalized) -> tuple[list[float], dict[str, int]]:
        hits = self.lexicon_.find(norm)
        by_kind = dict.fromkeys(CLAIM_KINDS, 0)
        phrases: dict[str, int] = {}
        evasion = 0
        for h in hits:
            if h.kind in by_kind:
                by_kind[h.kind] += 1
                phrases[h.phrase] = phrases.get(h.phrase, 0) + 1
                if h.text != h.phrase and h.text.lower() != h.phrase:
                    evasion += 1
        row = [
            float(len(norm.original)),
            *(float(by_kind[k]) for k in CLAIM_KINDS),
            float(evasion),
            *(float(norm.contacts.get(k, 0)) for k in CONTACT_KINDS),
            float(norm.contact_mentions),
            float(norm.shout_runs),
            float(norm.punct_folds),
            float(norm.text.count("!")),
            float(norm.traditional),
        ]
        return row, phrases

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        X = self._check_frame(X, ("title",))
        titles, descs = self._texts(X)
        n_dense = 2 * len(_TEXT_FIELD_FEATURES) + 2
        dense = np.zeros((len(X), n_dense), dtype=np.float64)
        for r, (t, d) in enumerate(zip(titles, descs, strict=True)):
            a, pa = self._field(t)
            b, pb = self._field(d)
            counts: dict[str, int] = {}
            for p, n in (*pa.items(), *pb.items()):
                counts[p] = counts.get(p, 0) + n
            repeated = sum(n - 1 for n in counts.values())
            kinds_present = sum(1 for i, _ in enumerate(CLAIM_KINDS) if a[1 + i] + b[1 + i] > 0)
            dense[r] = (*a, *b, repeated, kinds_present)
        if self.vectorizer_ is None:
            return dense
        tok = vectorize(self.vectorizer_, self._tokens(titles, descs))
        return np.hstack([dense, tok.toarray()])


# -- reviews ------------------------------------------------------------------------------------------
class ReviewFeatures(_FrameTransformer):
    """A row's own reviews: count, ratings, share negative (rating ≤ max or complaint by the pluggable
    `review_scorer`), counterfeit-mention rate and recency."""

    def __init__(
        self,
        *,
        review_scorer: Any = None,
        lexicon: Lexicon | None = None,
        complaint_rating_max: int = 2,
        negative_threshold: float = 0.5,
        recent_days: int = 90,
        as_of: date | None = None,
    ) -> None:
        self.review_scorer = review_scorer
        self.lexicon = lexicon
        self.complaint_rating_max = complaint_rating_max
        self.negative_threshold = negative_threshold
        self.recent_days = recent_days
        self.as_of = as_of

    _REQUIRED = ("review_texts", "review_ratings", "review_dates")

    def fit(self, X: pd.DataFrame, y: Any = None) -> ReviewFeatures:
        X = self._check_frame(X, self._REQUIRED)
        self.lexicon_ = self.lexicon if self.lexicon is not None else Lexicon.load()
        self.scorer_ = self.review_scorer if self.review_scorer is not None else LexiconReviewScorer(self.lexicon_)
        self.as_of_ = _as_of(X, self.as_of)
        self.names_ = [
            "n",
            "log_n",
            "mean_rating",
            "share_low_rating",
            "mean_complaint_p",
            "share_complaint_text",
            "share_negative",
            "n_negative",
            "fake_mention_rate",
            "n_fake_mentions",
            "days_since_last",
            "days_since_first",
            "share_recent",
            "n_recent",
        ]
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        X = self._check_frame(X, self._REQUIRED)
        # score and match each distinct review text once
        distinct: dict[str, int] = {}
        for lst in X["review_texts"]:
            for t in lst:
                distinct.setdefault(str(t), len(distinct))
        texts = list(distinct)
        p = _scores(self.scorer_, texts)
        norm = [n.text for n in normalize_many(texts)]
        counts = self.lexicon_.counts_many(norm)
        kinds = self.lexicon_.kinds
        fake = np.zeros(len(texts), dtype=bool)
        for kind in ("fake_mention", "counterfeit_cue"):
            if kind in kinds:
                fake |= counts[:, kinds.index(kind)] > 0
        # flatten the rows' reviews; each row's reviews are one contiguous segment
        lengths = np.fromiter((len(lst) for lst in X["review_texts"]), dtype=np.int64, count=len(X))
        total = int(lengths.sum())
        row = np.repeat(np.arange(len(X)), lengths)
        tidx = np.fromiter((distinct[str(t)] for lst in X["review_texts"] for t in lst), dtype=np.int64, count=total)
        ratings = np.fromiter((float(x) for lst in X["review_ratings"] for x in lst), dtype=np.float64, count=total)
        dates = np.array([d for lst in X["review_dates"] for d in lst], dtype="datetime64[D]")
        as_of_day = np.datetime64(self.as_of_.date(), "D")
        age = (as_of_day - dates).astype(np.float64) if total else np.zeros(0)
        pr = p[tidx]
        low = ratings <= self.complaint_rating_max
        text_c = pr >= self.negative_threshold
        neg = low | text_c
        fk = fake[tidx]
        recent = age <= self.recent_days
        n = lengths.astype(np.float64)
        k = len(X)

        def total_of(w: NDArray[Any]) -> NDArray[np.float64]:
            return np.bincount(row, weights=w.astype(np.float64), minlength=k).astype(np.float64)

        with np.errstate(invalid="ignore", divide="ignore"):
            share = 1.0 / n  # inf for rows without reviews: those rows are filled below
            mean_rating = total_of(ratings) * share
            last = np.full(k, np.nan)
            first = np.full(k, np.nan)
            has = lengths > 0
            if total:
                starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[has]
                last[has] = np.minimum.reduceat(age, starts)
                first[has] = np.maximum.reduceat(age, starts)
            cols = [
                n,
                np.log1p(n),
                mean_rating,
                total_of(low) * share,
                total_of(pr) * share,
                total_of(text_c) * share,
                total_of(neg) * share,
                total_of(neg),
                total_of(fk) * share,
                total_of(fk),
                last,
                first,
                total_of(recent) * share,
                total_of(recent),
            ]
        out = np.column_stack(cols) if k else np.zeros((0, len(self.names_)))
        # no reviews: counts and shares are 0, the mean rating and recency undefined
        out[~has] = 0.0
        out[~has, 2] = np.nan
        out[~has, 10] = np.nan
        out[~has, 11] = np.nan
        return out


# -- merchant and its linked identity ---------------------------------------------------------------
def listing_folds(listing_ids: pd.Series, folds: int) -> NDArray[np.int64]:
    """The one out-of-fold assignment of the label-driven features: a stable fold number per listing id.

    md5 of the id, so it depends neither on the process nor on the row order; `MerchantFeatures` and the
    blocks of `features.pooling` all use it, so a training row's fold is the same in every block. (The
    `pool:` salt is the one the first blocks were fitted with: kept, so their folds do not move.)
    """
    return np.array(
        [int(hashlib.md5(f"pool:{i}".encode()).hexdigest()[:8], 16) % folds for i in listing_ids.astype(str)],
        dtype=np.int64,
    )


# identity statistics, in this order
_ID_STATS = (
    "shops",
    "platforms",
    "removals",
    "bad_registry",
    "lab_tests",
    "lab_fails",
    *(f"fails_{t}" for t in FAILURE_TYPES),
    "reviews",
    "low_reviews",
)
_S = {name: i for i, name in enumerate(_ID_STATS)}


def _lab_delta(results: Any) -> NDArray[np.float64]:
    """The identity statistics that (verdict, failure_types) lab results add: tests, fails, fails per type."""
    delta = np.zeros(len(_ID_STATS), dtype=np.float64)
    for verdict, types in results:
        delta[_S["lab_tests"]] += 1
        if _str(verdict) == "fail":
            delta[_S["lab_fails"]] += 1
            for t in split_failure_types(types):
                if t in FAILURE_TYPES:
                    delta[_S[f"fails_{t}"]] += 1
    return delta


class MerchantFeatures(_FrameTransformer):
    """The merchant's own record (registry status, shop age, removals, credit code, phone, platform)
    and the history of its linked identity learned at fit: shops, platforms, removals and bad registry
    entries across linked shops, lab failures (smoothed, with counts) and complaint counts.

    Lab history in training is **out of fold**: `fit_transform` gives a lab-tested row the history of its
    identity without any lab result of its fold (`listing_folds`, the folds of `features.pooling`), so a
    label never feeds its own feature, nor does the row's own verdict shape its siblings' values against it
    (leave-one-out would: a failing row would see its identity's rate without its failure, a passing row
    with all of them). `transform` (held-out, batch and online scoring) uses the full history, leaving out
    the row's own listing's result if the fit saw it, and adds the lab results of the row's merchant that
    the fit did not see (`merchant_lab_*` columns, `new_merchant_labs`). Frames without `listing_id` (the
    merchant frame) have no folds: the full history.
    """

    _REQUIRED = ("merchant_id", "shop_name", "credit_code", "phone", "registry_status", "opened_date")

    def __init__(
        self, *, smoothing: float = 5.0, complaint_rating_max: int = 2, as_of: date | None = None, folds: int = 5
    ) -> None:
        self.smoothing = smoothing
        self.complaint_rating_max = complaint_rating_max
        self.as_of = as_of
        self.folds = folds

    def fit(self, X: pd.DataFrame, y: Any = None) -> MerchantFeatures:
        X = self._check_frame(X, self._REQUIRED)
        self.as_of_ = _as_of(X, self.as_of)
        shops = X.drop_duplicates("merchant_id")
        records = list(zip(shops["credit_code"], shops["phone"], shops["shop_name"], strict=True))
        self.index_, idents = IdentityIndex.build(records)
        self.merchant_identity_ = {str(m): i for m, i in zip(shops["merchant_id"], idents, strict=True)}
        # which shops carry each key: a key links a shop to *others* only if someone else has it too
        self.key_shops_: dict[tuple[str, str], list[str]] = {}
        for mid, rec in zip(shops["merchant_id"].astype(str), records, strict=True):
            for key in shop_keys(*rec):
                self.key_shops_.setdefault(key, []).append(mid)
        plat_col = "merchant_platform" if "merchant_platform" in shops else "platform"
        stats = self._shop_stats(shops, idents, plat_col)
        self._add_row_stats(X, stats)
        self.stats_ = stats
        self.seen_labs_ = seen_lab_keys(X)
        tests = stats[:, _S["lab_tests"]].sum()
        self.prior_fail_ = float(stats[:, _S["lab_fails"]].sum() / tests) if tests else 0.0
        self.prior_type_ = {
            t: (float(stats[:, _S[f"fails_{t}"]].sum() / tests) if tests else 0.0) for t in FAILURE_TYPES
        }
        n_rev = stats[:, _S["reviews"]].sum()
        self.prior_low_ = float(stats[:, _S["low_reviews"]].sum() / n_rev) if n_rev else 0.0
        self.platforms_ = _levels(shops[plat_col], 1) if plat_col in shops else []
        self.names_ = self._feature_names()
        return self

    def _shop_stats(self, shops: pd.DataFrame, idents: Any, plat_col: str) -> NDArray[np.float64]:
        """Per identity: its shops, removals elsewhere, bad registry statuses and platforms (the other
        `_ID_STATS` columns start at 0)."""
        stats = np.zeros((self.index_.n_identities, len(_ID_STATS)), dtype=np.float64)
        platforms: list[set[str]] = [set() for _ in range(self.index_.n_identities)]
        for (_, row), ident in zip(shops.iterrows(), idents, strict=True):
            stats[ident, _S["shops"]] += 1
            stats[ident, _S["removals"]] += float(row.get("removals_elsewhere", 0) or 0)
            stats[ident, _S["bad_registry"]] += _str(row["registry_status"]) not in ("", "normal")
            if plat_col in shops:
                platforms[ident].add(_str(row[plat_col]))
        for i, ps in enumerate(platforms):
            stats[i, _S["platforms"]] = len(ps - {""})
        return stats

    def _add_row_stats(self, X: pd.DataFrame, stats: NDArray[np.float64]) -> None:
        """Add each row's lab results and reviews to its identity's `stats`, row by row; per-listing lab
        contributions are kept in `listing_lab_`: a row's history leaves its own out (and in training its
        fold's, `fit_transform`)."""
        self.listing_lab_: dict[str, tuple[int, NDArray[np.float64]]] = {}
        has_lab = "lab_verdicts" in X and "lab_failure_types" in X
        has_rev = "review_ratings" in X
        n = len(X)
        mids = X["merchant_id"].astype(str).tolist()
        lids = X["listing_id"].astype(str).tolist() if "listing_id" in X else None
        verdicts = X["lab_verdicts"].tolist() if has_lab else [[]] * n
        ftypes = X["lab_failure_types"].tolist() if has_lab else [[]] * n
        ratings_l = X["review_ratings"].tolist() if has_rev else [[]] * n
        for r in range(n):
            ident = self.merchant_identity_[mids[r]]
            delta = _lab_delta(zip(verdicts[r], ftypes[r], strict=True)) if has_lab else _lab_delta(())
            stats[ident] += delta
            if lids is not None and delta[_S["lab_tests"]] > 0:
                self.listing_lab_[lids[r]] = (ident, delta)
            if has_rev:
                ratings = ratings_l[r]
                stats[ident, _S["reviews"]] += len(ratings)
                stats[ident, _S["low_reviews"]] += sum(1 for x in ratings if x <= self.complaint_rating_max)

    def _feature_names(self) -> list[str]:
        return [
            *(f"registry={s}" for s in REGISTRY_LEVELS),
            f"registry={OTHER}",
            *(f"platform={p}" for p in self.platforms_),
            f"platform={OTHER}",
            "shop_age_days",
            "removals_elsewhere",
            "has_credit_code",
            "individual_business",
            "has_phone",
            "identity_known",
            "identities_matched",
            "linked_by_code",
            "linked_by_phone",
            "linked_by_name",
            "identity_shops",
            "identity_platforms",
            "identity_removals",
            "identity_bad_registry",
            "lab_tests",
            "lab_fails",
            "lab_fail_rate",
            *(f"lab_fail_rate_{t}" for t in FAILURE_TYPES),
            "identity_reviews",
            "identity_low_reviews",
            "identity_low_review_rate",
        ]

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        return self._features(self._check_frame(X, self._REQUIRED))

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> NDArray[np.float64]:
        """`fit`, then the rows' features with an out-of-fold lab history for the lab-tested rows."""
        self.fit(X, y)
        X = self._check_frame(X, self._REQUIRED)
        if "listing_id" not in X or not self.listing_lab_:
            return self._features(X)
        lids = X["listing_id"].astype(str)
        fold_of = dict(zip(lids, listing_folds(lids, self.folds).tolist(), strict=True))
        # (fold, identity) -> the lab statistics that fold's listings gave the identity
        by_fold: dict[tuple[int, int], NDArray[np.float64]] = {}
        for lid, (ident, delta) in self.listing_lab_.items():
            key = (fold_of[lid], ident)
            by_fold[key] = by_fold[key] + delta if key in by_fold else delta.copy()
        held = [fold_of[i] if i in self.listing_lab_ else None for i in lids]
        return self._features(X, held_fold=held, by_fold=by_fold)

    def _features(
        self,
        X: pd.DataFrame,
        *,
        held_fold: Sequence[int | None] | None = None,
        by_fold: dict[tuple[int, int], NDArray[np.float64]] | None = None,
    ) -> NDArray[np.float64]:
        """The rows' features; a row with a `held_fold` sees its identities' history without that fold's
        lab results (`by_fold`), every other row the full history without its own listing's."""
        plat_col = "merchant_platform" if "merchant_platform" in X else "platform"
        plat = [_str(v) for v in X[plat_col]] if plat_col in X else [""] * len(X)
        reg = [_str(v) for v in X["registry_status"]]
        parts = [_one_hot(reg, REGISTRY_LEVELS), _one_hot(plat, self.platforms_)]
        m = self.smoothing
        rows = np.zeros((len(X), len(self.names_) - parts[0].shape[1] - parts[1].shape[1]), dtype=np.float64)
        lids = str_ids(X["listing_id"]).tolist() if "listing_id" in X else [None] * len(X)
        removals = X["removals_elsewhere"] if "removals_elsewhere" in X else pd.Series([0] * len(X))
        shop_age = _days(self.as_of_, X["opened_date"])
        newer = new_merchant_labs(X, getattr(self, "seen_labs_", None))
        for r, (mid, code, phone, name, opened, rem, lid) in enumerate(
            zip(
                str_ids(X["merchant_id"]),
                X["credit_code"],
                X["phone"],
                X["shop_name"],
                shop_age,
                removals,
                lids,
                strict=True,
            )
        ):
            idents, _ = self.index_.resolve(code, phone, name)
            via = {k for k, v in shop_keys(code, phone, name) if any(o != mid for o in self.key_shops_.get((k, v), ()))}
            own = self.merchant_identity_.get(mid)
            if own is not None and own not in idents:
                idents.append(own)
            s = self.stats_[idents].sum(axis=0) if idents else np.zeros(len(_ID_STATS))
            fold = held_fold[r] if held_fold is not None else None
            if fold is not None and by_fold is not None:  # out of fold: the row's own result is in its fold
                for i in idents:
                    if (fold, i) in by_fold:
                        s = s - by_fold[(fold, i)]
            else:
                own_lab = self.listing_lab_.get(lid) if lid is not None else None
                if own_lab is not None and own_lab[0] in idents:
                    s = s - own_lab[1]
            if newer[r]:  # the merchant's results newer than the model join its identity's history
                s = s + _lab_delta(newer[r])
            tests, fails = s[_S["lab_tests"]], s[_S["lab_fails"]]
            code_s = _str(code).strip().upper()
            rows[r] = (
                opened,
                float(rem or 0),
                bool(code_s),
                code_s.startswith("92"),  # 个体工商户 (individual business) credit codes
                bool(_str(phone).strip()),
                bool(idents),
                len(idents),
                "code" in via,
                "phone" in via,
                "name" in via,
                s[_S["shops"]],
                s[_S["platforms"]],
                s[_S["removals"]],
                s[_S["bad_registry"]],
                tests,
                fails,
                (fails + m * self.prior_fail_) / (tests + m),
                *((s[_S[f"fails_{t}"]] + m * self.prior_type_[t]) / (tests + m) for t in FAILURE_TYPES),
                s[_S["reviews"]],
                s[_S["low_reviews"]],
                (s[_S["low_reviews"]] + m * self.prior_low_) / (s[_S["reviews"]] + m),
            )
        return np.hstack([*parts, rows])


# -- merchant frame: aggregates over the merchant's listings -----------------------------------------
class ListingAggregates(_FrameTransformer):
    """For the merchant model: how many listings, categories, 3C gaps, claims and off-platform contact."""

    _REQUIRED = ("listing_titles", "listing_descriptions", "listing_categories", "listing_ccc_certs")

    def __init__(self, *, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon

    def fit(self, X: pd.DataFrame, y: Any = None) -> ListingAggregates:
        X = self._check_frame(X, self._REQUIRED)
        self.lexicon_ = self.lexicon if self.lexicon is not None else Lexicon.load()
        self.ccc_terms_ = sorted({n.text for n in normalize_many(self.lexicon_.phrases.get("ccc_product", ()))})
        self.names_ = [
            "n_listings",
            "n_categories",
            "n_ccc_missing",
            "share_ccc_missing",
            *(f"share_{k}" for k in CLAIM_KINDS),
            "share_offsite_contact",
        ]
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        X = self._check_frame(X, self._REQUIRED)
        kinds = self.lexicon_.kinds
        out = np.zeros((len(X), len(self.names_)), dtype=np.float64)
        for r, (titles, descs, cats, certs) in enumerate(
            zip(
                X["listing_titles"],
                X["listing_descriptions"],
                X["listing_categories"],
                X["listing_ccc_certs"],
                strict=True,
            )
        ):
            n = len(titles)
            if n == 0:
                continue
            norm = normalize_many([f"{_str(t)} {_str(d)}" for t, d in zip(titles, descs, strict=True)])
            counts = self.lexicon_.counts_many([x.text for x in norm])
            cat_keys = [x.text for x in normalize_many([_str(c) for c in cats])]
            missing = sum(
                1
                for c, cert in zip(cat_keys, certs, strict=True)
                if any(t in c for t in self.ccc_terms_) and not _str(cert).strip()
            )
            claims = [float((counts[:, kinds.index(k)] > 0).mean()) if k in kinds else 0.0 for k in CLAIM_KINDS]
            offsite = float(np.mean([x.n_contacts > 0 for x in norm]))
            out[r] = (n, len(set(cat_keys)), missing, missing / n, *claims, offsite)
        return out


# -- listing frame: the transformer listing text model -------------------------------------------------
class ListingTextScores(_FrameTransformer):
    """The transformer listing text model's reading of a listing's title + description: one probability
    per failure type it predicts (`p_counterfeit`, `p_false_advertising`).

    `text_model` is fine-tuned elsewhere on lab-labelled listings (`models.text.fit_listing_text_model`)
    and passed in; it needs `labels` and `score_listings(frame) -> (n, k) frame`, so the text it reads is
    composed by the model's own code. A model scores the listings it was trained on too well, so
    `cross_fitted` may hold out-of-fold scores for those (index `listing_id`, one column per label):
    `fit_transform` returns them for the listings it covers, the way scikit-learn's `TargetEncoder`
    cross-fits, and the risk models learn how much an honest text score is worth. `transform`, which is
    what held-out, batch and online scoring run, always asks the model.
    """

    _REQUIRED = ("listing_id", "title", "description")

    def __init__(self, *, text_model: Any = None, cross_fitted: pd.DataFrame | None = None) -> None:
        self.text_model = text_model
        self.cross_fitted = cross_fitted

    def fit(self, X: pd.DataFrame, y: Any = None) -> ListingTextScores:
        self._check_frame(X, self._REQUIRED)
        if self.text_model is None:
            raise ValueError("ListingTextScores needs a text_model (see models.text.fit_listing_text_model)")
        self.labels_ = [str(lbl) for lbl in self.text_model.labels]
        self.names_ = [f"p_{lbl}" for lbl in self.labels_]
        if self.cross_fitted is not None:
            missing = [lbl for lbl in self.labels_ if f"text_p_{lbl}" not in self.cross_fitted.columns]
            if missing:
                raise ValueError(f"cross_fitted lacks text_p_ columns for {missing}")
        return self

    def _model_scores(self, X: pd.DataFrame) -> NDArray[np.float64]:
        if len(X) == 0:
            return np.zeros((0, len(self.names_)), dtype=np.float64)
        scored = self.text_model.score_listings(X[["title", "description"]].reset_index(drop=True))
        return np.asarray(scored[[f"text_p_{lbl}" for lbl in self.labels_]], dtype=np.float64)

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        return self._model_scores(self._check_frame(X, self._REQUIRED))

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> NDArray[np.float64]:
        """Cross-fitted scores where `cross_fitted` has the listing, the model's elsewhere."""
        self.fit(X, y)
        X = self._check_frame(X, self._REQUIRED)
        if self.cross_fitted is None:
            return self._model_scores(X)
        ids = X["listing_id"].astype(str)
        cols = [f"text_p_{lbl}" for lbl in self.labels_]
        known = ids.isin(self.cross_fitted.index.astype(str)).to_numpy()
        out = np.zeros((len(X), len(cols)), dtype=np.float64)
        if known.any():
            table = self.cross_fitted.set_axis(self.cross_fitted.index.astype(str))
            out[known] = table.reindex(ids[known].tolist())[cols].to_numpy(dtype=np.float64)
        if (~known).any():
            out[~known] = self._model_scores(X[~known])
        return out


__all__ = [
    "listing_folds",
    "new_merchant_labs",
    "seen_lab_keys",
    "LexiconReviewScorer",
    "ListingAggregates",
    "ListingFeatures",
    "ListingTextScores",
    "MerchantFeatures",
    "PriceFeatures",
    "ReviewFeatures",
    "TextFeatures",
    "TokenNgrams",
]
