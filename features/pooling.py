"""Feature blocks that learn from lab labels and are meant to carry over to markets we did not write.

- `PooledRisk` (`pool__*`): failure rates pooled through the seller's linked identity, the brand within
  its category and the category, each shrunk toward its parent level by empirical Bayes (a beta prior whose
  strength is estimated from the between-group spread of the labelled rows, method of moments).
- `RelativePrice` (`relprice__*`): price against robust references of *observed* prices (median and MAD of
  log price) that tell an unbranded or private-label good from a branded one: the brand's own level, the
  branded level and the unbranded level of the category, and how widely the brand is sold (a counterfeit
  copies a brand many shops sell; a one-shop factory brand is private label).
- `TextRisk` (`textrisk__*`): regularised logistic regressions on character n-grams of the normalised title
  and description (`features.normalize`: width, 繁→简 and filler tricks folded), one per label, so cue and
  claim phrasings that are in no lexicon are learnt from lab results.

Labels are the rows' own `lab_verdicts` / `lab_failure_types` (the held-out rows' results are hidden by
training before the pipeline sees the frame). Training rows must not read their own label through these
features, so `fit_transform` returns **out-of-fold** values: rows are split into `folds` by a stable hash of
`listing_id` (`features.transformers.listing_folds`, the folds `MerchantFeatures`' identity lab history uses
too), and a labelled row's value comes from statistics (or a model) fitted without its fold, the way
scikit-learn's `TargetEncoder` cross-fits. `transform` (held-out, batch and online scoring) uses the state
fitted on all rows, and adds to an identity's counts the lab results of the row's merchant that the fit did
not see (`features.transformers.new_merchant_labs`: results recorded after training; never the row's own).
The scikit-learn contract holds: `__init__` stores parameters, learned state ends in `_`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from features.frames import str_ids
from features.identity import IdentityIndex
from features.ngrams import vectorize
from features.normalize import normalize_many
from features.records import split_failure_types
from features.transformers import _FrameTransformer, _str, listing_folds, new_merchant_labs, seen_lab_keys

#: brand field values that mean "no brand"
WHITE_LABEL = ("", "无", "无品牌", "其他", "其它", "白牌", "无牌", "通用", "oem", "none", "n/a")
#: label name -> how a row's lab results make it positive
TARGETS = ("lab_fail", "counterfeit", "false_advertising")


def labels_from_frame(X: pd.DataFrame, targets: Sequence[str] = TARGETS) -> tuple[NDArray[np.bool_], pd.DataFrame]:
    """Which rows have lab results, and per target 0/1 (fail if any test failed; a type if any named it)."""
    n = len(X)
    verdicts = X["lab_verdicts"].tolist() if "lab_verdicts" in X else [[]] * n
    types = X["lab_failure_types"].tolist() if "lab_failure_types" in X else [[]] * n
    has = np.array([len(v) > 0 for v in verdicts], dtype=bool)
    out = {}
    for t in targets:
        if t == "lab_fail":
            out[t] = [float(any(_str(v) == "fail" for v in vs)) for vs in verdicts]
        else:
            out[t] = [float(any(t in split_failure_types(x) for x in ts)) for ts in types]
    return has, pd.DataFrame(out, index=X.index)


def prior_strength(n: NDArray[np.float64], s: NDArray[np.float64], *, lo: float = 2.0, hi: float = 500.0) -> float:
    """Beta-binomial prior strength m (pseudo-count) from groups with n trials and s successes.

    Method of moments: the between-group variance of the true rates is the observed variance of the group
    rates minus the binomial part; m = p(1-p)/τ² - 1, clipped to [lo, hi] (hi when the groups do not differ).
    """
    ok = n >= 2
    if ok.sum() < 3:
        return hi
    n, s = n[ok], s[ok]
    p = float(s.sum() / n.sum())
    if p <= 0 or p >= 1:
        return hi
    r = s / n
    var = float(np.average((r - p) ** 2, weights=n))
    noise = p * (1 - p) * float(np.average(1.0 / n, weights=n))
    tau2 = var - noise
    if tau2 <= 1e-9:
        return hi
    return float(np.clip(p * (1 - p) / tau2 - 1.0, lo, hi))


def _brand_key(category: Any, brand: Any, white: frozenset[str]) -> tuple[str, str]:
    b = _str(brand).strip().lower()
    return _str(category), ("" if b in white else b)


# -- pooled risk --------------------------------------------------------------------------------------------
class PooledRisk(_FrameTransformer):
    """Shrunk failure rates of the row's category, brand-in-category and linked seller identity, per target."""

    _REQUIRED = ("listing_id", "merchant_id", "category", "brand", "credit_code", "phone", "shop_name")

    def __init__(
        self, *, targets: Sequence[str] = TARGETS, folds: int = 5, white_label: Sequence[str] = WHITE_LABEL
    ) -> None:
        self.targets = targets
        self.folds = folds
        self.white_label = white_label

    def _keys(self, X: pd.DataFrame) -> tuple[list[str], list[tuple[str, str]]]:
        white = frozenset(w.lower() for w in self.white_label)
        cats = [_str(c) for c in X["category"]]
        brands = [_brand_key(c, b, white) for c, b in zip(X["category"], X["brand"], strict=True)]
        return cats, brands

    def _identities(self, X: pd.DataFrame) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        for mid, code, phone, name in zip(
            str_ids(X["merchant_id"]), X["credit_code"], X["phone"], X["shop_name"], strict=True
        ):
            own = self.merchant_identity_.get(mid)
            if own is not None:
                out.append((own,))
            else:
                out.append(tuple(self.index_.resolve(code, phone, name)[0]))
        return out

    @staticmethod
    def _table(keys: list[Any], y: NDArray[np.float64], use: NDArray[np.bool_]) -> dict[Any, tuple[float, float]]:
        t: dict[Any, list[float]] = {}
        for k, v, u in zip(keys, y, use, strict=True):
            if u:
                e = t.setdefault(k, [0.0, 0.0])
                e[0] += 1.0
                e[1] += float(v)
        return {k: (v[0], v[1]) for k, v in t.items()}

    def _stats(
        self, cats: list[str], brands: list[tuple[str, str]], idents: list[tuple[int, ...]], has: Any, Y: pd.DataFrame
    ) -> dict[str, Any]:
        """Counts (n, s) per category, brand and identity, and global rates, from the rows where `has`."""
        out: dict[str, Any] = {}
        first = [i[0] if i else -1 for i in idents]
        for t in self.targets:
            y = Y[t].to_numpy(dtype=np.float64)
            n_all = float(has.sum())
            out[t] = {
                "global": float(y[has].sum() / n_all) if n_all else 0.0,
                "category": self._table(list(cats), y, has),
                "brand": self._table(list(brands), y, has),
                "identity": self._table(first, y, has & (np.array(first) >= 0)),
            }
        return out

    def fit(self, X: pd.DataFrame, y: Any = None) -> PooledRisk:
        self._fit(X)
        return self

    def _fit(self, X: pd.DataFrame) -> tuple[list[str], list[tuple[str, str]], list[tuple[int, ...]], Any, Any]:
        X = self._check_frame(X, self._REQUIRED)
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown target(s) {unknown}: choose from {TARGETS}")
        shops = X.drop_duplicates("merchant_id")
        records = list(zip(shops["credit_code"], shops["phone"], shops["shop_name"], strict=True))
        self.index_, ids = IdentityIndex.build(records)
        self.merchant_identity_ = {str(m): i for m, i in zip(shops["merchant_id"], ids, strict=True)}
        cats, brands = self._keys(X)
        idents = self._identities(X)
        has, Y = labels_from_frame(X, self.targets)
        self.stats_ = self._stats(cats, brands, idents, has, Y)
        self.seen_labs_ = seen_lab_keys(X)
        # prior strengths from the full fit: one number per level and target
        self.strength_ = {}
        for t in self.targets:
            st = self.stats_[t]
            self.strength_[t] = {
                lvl: prior_strength(
                    np.array([v[0] for v in st[lvl].values()]), np.array([v[1] for v in st[lvl].values()])
                )
                for lvl in ("category", "brand", "identity")
            }
        self.names_ = []
        for t in self.targets:
            self.names_ += [f"category_rate_{t}", f"brand_rate_{t}", f"identity_rate_{t}"]
        self.names_ += ["brand_tested", "identity_tested"]
        return cats, brands, idents, has, Y

    def _encode(
        self,
        stats: dict[str, Any],
        cats: list[str],
        brands: list[tuple[str, str]],
        idents: list[tuple[int, ...]],
        newer: list[list[tuple[str, str]]] | None = None,
    ) -> NDArray[np.float64]:
        """`newer`: per row, its merchant's lab results the fit did not see; they add to the identity's counts."""
        out = np.zeros((len(cats), len(self.names_)), dtype=np.float64)
        extra = self._newer_counts(newer, len(cats))
        col = 0
        for t in self.targets:
            st, m = stats[t], self.strength_[t]
            g = st["global"]
            for r, (c, b, ids) in enumerate(zip(cats, brands, idents, strict=True)):
                nc, sc = st["category"].get(c, (0.0, 0.0))
                rc = (sc + m["category"] * g) / (nc + m["category"])
                nb, sb = st["brand"].get(b, (0.0, 0.0))
                rb = (sb + m["brand"] * rc) / (nb + m["brand"])
                ni = sum(st["identity"].get(i, (0.0, 0.0))[0] for i in ids) + extra[r][t][0]
                si = sum(st["identity"].get(i, (0.0, 0.0))[1] for i in ids) + extra[r][t][1]
                ri = (si + m["identity"] * g) / (ni + m["identity"])
                out[r, col : col + 3] = (rc, rb, ri)
            col += 3
        t0 = stats[self.targets[0]]
        for r, (b, ids) in enumerate(zip(brands, idents, strict=True)):
            out[r, col] = t0["brand"].get(b, (0.0, 0.0))[0]
            out[r, col + 1] = sum(t0["identity"].get(i, (0.0, 0.0))[0] for i in ids) + extra[r][self.targets[0]][0]
        return out

    def _newer_counts(self, newer: list[list[tuple[str, str]]] | None, n: int) -> list[dict[str, tuple[float, float]]]:
        """(tests, failures) per target that each row's newer lab results add."""
        zero = dict.fromkeys(self.targets, (0.0, 0.0))
        if newer is None:
            return [zero] * n
        out: list[dict[str, tuple[float, float]]] = []
        for results in newer:
            if not results:
                out.append(zero)
                continue
            counts = {}
            for t in self.targets:
                if t == "lab_fail":
                    s = sum(1.0 for v, _ in results if v == "fail")
                else:
                    s = sum(1.0 for _, ts in results if t in split_failure_types(ts))
                counts[t] = (float(len(results)), s)
            out.append(counts)
        return out

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        X = self._check_frame(X, self._REQUIRED)
        cats, brands = self._keys(X)
        newer = new_merchant_labs(X, getattr(self, "seen_labs_", None))
        return self._encode(self.stats_, cats, brands, self._identities(X), newer)

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> NDArray[np.float64]:
        """Out-of-fold encodings for the labelled rows, full-fit encodings for the rest."""
        cats, brands, idents, has, Y = self._fit(X)
        out = self._encode(self.stats_, cats, brands, idents)
        fold = listing_folds(X["listing_id"], self.folds)
        for f in range(self.folds):
            rows = has & (fold == f)
            if not rows.any():
                continue
            stats = self._stats(cats, brands, idents, has & (fold != f), Y)
            idx = np.flatnonzero(rows)
            out[idx] = self._encode(stats, [cats[i] for i in idx], [brands[i] for i in idx], [idents[i] for i in idx])
        return out


