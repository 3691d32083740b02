"""`features.ngrams.vectorize` gives scikit-learn's matrix entry for entry, and falls back where it cannot."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from features.ngrams import char_ngrams, counts, vectorize

TRAIN = [
    "正品保证 国家级 专柜验货 加微信 V❤ xx123",
    "纯天然  无添加\t\t儿童 玩具 3C认证",
    "ＡＢＣ 全网最低价！！！ 假一赔十",
    "Nike 耐克 运动鞋 男款 正品",
    "",
    "厂家直销 白牌 收纳盒",
    "海关罚没渠道 大牌 尾单",
]
AWKWARD = [
    "",
    " ",
    "   \n\t  ",
    "正品",
    "国家级国家级国家级",
    "ABC abc ÀBÇ",
    "İstanbul ǅ ß",  # lower() changes the length
    "emoji 😀😀 in 正品",
    "\x00 NUL and \ud800 lone surrogate",
    "全新未知字符𠀀𠀁 没有见过",
    "加  微  信",
]


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> None:
    assert a.shape == b.shape
    assert a.has_sorted_indices and b.has_sorted_indices
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)  # exact: the same floats, not close ones


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 3), (2, 4), (1, 4), (3, 3)])
@pytest.mark.parametrize("kind", [TfidfVectorizer, CountVectorizer])
@pytest.mark.parametrize("lowercase", [True, False])
def test_char_vectorizers_match_scikit_learn(ngram_range, kind, lowercase):
    kw = {"sublinear_tf": True} if kind is TfidfVectorizer else {}
    vec = kind(analyzer="char", ngram_range=ngram_range, lowercase=lowercase, **kw).fit(TRAIN)
    for texts in (TRAIN, AWKWARD, TRAIN + AWKWARD, AWKWARD[:1]):
        _same(vec.transform(texts), vectorize(vec, texts))
    try:  # no texts: TF-IDF refuses them, counts are an empty matrix; the same either way
        expected = vec.transform([])
    except ValueError as e:
        with pytest.raises(ValueError, match=re.escape(str(e))):
            vectorize(vec, [])
    else:
        _same(expected, vectorize(vec, []))


def test_a_refitted_vectorizer_is_not_read_with_its_old_vocabulary():
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2)).fit(TRAIN[:3])
    _same(vec.transform(AWKWARD), vectorize(vec, AWKWARD))
    vec.fit(TRAIN[3:])  # the same object, a new vocabulary
    _same(vec.transform(AWKWARD + TRAIN), vectorize(vec, AWKWARD + TRAIN))
    vec.set_params(ngram_range=(1, 3)).fit(TRAIN)
    _same(vec.transform(AWKWARD + TRAIN), vectorize(vec, AWKWARD + TRAIN))


def test_binary_and_capped_vocabularies_match():
    vec = CountVectorizer(analyzer="char", ngram_range=(1, 3), binary=True, max_features=20).fit(TRAIN)
    _same(vec.transform(AWKWARD + TRAIN), vectorize(vec, AWKWARD + TRAIN))


def test_char_ngrams_order_is_scikit_learns():
    vec = CountVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False)
    for text in AWKWARD + TRAIN:
        assert char_ngrams(text, 1, 3) == vec.build_analyzer()(text)


def test_callable_analyzers_match_scikit_learn():
    """Word analyzers of the product: `TokenNgrams` on token lists (listing text), `SegmentedWords` on
    review texts (the review partner)."""
    from features.transformers import TokenNgrams
    from models.text.ngram import SegmentedWords

    tokens = [t.split() for t in TRAIN + AWKWARD]
    for analyzer in (TokenNgrams(1), TokenNgrams(2)):
        vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True).fit(tokens[:7])
        _same(vec.transform(tokens), vectorize(vec, tokens))
        _same(vec.transform([[], ["正品"]]), vectorize(vec, [[], ["正品"]]))
    encodable = [t for t in AWKWARD if "\ud800" not in t]  # the segmenter refuses a lone surrogate
    vec = TfidfVectorizer(analyzer=SegmentedWords(2), sublinear_tf=True).fit(TRAIN)
    _same(vec.transform(encodable + TRAIN), vectorize(vec, encodable + TRAIN))
    counted = CountVectorizer(analyzer=SegmentedWords(1), binary=True).fit(TRAIN)
    _same(counted.transform(encodable), vectorize(counted, encodable))
    assert counts(counted, ["ok", b"bytes"]) is None  # scikit-learn decodes bytes first: its own path


def test_what_it_cannot_reproduce_goes_through_transform():
    words = TfidfVectorizer(analyzer="word").fit(["aa bb cc", "bb cc dd"])
    assert counts(words, ["aa bb"]) is None
    _same(words.transform(["aa bb", "dd"]), vectorize(words, ["aa bb", "dd"]))
    stripped = CountVectorizer(analyzer="char", strip_accents="unicode").fit(TRAIN)
    assert counts(stripped, AWKWARD) is None
    mixed = CountVectorizer(analyzer="char").fit(TRAIN)
    assert counts(mixed, ["正品", b"bytes"]) is None  # type: ignore[list-item]
    with pytest.raises(ValueError, match="string object received"):
        vectorize(mixed, "a single string")
    with pytest.raises(Exception, match="not fitted"):
        vectorize(TfidfVectorizer(analyzer="char"), ["x"])


def test_text_risk_and_review_partner_vectorizers_match(tiny_market):
    """A fitted `TextRisk` (character 1-3-grams of normalised listing texts) and the review partner's
    character 1-4-grams, on the tiny market's texts: the same matrices, and the same text risk scores."""
    from features.frames import listing_frame
    from features.pooling import TextRisk

    frame = listing_frame(tiny_market)
    risk = TextRisk(min_labels=5).fit(frame)
    texts = risk._texts(frame)
    _same(risk.vectorizer_.transform(texts), vectorize(risk.vectorizer_, texts))
    reviews = [str(t) for t in tiny_market.reviews["text"]]
    partner = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2).fit(reviews)
    _same(partner.transform(reviews), vectorize(partner, reviews))
