"""The real review corpora and the split every figure in the project uses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from core.paths import VOCAB_TXT
from training.corpus import (
    SHOPPING_CATEGORIES,
    SHOPPING_ZIP,
    WAIMAI_CSV,
    load_shopping_reviews,
    load_waimai_reviews,
    split_of,
    validation_split,
)


def test_raw_files_are_the_documented_ones() -> None:
    assert hashlib.md5(VOCAB_TXT.read_bytes()).hexdigest() == "3b5b76c4aef48ecf8cb3abaafe960f09"
    # split on "\n" only: a few WordPiece tokens are themselves Unicode line separators
    assert len(VOCAB_TXT.read_text(encoding="utf-8").rstrip("\n").split("\n")) == 21_128
    assert SHOPPING_ZIP.stat().st_size > 1_000_000 and WAIMAI_CSV.stat().st_size > 100_000


def test_shopping_corpus_is_deduplicated_with_the_documented_counts() -> None:
    df = load_shopping_reviews()
    # 62,774 rows, less one empty review and 49 exact duplicates. (The shared README's 62,723 also merges
    # one review that differs from another only by a leading byte-order mark; the loader keeps the text
    # as written, because the split hashes it.)
    assert len(df) == 62_724
    assert df["review"].is_unique
    assert (df["review"].str.strip() != "").all()
    assert set(df["cat"]) == set(SHOPPING_CATEGORIES)
    assert set(df["label"]) == {0, 1}
    assert int(df["review"].str.contains("假货").sum()) == 700


@pytest.mark.parametrize("loader", [load_shopping_reviews, load_waimai_reviews])
def test_split_is_the_md5_rule_and_about_15_percent(loader) -> None:  # type: ignore[no-untyped-def]
    df = loader()
    expected = df["review"].map(
        lambda r: "test" if int(hashlib.md5(r.encode("utf-8")).hexdigest(), 16) % 100 < 15 else "train"
    )
    assert (df["split"] == expected).all()
    share = (df["split"] == "test").mean()
    assert 0.13 < share < 0.17


@pytest.mark.parametrize("loader", [load_shopping_reviews, load_waimai_reviews])
def test_train_and_test_share_no_review(loader) -> None:  # type: ignore[no-untyped-def]
    train, test = loader("train"), loader("test")
    assert set(train["review"]).isdisjoint(set(test["review"]))
    assert len(train) + len(test) == len(loader())
    assert (train["split"] == "train").all() and (test["split"] == "test").all()


def test_split_is_deterministic_across_loads(tmp_path: Path) -> None:
    a = load_shopping_reviews("test")
    # a fresh read of a byte-identical copy (no cache) gives the same rows in the same order
    copy = tmp_path / "copy.zip"
    copy.write_bytes(SHOPPING_ZIP.read_bytes())
    b = load_shopping_reviews("test", path=copy)
    pd.testing.assert_frame_equal(a, b)
    # the split depends on the text alone, not on position: shuffled rows keep their split
    shuffled = a.sample(frac=1.0, random_state=3)
    assert (shuffled["review"].map(split_of) == "test").all()


def test_split_of_is_a_pure_function_of_text() -> None:
    assert split_of("质量很好，物流也快") == split_of("质量很好，物流也快")
    texts = [f"第{i}条评论" for i in range(2000)]
    share = sum(split_of(t) == "test" for t in texts) / len(texts)
    assert 0.12 < share < 0.18


def test_loaders_return_copies() -> None:
    a = load_shopping_reviews("train")
    a.loc[0, "review"] = "changed"
    assert load_shopping_reviews("train").loc[0, "review"] != "changed"


def test_validation_is_carved_from_train_stably() -> None:
    train = load_shopping_reviews("train")
    fit, val = validation_split(train, share=0.1)
    fit2, val2 = validation_split(train.sample(frac=1.0, random_state=1), share=0.1)
    assert set(val["review"]) == set(val2["review"])
    assert set(fit["review"]).isdisjoint(set(val["review"]))
    assert len(fit) + len(val) == len(train)
    assert 0.08 < len(val) / len(train) < 0.13
    assert not set(val["review"]) & set(load_shopping_reviews("test")["review"])


def test_empty_and_duplicate_reviews_are_dropped_before_splitting(tmp_path: Path) -> None:
    import zipfile

    csv = "cat,label,review\n手机,1,很好用\n手机,1,很好用\n手机,0,\n手机,0,   \n平板,0,屏幕有坏点\n平板,1,很好用\n"
    path = tmp_path / "tiny.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny.csv", csv)
    df = load_shopping_reviews(path=path)
    assert list(df["review"]) == ["很好用", "屏幕有坏点"]
    assert list(df["cat"]) == ["手机", "平板"]  # the first occurrence wins
    assert df["label"].dtype.kind == "i"