# -- relative price -----------------------------------------------------------------------------------------
class RelativePrice(_FrameTransformer):
    """Log price against the brand's, the category's branded and the category's unbranded median (MAD-scaled),
    whether the good is unbranded or private label, and how many shops sell the brand."""

    _REQUIRED = ("price", "category", "brand", "merchant_id")

    def __init__(
        self, *, min_count: int = 5, mad_floor: float = 0.05, private_label_shops: int = 1,
        white_label: Sequence[str] = WHITE_LABEL,
    ) -> None:  # fmt: skip
        self.min_count = min_count
        self.mad_floor = mad_floor
        self.private_label_shops = private_label_shops
        self.white_label = white_label

    @staticmethod
    def _ref(lp: pd.Series) -> tuple[float, float, int]:
        med = float(lp.median())
        return med, float((lp - med).abs().median()) * 1.4826, int(len(lp))

    def _columns(self, X: pd.DataFrame) -> tuple[NDArray[np.float64], list[str], list[str]]:
        """Log price (floored at 0.01), category and brand key of each row: what fit groups and transform reads."""
        white = frozenset(w.lower() for w in self.white_label)
        keys = [_brand_key(c, b, white) for c, b in zip(X["category"], X["brand"], strict=True)]
        lp = np.log(np.maximum(X["price"].to_numpy(dtype=np.float64), 0.01))
        return lp, [k[0] for k in keys], [k[1] for k in keys]

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        lp, cats, brands = self._columns(X)
        return pd.DataFrame({"lp": lp, "cat": cats, "brand": brands, "mid": X["merchant_id"].astype(str).to_numpy()})

    def fit(self, X: pd.DataFrame, y: Any = None) -> RelativePrice:
        X = self._check_frame(X, self._REQUIRED)
        df = self._frame(X)
        branded = df[df["brand"] != ""]
        reach = branded.groupby(["cat", "brand"])["mid"].nunique()
        self.shops_ = {(str(c), str(b)): int(v) for (c, b), v in zip(reach.index, reach.to_numpy(), strict=True)}
        pairs = zip(branded["cat"], branded["brand"], strict=True)
        private = np.array([self.shops_.get((c, b), 0) <= self.private_label_shops for c, b in pairs], dtype=bool)
        wide = branded[~private]
        unbranded = pd.concat([df[df["brand"] == ""], branded[private]])
        self.brand_ = {(str(k[0]), str(k[1])): self._ref(g["lp"]) for k, g in wide.groupby(["cat", "brand"])}
        self.branded_ = {str(k): self._ref(g["lp"]) for k, g in wide.groupby("cat")}
        self.unbranded_ = {str(k): self._ref(g["lp"]) for k, g in unbranded.groupby("cat")}
        self.names_ = [
            "unbranded_or_private",
            "log_brand_shops",
            "z_brand",
            "z_category_branded",
            "z_category_unbranded",
            "branded_minus_unbranded_level",
        ]
        return self

    def _z(self, lp: float, ref: tuple[float, float, int] | None) -> float:
        if ref is None or ref[2] < self.min_count:
            return float("nan")
        return (lp - ref[0]) / max(ref[1], self.mad_floor)

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        lps, cats, brands = self._columns(self._check_frame(X, self._REQUIRED))
        out = np.zeros((len(lps), len(self.names_)), dtype=np.float64)
        for r, (lp, c, b) in enumerate(zip(lps.tolist(), cats, brands, strict=True)):
            shops = self.shops_.get((c, b), 0) if b else 0
            private = not b or shops <= self.private_label_shops
            br, ub = self.branded_.get(c), self.unbranded_.get(c)
            gap = br[0] - ub[0] if br is not None and ub is not None else float("nan")
            out[r] = (
                float(private),
                float(np.log1p(shops)),
                float("nan") if private else self._z(lp, self.brand_.get((c, b))),
                self._z(lp, br),
                self._z(lp, ub),
                gap,
            )
        return out


