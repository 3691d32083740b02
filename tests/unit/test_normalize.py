"""Normalisation on real strings: width, traditional text, spacing tricks, contact masking, offset map."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.normalize import normalize, normalize_many, normalize_text
from training.corpus import load_shopping_reviews

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_traditional_to_simplified_is_phrase_aware() -> None:
    n = normalize("本品為國家級認證，頭髮乾燥專用")
    assert n.text == "本品为国家级认证,头发干燥专用"
    assert n.traditional
    # 乾隆 stays 乾隆 (a name), while 乾燥 becomes 干燥: OpenCC's phrase table, not a character map
    assert normalize("乾隆年間的瓷器很乾燥").text == "乾隆年间的瓷器很干燥"


def test_simplified_text_is_untouched_and_not_flagged() -> None:
    text = "手机很好用，物流很快"
    n = normalize(text)
    assert n.text == "手机很好用,物流很快"
    assert not n.traditional


def test_full_width_and_case() -> None:
    assert normalize_text("ｇｕｏｊｉａｊｉ认证 ＡＢＣ１２３") == "guojiaji认证 abc123"
    assert normalize_text("㎏ ① №") == "kg 1 no"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("國 家 級", "国家级"),
        ("国\u200b家\u200b级产品", "国家级产品"),
        ("最\u200c好", "最好"),
        ("微❤信", "微信"),
        ("最 好 的 手 机", "最好的手机"),
        ("g u o j i a j i", "guojiaji"),
        ("A 货", "a货"),
        ("1 : 1 品质", "1:1 品质"),
        ("\ufeff正品", "正品"),
    ],
)
def test_spacing_and_invisible_tricks_are_removed(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_words_stay_apart_and_english_is_kept() -> None:
    # never an ASCII whitelist, never deleting Chinese; multi-letter words keep their spaces
    assert normalize_text("Huawei Mate 60 手机") == "huawei mate 60 手机"


def test_repeated_punctuation_is_folded_and_counted() -> None:
    n = normalize("真的好用！！！？？……")
    assert n.text == "真的好用!?."
    assert n.shout_runs == 2
    assert n.punct_folds == 3  # ！！！, ？？ and …… (two ellipsis characters, each mapped to ".")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("加微❤信：abc_12345 详聊", "wechat"),
        ("V信 wxid888888", "wechat"),
        ("薇 abcd1234", "wechat"),
        ("+v:kkpq5678", "wechat"),
        ("QQ：12345678", "qq"),
        ("扣扣 987654321", "qq"),
        ("联系电话138 1234 5678", "phone"),
        ("座机0755-12345678", "phone"),
        ("访问www.taobao.com/item?id=1", "url"),
        ("http://t.cn/abc", "url"),
        ("邮箱 someone@example.com", "email"),
    ],
)
def test_contacts_are_masked_and_counted(raw: str, kind: str) -> None:
    n = normalize(raw)
    assert n.contacts.get(kind) == 1, n
    assert f"<{kind}>" in n.text
    assert n.n_contacts == 1


def test_bare_wechat_mention_is_counted_not_masked() -> None:
    n = normalize("可以聊微信视频")
    assert n.contacts == {}
    assert n.contact_mentions == 1
    assert "微信" in n.text


def test_offset_map_points_at_original_characters() -> None:
    n = normalize("本品為國 家 級認證")
    i = n.text.index("国家级")
    a, b = n.to_original(i, i + 3)
    assert n.original[a:b] == "國 家 級"
    n = normalize("ｇｕｏｊｉａｊｉ好物")
    a, b = n.to_original(0, 8)
    assert (a, b) == (0, 8)
    n = normalize("详询 13987654321 谢谢")
    i = n.text.index("<phone>")
    a, b = n.to_original(i, i + len("<phone>"))
    assert n.original[a:b] == "13987654321"


def test_identity_map_when_nothing_moves() -> None:
    n = normalize("好评")
    assert n.starts is None and n.to_original(0, 2) == (0, 2)


def test_real_reviews_keep_every_chinese_character() -> None:
    reviews = load_shopping_reviews()["review"].head(300).tolist()
    for raw, n in zip(reviews, normalize_many(reviews), strict=True):
        if n.traditional:
            continue
        # masking may hide characters of a contact handle; nothing else Chinese may disappear
        if n.n_contacts == 0:
            assert HAN.findall(n.text) == HAN.findall(raw)
        assert "\u200b" not in n.text
        _check_map(n.text, n.original, n.starts, n.ends)


def _check_map(text: str, original: str, starts: list[int] | None, ends: list[int] | None) -> None:
    if starts is None or ends is None:
        assert len(text) <= len(original)
        return
    assert len(starts) == len(ends) == len(text)
    for i in range(len(text)):
        assert 0 <= starts[i] < ends[i] <= len(original)
        if i:
            assert starts[i] >= starts[i - 1]


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("国家级最好 \u200b❤！!。.ａＢ1２微信qQ:：-國級乾燥") + ["…"]), max_size=40)
)
def test_offset_map_is_monotone_and_in_bounds(raw: str) -> None:
    n = normalize(raw)
    _check_map(n.text, n.original, n.starts, n.ends)
    assert normalize(n.text).text == normalize(n.text).text  # deterministic
