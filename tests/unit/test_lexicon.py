"""Lexicons: sourced and versioned files, and an Aho–Corasick matcher whose spans survive evasion."""

from __future__ import annotations

import pickle

import pytest

from features.lexicon import KINDS, LEXICON_DIR, Lexicon, read_lexicon_file
from features.normalize import normalize_text


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.load()


def test_every_lexicon_file_names_its_source_and_version() -> None:
    for kind in KINDS:
        path = next(p for p in (LEXICON_DIR / f"{kind}.txt", LEXICON_DIR / f"{kind}.tsv") if p.exists())
        header = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")]
        text = "\n".join(header)
        assert f"kind: {kind}" in text
        assert "source:" in text
        phrases, version = read_lexicon_file(path)
        assert version and not version.startswith("md5-")
        assert len(phrases) >= 10


def test_required_phrases_are_there(lex: Lexicon) -> None:
    must = {
        "absolute_claim": ["国家级", "最高级", "最佳"],
        "efficacy_claim": ["治疗", "根治", "包治", "无副作用"],
        "counterfeit_cue": ["高仿", "原单", "复刻", "A货", "1:1", "尾单", "专柜同款"],
        "complaint_cue": ["假货", "缺斤少两", "掉色", "漏水", "异味", "发票"],
        "ccc_product": ["智能手机", "平板电脑", "计算机", "电线电缆", "电热水壶"],
    }
    for kind, phrases in must.items():
        for p in phrases:
            assert p in lex.phrases[kind], (kind, p)


def test_plain_hit_has_original_span(lex: Lexicon) -> None:
    hits = [h for h in lex.find("本品为国家级认证") if h.phrase == "国家级"]
    assert [(h.kind, h.start, h.end, h.text) for h in hits] == [("absolute_claim", 3, 6, "国家级")]


@pytest.mark.parametrize(
    ("text", "phrase", "original"),
    [
        ("本品為國 家 級認證", "国家级", "國 家 級"),
        ("国\u200b家\u200b级品质", "国家级", "国\u200b家\u200b级"),
        ("ｇｕｏｊｉａｊｉ好物", "guojiaji", "ｇｕｏｊｉａｊｉ"),
        ("ｇａｏ仿包包", "gao仿", "ｇａｏ仿"),
        ("正品Ａ货", "a货", "Ａ货"),
        ("做工1：1还原", "1:1", "1：1"),
        ("根治頭屑", "根治", "根治"),
        ("絕對正品", "绝对正品", "絕對正品"),
        ("最\u200c好的选择", "最好", "最\u200c好"),
    ],
)
def test_evasion_forms_hit_with_spans_over_the_original(lex: Lexicon, text: str, phrase: str, original: str) -> None:
    hits = [h for h in lex.find(text) if h.phrase == phrase]
    assert hits, lex.find(text)
    h = hits[0]
    assert text[h.start : h.end] == original == h.text


def test_every_hit_is_reported_including_overlaps(lex: Lexicon) -> None:
    phrases = {h.phrase for h in lex.find("国家级认证，专柜同款")}
    assert {"国家级", "国家级认证", "专柜同款", "同款"} <= phrases


def test_counts_agree_with_find(lex: Lexicon) -> None:
    texts = ["本品为国家级认证，根治脱发", "高仿a货 原单", "", "普通商品"]
    norm = [normalize_text(t) for t in texts]
    many = lex.counts_many(norm)
    for row, t, n in zip(many, texts, norm, strict=True):
        assert list(row) == list(lex.counts(n))
        for i, kind in enumerate(lex.kinds):
            assert row[i] == sum(1 for h in lex.find(t) if h.kind == kind)


def test_innocent_text_does_not_hit(lex: Lexicon) -> None:
    assert lex.find("最新款上市，顺丰包邮") == []


def test_pickle_round_trip(lex: Lexicon) -> None:
    back = pickle.loads(pickle.dumps(lex))
    assert back.version == lex.version
    assert back.find("國 家 級") == lex.find("國 家 級")


def test_custom_lexicon_and_segmenter_entries() -> None:
    lx = Lexicon({"absolute_claim": ["最好", "最好"], "counterfeit_cue": ["A货"]}, version="t1")
    assert lx.phrases["absolute_claim"] == ("最好",)
    assert {e.word for e in lx.dictionary_entries()} == {"最好", "a货"}