# -- text risk ----------------------------------------------------------------------------------------------
class TextRisk(_FrameTransformer):
    """Per target, the log-odds of an L2-regularised logistic regression on character n-grams (TF-IDF) of the
    normalised title + description, fitted on the labelled rows; out-of-fold for those rows in training."""

    _REQUIRED = ("listing_id", "title")

    def __init__(
        self, *, targets: Sequence[str] = TARGETS, folds: int = 5, ngram_max: int = 3, min_df: int = 3,
        max_features: int = 50_000, c: float = 1.0, min_labels: int = 30,
    ) -> None:  # fmt: skip
        self.targets = targets
        self.folds = folds
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.c = c
        self.min_labels = min_labels

    @staticmethod
    def _texts(X: pd.DataFrame) -> list[str]:
        descs = X["description"] if "description" in X else pd.Series([""] * len(X))
        joined = [f"{_str(t)} {_str(d)}" for t, d in zip(X["title"], descs, strict=True)]
        return [n.text for n in normalize_many(joined)]

    def _model(self, M: Any, y: NDArray[np.float64]) -> LogisticRegression | float:
        """A fitted regression, or the log-odds of the base rate when the labels cannot support one."""
        pos = int(y.sum())
        if len(y) < self.min_labels or pos < 3 or pos > len(y) - 3:
            p = (y.sum() + 1.0) / (len(y) + 2.0)
            return float(np.log(p / (1 - p)))
        return LogisticRegression(C=self.c, max_iter=2000).fit(M, y)

    @staticmethod
    def _score(model: LogisticRegression | float, M: Any) -> NDArray[np.float64]:
        if isinstance(model, float):
            return np.full(M.shape[0], model)
        return np.asarray(model.decision_function(M), dtype=np.float64)

    def _fit(self, X: pd.DataFrame) -> tuple[Any, NDArray[np.bool_], pd.DataFrame]:
        X = self._check_frame(X, self._REQUIRED)
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown target(s) {unknown}: choose from {TARGETS}")
        texts = self._texts(X)
        self.vectorizer_ = TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, self.ngram_max),
            min_df=min(self.min_df, max(1, len(X))),
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float64,
        )
        M = self.vectorizer_.fit_transform(texts)  # one pass: the same matrix as fit, then transform
        has, Y = labels_from_frame(X, self.targets)
        self.models_ = {t: self._model(M[has], Y[t].to_numpy(dtype=np.float64)[has]) for t in self.targets}
        self.names_ = [f"logit_{t}" for t in self.targets]
        return M, has, Y

    def fit(self, X: pd.DataFrame, y: Any = None) -> TextRisk:
        self._fit(X)
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        M = vectorize(self.vectorizer_, self._texts(self._check_frame(X, self._REQUIRED)))
        return np.column_stack([self._score(self.models_[t], M) for t in self.targets])

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> NDArray[np.float64]:
        """Out-of-fold log-odds for the labelled rows (the vocabulary is label-free), full-fit ones for the rest."""
        M, has, Y = self._fit(X)
        out = np.column_stack([self._score(self.models_[t], M) for t in self.targets])
        fold = listing_folds(X["listing_id"], self.folds)
        for f in range(self.folds):
            rows = has & (fold == f)
            train = has & (fold != f)
            if not rows.any():
                continue
            for j, t in enumerate(self.targets):
                model = self._model(M[train], Y[t].to_numpy(dtype=np.float64)[train])
                out[rows, j] = self._score(model, M[rows])
        return out


