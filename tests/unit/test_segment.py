"""The Segmenter: jieba-identical output on real reviews, its own dictionary, pickle-safe."""

from __future__ import annotations

import pickle

import jieba
import pytest

from features.lexicon import build_segmenter
from features.segment import USER_DICT, DictEntry, Segmenter, read_user_dict
from training.corpus import load_shopping_reviews, load_waimai_reviews


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return build_segmenter()


# the cases where jieba-rs and jieba disagree unless repaired, and a few ordinary ones
HARD_CASES = [
    "这是给女儿买的第二套3-4岁的贴纸了",
    "作者妙语连珠，将整个60-70年代用层出不穷的摇滚巨星与自身故事紧紧相连",
    "数字集成电路I-V特性",
    "我的网站www.smallstonesoft.com欢迎交流",
    "e-mail联系我，yahoo.com.cn",
    "樱花香味，618搞活动买的很划算。赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞赞",
    "好好好 速度也快 赞赞赞赞赞 111111",
    "还送个吹风机，赞赞赞赞赞",
    "1.5kg装，50%的折扣，C++和C#都行",
    "华为智能手机 全网通 8GB+256GB 国家级认证",
    "",
    "   ",
]


def test_hard_cases_match_jieba_with_the_same_dictionary(seg: Segmenter) -> None:
    ref = seg.reference()
    for text in HARD_CASES:
        assert seg.cut(text) == ref.lcut(text), text


def test_real_reviews_match_jieba(seg: Segmenter) -> None:
    # a spread of the real corpora (both of them); the benchmark checks all ~75k texts
    texts = load_shopping_reviews()["review"].iloc[::60].tolist() + load_waimai_reviews()["review"].iloc[::40].tolist()
    ref = seg.reference()
    ours = seg.cut_many(texts)
    same = sum(a == ref.lcut(t) for a, t in zip(ours, texts, strict=True))
    assert same / len(texts) >= 0.995, same / len(texts)


def test_never_the_global_tokenizer(seg: Segmenter) -> None:
    ref = seg.reference()
    assert ref is not jieba.dt
    assert ref.dictionary != jieba.dt.dictionary


def test_user_dictionary_words_stay_whole(seg: Segmenter) -> None:
    words = seg.cut("本品为国家级认证，高仿a货，专柜同款，水星家纺蚕丝被")
    for w in ("国家级认证", "高仿", "a货", "专柜同款", "水星家纺", "蚕丝被"):
        assert w in words


def test_user_dict_file_is_versioned_and_parsed() -> None:
    head = USER_DICT.read_text(encoding="utf-8").splitlines()[0]
    assert head.startswith("# version:")
    entries = read_user_dict(USER_DICT)
    assert DictEntry("华为", None, "nz") in entries
    assert all(e.word and " " not in e.word for e in entries)


def test_pickle_round_trip_rebuilds_backend(seg: Segmenter) -> None:
    blob = pickle.dumps(seg)
    assert len(blob) < 200_000  # the dictionary itself is not pickled, only the user words
    back = pickle.loads(blob)
    assert back.version == seg.version
    assert back.user_entries == seg.user_entries
    for text in HARD_CASES:
        assert back.cut(text) == seg.cut(text)


def test_jieba_backend_gives_the_same_tokens(seg: Segmenter) -> None:
    ref_backend = Segmenter(seg.user_entries, version=seg.version, backend="jieba")
    for text in HARD_CASES:
        assert ref_backend.cut(text) == seg.cut(text)


def test_explicit_frequency_and_bad_backend() -> None:
    s = Segmenter([DictEntry("鑫源数码", 50_000, "nz")], version="t")
    assert "鑫源数码" in s.cut("鑫源数码专营店")
    assert s.user_entries == (DictEntry("鑫源数码", 50_000, "nz"),)
    with pytest.raises(ValueError, match="backend"):
        Segmenter(backend="nope")
