"""Chinese-safe text normalisation that survives seller evasion, with a map back to the original text.

Steps, in order (each keeps the character offset map up to date):

1. per character: NFKC (full-width → half-width, ①→1, ｇ→g), lower case, zero-width and bidi controls
   dropped, all whitespace → " ", a few Cyrillic/Greek look-alikes → Latin; one `str.translate`.
2. traditional → simplified with OpenCC's phrase-aware `t2s` (only on texts that contain a traditional
   character, so simplified text pays nothing).
3. spacing tricks: filler characters (spaces, ❤, ★, *, ., -, emoji…) between two Chinese characters are
   removed (国 家 级 / 微❤信 → 国家级 / 微信), and spaced-out letters are closed up (g u o j i a → guojia).
4. off-platform contact: URLs, e-mail addresses, phone numbers, WeChat and QQ handles (微信, V信, vx,
   薇, 扣扣…) are replaced by a placeholder (<url>, <email>, <phone>, <wechat>, <qq>) and counted.
5. repeated punctuation is folded (！！！ → !), whitespace runs collapse; the folds are counted (shouting).

`Normalized.to_original(start, end)` turns a span of the normalised text into the span of the original
characters it came from, so evidence points at what the seller actually wrote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import opencc

NORMALIZER_VERSION = "1"

CONTACT_KINDS = ("url", "email", "phone", "wechat", "qq")

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# invisible characters sellers use to break up words
_DELETE = (
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0000, 0xE0080))
    + list(range(0xE0100, 0xE01F0))
)
# Latin look-alikes from other scripts (Cyrillic а/е/о/р/с/х/у, Greek ο/α…), after lower-casing
_CONFUSABLES = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ӏ": "l", "ο": "o", "α": "a", "ν": "v", "κ": "k", "ι": "i", "τ": "t",
}  # fmt: skip
# single characters whose NFKC form is several characters but which should stay one character
_ONE_TO_ONE = {"…": ".", "‥": ".", "⋯": ".", "︙": "."}
# characters that sellers put between Chinese characters to dodge word filters
_FILLER_CHARS = (
    r"\s*.·•・‧∙⋅_\-~～=+^`'\"|/\\°º˙ˉ丶ヽ〃〆〇"
    "\u2010-\u2015\u2022\u2023\u2043\u2219"
    r"\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u2500-\u27bf\u2900-\u2bff\u3012\u3013\u3020\u30fb"
    r"\U0001f000-\U0001faff"
)
_FILLER_BETWEEN_HAN = re.compile(rf"(?<=[{_HAN}])[{_FILLER_CHARS}]+(?=[{_HAN}])")
# single characters separated by spaces: g u o j i a, a 货, 1 : 1 (words of two or more letters stay apart)
_SPACED_LETTERS = re.compile(r"(?<!\S)\S(?: +\S(?!\S))+")
_SPACED_FILL = re.compile(r" +")

_ID = r"[a-z][a-z0-9_\-]{4,19}|\d{5,12}"
_SEP = r"[\s:：=]*(?:号码|号|id)?[\s:：=]*"
_WECHAT_KEY = (
    r"(?:加微信|加v信|加薇信|微信|威信|薇信|维信|徽信|危信|围信|v信|v芯|微x|"
    r"(?<![a-z])(?:vx|wx|weixin|wechat)|加v(?![a-z])|加微|\+v|➕v|薇)"
)
# each contact kind: a cheap gate (substrings that must occur) and its pattern; handles are masked
_CONTACT_PATTERNS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "url": (
        re.compile(r"https?:|www\.|[a-z0-9]\.[a-z]{2}"),
        re.compile(
            r"(?:https?://|www\.)[a-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
            r"|(?<![a-z0-9@.])[a-z0-9\-]{2,63}\.(?:[a-z0-9\-]{2,63}\.)*"
            r"(?:com|cn|net|org|top|vip|shop|xyz|cc|me|info|site|online|store)(?![a-z])"
            r"(?:/[a-z0-9\-._~/?#=&%]*)?"
        ),
    ),
    "email": (re.compile("@"), re.compile(r"[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}")),
    "phone": (
        re.compile(r"[0-9]{7}|[0-9][\s\-][0-9]{4}"),
        re.compile(
            r"(?<![0-9])(?:\+?86[\s\-]?)?1[3-9][0-9](?:[\s\-]?[0-9]{4}){2}(?![0-9])"
            r"|(?<![0-9])0[1-9][0-9]{1,2}-[0-9]{7,8}(?![0-9])"
            r"|(?<![0-9])400[\s\-]?[0-9]{3}[\s\-]?[0-9]{4}(?![0-9])"
        ),
    ),
    "qq": (re.compile("qq|扣扣|企鹅|q号|抠抠"), re.compile(rf"(?:(?<![a-z])qq|扣扣|企鹅号?|q号|抠抠){_SEP}(?:{_ID})")),
    "wechat": (
        re.compile("[微威薇维徽危围v➕+]|wx|we"),
        re.compile(rf"{_WECHAT_KEY}{_SEP}(?:{_ID})"),
    ),
}
# naming WeChat/QQ without a handle is a weaker cue ("加微信详聊"): counted, not masked
_CONTACT_MENTION = re.compile(r"微信|威信|薇信|v信|(?<![a-z])(?:vx|qq|weixin|wechat)(?![a-z])|扣扣|加v(?![a-z])|加微")

_CACHE_SIZE = 200_000
_REPEATED_PUNCT = re.compile(r"([^\w\s])\1+|(\s)\s+")
_SHOUT_CHARS = frozenset("!?")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text with its offset map and what was counted on the way.

    `starts[i]`/`ends[i]` give the span of original characters that normalised character i came
    from; both are None when nothing moved (the map is then the identity).
    """

    text: str
    original: str
    starts: list[int] | None = None
    ends: list[int] | None = None
    contacts: dict[str, int] = field(default_factory=dict)
    contact_mentions: int = 0
    punct_folds: int = 0
    shout_runs: int = 0
    traditional: bool = False

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of original characters behind normalised characters [start, end)."""
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]

    @property
    def n_contacts(self) -> int:
        return sum(self.contacts.values())


class _Tables:
    """Translation tables built once per process (about 0.3 s)."""

    def __init__(self) -> None:
        self.one: dict[int, int] = {}
        self.many: dict[int, str] = {}
        for cp in list(range(0x10000)) + list(range(0x1D400, 0x1D800)) + list(range(0x1F100, 0x1F200)):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            c = chr(cp)
            if c in _ONE_TO_ONE:
                self.one[cp] = ord(_ONE_TO_ONE[c])
                continue
            if c.isspace():
                if c != " ":
                    self.one[cp] = 0x20
                continue
            cat = unicodedata.category(c)
            if cat == "Cc":
                self.many[cp] = ""
                continue
            r = unicodedata.normalize("NFKC", c).lower()
            r = "".join(_CONFUSABLES.get(x, x) for x in r)
            if r == c:
                continue
            if len(r) == 1:
                self.one[cp] = ord(r)
            else:
                self.many[cp] = " " if r.isspace() else r
        for cp in _DELETE:
            self.one.pop(cp, None)
            self.many[cp] = ""
        self.many_re = re.compile(_char_class(self.many))
        # characters OpenCC's t2s changes on their own: a text without any is not traditional
        self.t2s = opencc.OpenCC("t2s")
        han = [chr(cp) for cp in range(0x3400, 0xA000)] + [chr(cp) for cp in range(0xF900, 0xFB00)]
        conv = self.t2s.convert("\n".join(han)).split("\n")
        self.t2s_char: dict[int, int] = {}
        if len(conv) == len(han):
            for a, b in zip(han, conv, strict=True):
                if len(b) == 1 and a != b:
                    self.t2s_char[ord(a)] = ord(b)
        self.trad_re = re.compile(_char_class(self.t2s_char))


def _char_class(cps: Iterable[int]) -> str:
    """A regex character class for the code points, as ranges: sre scans long literal lists slowly."""
    ranges: list[list[int]] = []
    for cp in sorted(cps):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    parts = [re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges]
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    return _Tables()


def _apply(
    text: str,
    starts: list[int] | None,
    ends: list[int] | None,
    edits: Sequence[tuple[int, int, str]],
) -> tuple[str, list[int], list[int]]:
    """Apply sorted, non-overlapping edits (replace text[a:b] by r) and carry the offset map along."""
    if starts is None or ends is None:
        starts = list(range(len(text)))
        ends = list(range(1, len(text) + 1))
    out: list[str] = []
    ns: list[int] = []
    ne: list[int] = []
    pos = 0
    for a, b, r in edits:
        out.append(text[pos:a])
        ns.extend(starts[pos:a])
        ne.extend(ends[pos:a])
        if r:
            if b > a:
                s0, e0 = starts[a], ends[b - 1]
            else:
                s0 = e0 = starts[a] if a < len(starts) else (ends[-1] if ends else 0)
            out.append(r)
            ns.extend([s0] * len(r))
            ne.extend([e0] * len(r))
        pos = b
    out.append(text[pos:])
    ns.extend(starts[pos:])
    ne.extend(ends[pos:])
    return "".join(out), ns, ne


@lru_cache(maxsize=_CACHE_SIZE)
def normalize(text: str) -> Normalized:
    """Normalise one text (see the module docstring for the steps).

    Memoised: the same title, description or review text is normalised once per process, however many
    transformers look at it (a pure function, so caching never changes a result).
    """
    t = _tables()
    s = text.translate(t.one)
    starts: list[int] | None = None
    ends: list[int] | None = None
    # 1b. characters that become several (㎏ → kg) or none (zero-width): rare, so edit only those
    if t.many_re.search(text) is not None:
        edits = [(m.start(), m.end(), t.many[ord(m.group())]) for m in t.many_re.finditer(text)]
        s, starts, ends = _apply(s, None, None, edits)
    # 2. traditional → simplified, phrase-aware; OpenCC's t2s keeps length, else fall back per character
    traditional = t.trad_re.search(s) is not None
    if traditional:
        conv = t.t2s.convert(s)
        s = conv if len(conv) == len(s) else s.translate(t.t2s_char)
    # 3. spacing tricks
    edits = [(m.start(), m.end(), "") for m in _FILLER_BETWEEN_HAN.finditer(s)]
    if edits:
        s, starts, ends = _apply(s, starts, ends, edits)
    if " " in s and _SPACED_LETTERS.search(s) is not None:
        edits = [
            (m.start() + f.start(), m.start() + f.end(), "")
            for m in _SPACED_LETTERS.finditer(s)
            for f in _SPACED_FILL.finditer(m.group())
        ]
        s, starts, ends = _apply(s, starts, ends, edits)
    # 4. off-platform contact
    contacts: dict[str, int] = {}
    found: list[tuple[int, int, str]] = []
    for kind, (gate, pattern) in _CONTACT_PATTERNS.items():
        if gate.search(s) is None:
            continue
        found.extend((m.start(), m.end(), kind) for m in pattern.finditer(s))
    if found:
        # leftmost, then longest, wins where kinds overlap (a QQ number is also digits)
        found.sort(key=lambda e: (e[0], e[0] - e[1]))
        edits = []
        last = 0
        for a, b, kind in found:
            if a < last:
                continue
            contacts[kind] = contacts.get(kind, 0) + 1
            edits.append((a, b, f"<{kind}>"))
            last = b
        s, starts, ends = _apply(s, starts, ends, edits)
    mentions = len(_CONTACT_MENTION.findall(s))
    # 5. repeated punctuation and whitespace
    folds = shouts = 0
    edits = []
    for m in _REPEATED_PUNCT.finditer(s):
        if m.group(1) is not None:
            folds += 1
            shouts += m.group(1) in _SHOUT_CHARS
        edits.append((m.start() + 1, m.end(), ""))
    if edits:
        s, starts, ends = _apply(s, starts, ends, edits)
    if s != s.strip():
        lead = len(s) - len(s.lstrip())
        trail = len(s.rstrip())
        s, starts, ends = _apply(s, starts, ends, [(0, lead, ""), (trail, len(s), "")])
    return Normalized(
        text=s,
        original=text,
        starts=starts,
        ends=ends,
        contacts=contacts,
        contact_mentions=mentions,
        punct_folds=folds,
        shout_runs=shouts,
        traditional=traditional,
    )


def normalize_many(texts: Iterable[str]) -> list[Normalized]:
    """Normalise many texts, doing each distinct text once (reviews repeat a lot)."""
    done: dict[str, Normalized] = {}
    out: list[Normalized] = []
    for x in texts:
        n = done.get(x)
        if n is None:
            n = done[x] = normalize(x)
        out.append(n)
    return out


def normalize_text(text: str) -> str:
    """Just the normalised text."""
    return normalize(text).text


__all__ = ["CONTACT_KINDS", "NORMALIZER_VERSION", "Normalized", "normalize", "normalize_many", "normalize_text"]