class WithoutColumns(_FrameTransformer):
    """A fitted transformer's output without the columns whose names start with one of `drop`.

    Used to leave out `MerchantFeatures`' leave-one-out lab history (`merchant__lab_*`) when `PooledRisk`'s
    out-of-fold identity rates replace it: with leave-one-out, a failing training row sees its identity's
    rate without its own failure and a passing row with every failure, so within an identity the feature
    is lower for the failing rows, a pattern that held-out rows do not have.
    """

    def __init__(self, *, transformer: Any = None, drop: Sequence[str] = ()) -> None:
        self.transformer = transformer
        self.drop = drop

    def _select(self) -> None:
        names = [str(n) for n in self.transformer_.get_feature_names_out()]
        self.columns_ = np.array([i for i, n in enumerate(names) if not n.startswith(tuple(self.drop))], dtype=int)
        self.names_ = [names[i] for i in self.columns_]

    def fit(self, X: pd.DataFrame, y: Any = None) -> WithoutColumns:
        if self.transformer is None:
            raise ValueError("WithoutColumns needs a transformer")
        self.transformer_ = clone(self.transformer).fit(X, y)
        self._select()
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "names_")
        return np.asarray(self.transformer_.transform(X), dtype=np.float64)[:, self.columns_]

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> NDArray[np.float64]:
        """The inner transformer's own `fit_transform` (leave-one-out or out-of-fold values), selected."""
        if self.transformer is None:
            raise ValueError("WithoutColumns needs a transformer")
        self.transformer_ = clone(self.transformer)
        out = np.asarray(self.transformer_.fit_transform(X, y), dtype=np.float64)
        self._select()
        return out[:, self.columns_]


