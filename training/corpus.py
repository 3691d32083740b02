"""The real review corpora shipped in `data/raw`, with the split every figure in this project uses.

Split rule (from the corpus README): drop empty and duplicate reviews, then a review is **test** when
`int(md5(review.encode("utf-8")).hexdigest(), 16) % 100 < 15`, else train. Validation is carved out of
train by `validation_split`, with the same hash so it is stable too. Nothing is ever fitted on test.
"""

from __future__ import annotations

import hashlib
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

from core.paths import SHOPPING_ZIP, WAIMAI_CSV

#: the ten categories of online_shopping_10_cats
SHOPPING_CATEGORIES = ("书籍", "平板", "手机", "水果", "洗发水", "热水器", "蒙牛", "衣服", "计算机", "酒店")

Split = Literal["train", "test"]
#: the labelled review corpora by name (`configs/review_model.yaml`'s `corpus`, `choujian reviews cross-source`)
Corpus = Literal["shopping", "waimai"]
CORPORA: tuple[Corpus, ...] = ("shopping", "waimai")


def _bucket(text: str) -> int:
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % 100


def split_of(text: str) -> Split:
    """The official split of one review text."""
    return "test" if _bucket(text) < 15 else "train"


def _dedupe(df: pd.DataFrame) -> pd.DataFrame:
    df = df.dropna(subset=["review"])
    df = df[df["review"].str.strip() != ""]
    df = df.drop_duplicates(subset=["review"], keep="first").reset_index(drop=True)
    df["label"] = df["label"].astype(int)
    df["split"] = df["review"].map(split_of)
    return df


@lru_cache(maxsize=2)
def _shopping(path: str) -> pd.DataFrame:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".csv"))
        with zf.open(name) as fh:
            df = pd.read_csv(fh, encoding="utf-8")
    return _dedupe(df[["cat", "label", "review"]])


@lru_cache(maxsize=2)
def _waimai(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, encoding="utf-8")
    df["cat"] = "外卖"
    return _dedupe(df[["cat", "label", "review"]])


def load_shopping_reviews(split: Split | None = None, *, path: Path = SHOPPING_ZIP) -> pd.DataFrame:
    """online_shopping_10_cats: columns `cat, label, review, split`; `label` 1 = positive, 0 = negative."""
    df = _shopping(str(path))
    return (df[df["split"] == split] if split else df).reset_index(drop=True).copy()


def load_waimai_reviews(split: Split | None = None, *, path: Path = WAIMAI_CSV) -> pd.DataFrame:
    """waimai_10k with the same columns and split rule (`cat` is 外卖)."""
    df = _waimai(str(path))
    return (df[df["split"] == split] if split else df).reset_index(drop=True).copy()


def load_reviews(corpus: Corpus, split: Split | None = None) -> pd.DataFrame:
    """A labelled review corpus by name, with the columns and split rule of the two loaders above."""
    if corpus == "shopping":
        return load_shopping_reviews(split)
    if corpus == "waimai":
        return load_waimai_reviews(split)
    raise ValueError(f"unknown review corpus {corpus!r}: use one of {', '.join(CORPORA)}")


def validation_split(train: pd.DataFrame, *, share: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a stable validation part out of train: hash buckets 15..15+share*85 go to validation."""
    hi = 15 + round(share * 85)
    bucket = train["review"].map(_bucket)
    is_val = (bucket >= 15) & (bucket < hi)
    return train[~is_val].reset_index(drop=True), train[is_val].reset_index(drop=True)
