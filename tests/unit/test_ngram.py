"""The review model's n-gram side: the NB scaling, the word analyzer and the partner pipeline."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from models.text.config import BaselineConfig, PartnerConfig
from models.text.ngram import NBScaler, SegmentedWords, fit_ngram_baseline, fit_ngram_partner

POS = ["质量太差了,申请退货", "假货,千万别买", "客服态度很差,不给退款", "用了两天就坏了,垃圾"]
NEG = ["质量很好,物流很快", "正品,包装完好,推荐", "客服态度很好,很满意", "用了一个月了,很好用"]


def test_nb_scaler_is_the_log_count_ratio() -> None:
    # feature 0 only in positives, feature 1 in both, feature 2 only in negatives
    X = sp.csr_matrix(np.array([[1, 1, 0], [2, 1, 0], [0, 1, 1], [0, 1, 3]], dtype=float))
    y = np.array([1, 1, 0, 0])
    nb = NBScaler(alpha=1.0).fit(X, y)
    p = np.array([2, 2, 0]) + 1.0  # documents containing each feature, positives
    q = np.array([0, 2, 2]) + 1.0
    expected = np.log((p / p.sum()) / (q / q.sum()))
    np.testing.assert_allclose(nb.ratio_, expected)
    assert nb.ratio_[0] > 0 > nb.ratio_[2]
    np.testing.assert_allclose(nb.transform(X).toarray(), X.toarray() * expected)
    before = X.toarray()
    np.testing.assert_allclose(nb.transform(X.toarray()).toarray(), before * expected)  # dense input too
    np.testing.assert_array_equal(X.toarray(), before)  # the input is not scaled in place


def test_nb_scaler_refuses_bad_input() -> None:
    X = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="binary"):
        NBScaler().fit(X, np.array([0, 1, 2]))
    nb = NBScaler().fit(X, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="expected 3 features"):
        nb.transform(sp.csr_matrix(np.eye(4)))


def test_word_analyzer_gives_jieba_words_and_bigrams_and_pickles_small() -> None:
    a = SegmentedWords(max_n=2)
    grams = a("质量很好物流很快")
    assert "质量" in grams and "物流" in grams
    assert "质量 很" in grams  # a word bigram
    b = pickle.loads(pickle.dumps(a))
    assert b("质量很好物流很快") == grams
    assert len(pickle.dumps(a)) < 200  # the segmenter is rebuilt, not pickled


def test_partner_learns_both_kinds_of_evidence_and_travels() -> None:
    texts, y = POS + NEG, np.array([1] * len(POS) + [0] * len(NEG))
    cfg = PartnerConfig(min_df=1, C=10.0)
    partner = fit_ngram_partner(texts, y, cfg)
    p = partner.predict_proba(["假货,质量太差了", "正品,质量很好"])[:, 1]
    assert p[0] > 0.5 > p[1]
    again = pickle.loads(pickle.dumps(partner))
    np.testing.assert_allclose(again.predict_proba(texts), partner.predict_proba(texts))
    # the fitted vectorizers drop `stop_words_`, which only serves introspection
    for _, vec in partner.named_steps["features"].transformer_list:
        assert not hasattr(vec, "stop_words_")


def test_baseline_is_char_ngrams_only() -> None:
    texts, y = POS + NEG, np.array([1] * len(POS) + [0] * len(NEG))
    base = fit_ngram_baseline(texts, y, BaselineConfig(min_df=1))
    vocab = base.named_steps["tfidf"].vocabulary_
    assert max(len(k) for k in vocab) == 3
    assert not hasattr(base.named_steps["tfidf"], "stop_words_")