def label_blocks(*, pooled: bool, relative_price: bool, text_risk: bool, folds: int = 5) -> list[tuple[str, Any]]:
    """The (name, transformer) pairs `build_pipeline` appends for the enabled blocks."""
    out: list[tuple[str, Any]] = []
    if pooled:
        out.append(("pool", PooledRisk(folds=folds)))
    if relative_price:
        out.append(("relprice", RelativePrice()))
    if text_risk:
        out.append(("textrisk", TextRisk(folds=folds)))
    return out


def pooling_meanings() -> dict[str, tuple[str, str, str]]:
    """Meanings of this module's features: name -> (code, zh, en)."""
    zh = {"lab_fail": "抽检不合格", "counterfeit": "假冒", "false_advertising": "虚假宣传"}
    out: dict[str, tuple[str, str, str]] = {}
    for t in TARGETS:
        out[f"pool__category_rate_{t}"] = ("CATEGORY_FAIL_RATE", f"该类目历史{zh[t]}率", f"past {t} rate of category")
        out[f"pool__brand_rate_{t}"] = ("BRAND_FAIL_RATE", f"该品牌历史{zh[t]}率高", f"high past {t} rate of the brand")
        out[f"pool__identity_rate_{t}"] = (
            "SELLER_FAIL_RATE",
            f"关联经营者历史{zh[t]}率高",
            f"high past {t} rate of the linked seller",
        )
        out[f"textrisk__logit_{t}"] = (
            "TEXT_PATTERNS",
            f"标题/描述的字词模式与历史{zh[t]}商品相似",
            f"title/description wording resembles past {t} listings",
        )
    out["pool__brand_tested"] = ("BRAND_FAIL_RATE", "该品牌历史抽检数量", "past lab tests of the brand")
    out["pool__identity_tested"] = ("PAST_LAB_TESTS", "关联经营者历史抽检数量", "past lab tests of the linked seller")
    out["relprice__unbranded_or_private"] = ("UNBRANDED", "无品牌或自有小品牌商品", "unbranded or private-label good")
    out["relprice__log_brand_shops"] = ("BRAND_REACH", "销售该品牌的店铺数量", "number of shops selling the brand")
    out["relprice__z_brand"] = ("PRICE_VS_BRAND", "价格偏离该品牌正常价位", "price far from the brand's usual level")
    out["relprice__z_category_branded"] = (
        "PRICE_VS_CATEGORY",
        "价格偏离类目品牌商品价位",
        "price far from the category's branded level",
    )
    out["relprice__z_category_unbranded"] = (
        "PRICE_VS_CATEGORY",
        "价格偏离类目无品牌商品价位",
        "price far from the category's unbranded level",
    )
    out["relprice__branded_minus_unbranded_level"] = (
        "PRICE_VS_CATEGORY",
        "类目品牌与无品牌商品的价差",
        "gap between the category's branded and unbranded prices",
    )
    return out


__all__ = [
    "TARGETS",
    "WHITE_LABEL",
    "PooledRisk",
    "RelativePrice",
    "TextRisk",
    "WithoutColumns",
    "label_blocks",
    "labels_from_frame",
    "pooling_meanings",
    "prior_strength",
]
