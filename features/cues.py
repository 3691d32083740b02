"""Cue mining for analysts: phrases that separate failing from passing lab-tested listings, not yet in a lexicon,
offered as lexicon suggestions (the CLI's `choujian cues` and the planner pages' 词库建议 use this one module).

Texts are the listings' title + description after the product's normalisation (`features.normalize`: width,
traditional → simplified, zero-width and filler tricks folded), so 同 厂 同 料 and 同厂同料 count as one
phrase. Candidates are character n-grams inside runs of Han characters, letters and digits (never across
punctuation or spaces). Each listing counts a phrase once.

The separation score is the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
2008, "Fightin' Words", §3.5.1): with `y_f`, `y_p` the phrase's counts in failing and passing listings,
`n_f`, `n_p` the groups' totals, and a prior `α_w = α0 · (share of the phrase in a background)`,

    δ = log((y_f + α_w) / (n_f + α0 − y_f − α_w)) − log((y_p + α_w) / (n_p + α0 − y_p − α_w))
    z = δ / sqrt(1 / (y_f + α_w) + 1 / (y_p + α_w))

with `α0` the prior's total pseudo-count, so a phrase seen in three listings cannot outrank one seen in thirty
on a lucky ratio. The background is every listing of the market (lab-tested or not): the phrase's usual
frequency. Overlapping n-grams with the same listings (做工细节与专, 工细节与专柜, …) are joined into the
longer phrase they are windows of.

Phrases already covered by a lexicon (equal to, inside, or containing a lexicon phrase, after the same
normalisation) are left out, and so is a phrase inside a longer candidate that explains nearly all of its
failing listings (so 撕标 is not listed next to 撕标货), and any phrase an analyst rejected.

Each suggestion names the lexicon it would join, from the failures of the listings it occurs in: mostly
counterfeit → `counterfeit_cue`; mostly false advertising → `absolute_claim` or `efficacy_claim`, whichever
kind's phrases those listings use more (efficacy on a tie); neither (quality, 三无) → no lexicon (""). It
carries a few failing listings as evidence, with the phrase's position in the text the seller wrote.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.lexicon import Lexicon
from features.market import Market, failure_type_flags
from features.normalize import normalize, normalize_many
from features.records import split_failure_types

logger = logging.getLogger(__name__)

_RUN = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
TARGETS = ("lab_fail", "counterfeit", "false_advertising", "quality", "three_no")
#: the lexicon kinds a mined phrase can be suggested for (they are matched in listing text)
SUGGESTED_KINDS = ("counterfeit_cue", "absolute_claim", "efficacy_claim")
COLUMNS = ["phrase", "n_fail", "n_pass", "share_fail", "share_pass", "lift", "log_odds", "z", "background"]


@dataclass(frozen=True)
class MiningConfig:
    """How candidates are formed and kept."""

    min_len: int = 2
    max_len: int = 6
    min_fail_count: int = 5  # a phrase must appear in at least this many failing listings
    alpha0: float = 10_000.0  # prior strength: pseudo-counts spread over phrases by their background share
    nest_share: float = 0.9  # drop a phrase when a longer candidate covers this share of its failing listings
    top: int = 30
    evidence: int = 3  # failing listings shown with each suggestion


@dataclass(frozen=True)
class CueEvidence:
    """A failing listing a phrase occurs in: `text[start:end]` is the phrase as the seller wrote it."""

    listing_id: str
    field: str  # "title" or "description"
    text: str
    start: int
    end: int


def phrases(text: str, *, min_len: int = 2, max_len: int = 6) -> set[str]:
    """Distinct character n-grams of a normalised text, within runs of Han characters, letters and digits."""
    out: set[str] = set()
    for run in _RUN.findall(text):
        for n in range(min_len, min(max_len, len(run)) + 1):
            out.update(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def _labels(market: Market, target: str) -> pd.Series:
    """Per lab-tested listing: 1 if any test failed (or named the target type), else 0."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    lab = market.lab_results
    if lab.empty:
        return pd.Series(dtype=float)
    if target == "lab_fail":
        hit = lab["verdict"].astype(str) == "fail"
    else:
        hit = failure_type_flags(lab["failure_types"], (target,))[target]
    return hit.astype(float).groupby(lab["listing_id"].astype(str)).max()


def _covered(phrase: str, known: list[str]) -> bool:
    return any(k in phrase or phrase in k for k in known)


def _known(lexicon: Lexicon) -> list[str]:
    every = [p for k in lexicon.kinds for p in lexicon.phrases.get(k, ())]
    return sorted({t.text for t in normalize_many(every)} - {""})


class CueMiner:
    """The counts of one market and target, made once; `mine` and `describe` read them for any lexicon.

    Only phrases of failing listings are counted per phrase (passing and background counts are kept for
    those alone), so a miner of a large market stays small enough to cache in the service.
    """

    def __init__(self, market: Market, *, target: str = "lab_fail", config: MiningConfig | None = None) -> None:
        self.target = target
        self.config = cfg = config or MiningConfig()
        listings = market.listings
        ids = listings["listing_id"].astype(str).tolist()
        self.titles = dict(zip(ids, listings["title"].fillna("").astype(str), strict=True))
        self.descriptions = dict(zip(ids, listings["description"].fillna("").astype(str), strict=True))
        raw = [f"{self.titles[i]} {self.descriptions[i]}" for i in ids]
        self.norm = dict(zip(ids, (x.text for x in normalize_many(raw)), strict=True))
        labels = _labels(market, target)
        y = labels[[i in self.norm for i in labels.index]]
        self.fail_ids = [str(i) for i, v in y.items() if v >= 1.0]
        self.pass_ids = [str(i) for i, v in y.items() if v < 1.0]
        self.types = _failure_types(market, set(self.fail_ids))
        self.f_counts: Counter[str] = Counter()
        for i in self.fail_ids:
            self.f_counts.update(self._phrases(self.norm[i]))
        cand = {w for w, c in self.f_counts.items() if c >= cfg.min_fail_count}
        self.p_counts: Counter[str] = Counter()
        self.bg_counts: Counter[str] = Counter()
        self.tot_p = self.tot_bg = 0
        passes = set(self.pass_ids)
        for i, text in self.norm.items():
            grams = self._phrases(text)
            self.tot_bg += len(grams)
            hits = grams & cand
            self.bg_counts.update(hits)
            if i in passes:
                self.tot_p += len(grams)
                self.p_counts.update(hits)
        self.tot_f = sum(self.f_counts.values())

    def _phrases(self, text: str) -> set[str]:
        return phrases(text, min_len=self.config.min_len, max_len=self.config.max_len)

    def _score(self, yf: int, yp: int, bg: int) -> tuple[float, float, float, float, float]:
        """share_fail, share_pass, lift, log-odds δ and its z for counts in failing / passing / all listings."""
        n_f, n_p, a0 = len(self.fail_ids), len(self.pass_ids), self.config.alpha0
        a = a0 * bg / self.tot_bg if self.tot_bg else 0.0
        delta = math.log((yf + a) / (self.tot_f + a0 - yf - a)) - math.log((yp + a) / (self.tot_p + a0 - yp - a))
        z = delta / math.sqrt(1.0 / (yf + a) + 1.0 / (yp + a))
        lift = ((yf + 1) / (n_f + 1)) / ((yp + 1) / (n_p + 1))
        return yf / max(n_f, 1), yp / max(n_p, 1), lift, delta, z

    def mine(self, lexicon: Lexicon, *, exclude: Collection[str] = ()) -> pd.DataFrame:
        """Candidate cue phrases, most separating first (see `mine_cues` for the columns)."""
        cfg = self.config
        if not self.fail_ids or not self.pass_ids:
            return _empty()
        rows = []
        for w, yf in self.f_counts.items():
            if yf < cfg.min_fail_count:
                continue
            rows.append((w, yf, self.p_counts.get(w, 0), *self._score(yf, self.p_counts.get(w, 0), self.bg_counts[w])))
        df = pd.DataFrame(rows, columns=COLUMNS[:-1])
        if df.empty:
            return _empty()
        known = _known(lexicon)
        df = df[df["z"] > 0]
        df = df[[not _covered(w, known) for w in df["phrase"]]]
        # keep maximal phrases: drop one whose failing listings a longer candidate nearly all covers
        cand = dict(zip(df["phrase"], df["n_fail"], strict=True))
        by_len = sorted(cand, key=len, reverse=True)
        drop = {
            w for w in cand for v in by_len if len(v) > len(w) and w in v and cand[v] >= cfg.nest_share * cand[w]
        }  # fmt: skip
        df = _join_windows(df[~df["phrase"].isin(drop)])
        if exclude:
            df = df[~df["phrase"].isin(set(exclude))]
        df = df.sort_values(["z", "n_fail"], ascending=False).head(cfg.top).copy()
        df["background"] = [self._background(w) for w in df["phrase"]]
        self._annotate(df, lexicon)
        return df.reset_index(drop=True)

    def describe(self, phrase: str, lexicon: Lexicon) -> dict[str, object]:
        """The same figures for one phrase (normalised first), however rare: what an accepted phrase's
        history record keeps as its evidence."""
        w = normalize(phrase).text
        yf = sum(w in self.norm[i] for i in self.fail_ids)
        yp = sum(w in self.norm[i] for i in self.pass_ids)
        row: dict[str, object] = {"phrase": w, "n_fail": yf, "n_pass": yp}
        if self.fail_ids and self.pass_ids:
            share_f, share_p, lift, delta, z = self._score(yf, yp, self._background(w))
            row.update(share_fail=share_f, share_pass=share_p, lift=lift, log_odds=delta, z=z)
        row["background"] = self._background(w)
        df = pd.DataFrame([row])
        self._annotate(df, lexicon)
        return {str(k): _plain(v) for k, v in df.iloc[0].to_dict().items()}

    def _background(self, w: str) -> int:
        return int(self.bg_counts[w]) if w in self.bg_counts else sum(w in t for t in self.norm.values())

    def _annotate(self, df: pd.DataFrame, lexicon: Lexicon) -> None:
        """Add `suggested_kind`, `evidence` (a few failing listings with the phrase's span) and `example`."""
        kinds, evidence = [], []
        for w in df["phrase"]:
            ids = [i for i in self.fail_ids if w in self.norm[i]]
            kinds.append(self._kind(ids, lexicon))
            evidence.append(self._evidence(w, ids))
        df["target"] = self.target
        df["suggested_kind"] = kinds
        df["evidence"] = pd.Series(evidence, index=df.index, dtype=object)
        df["example"] = [ev[0].text if ev else "" for ev in evidence]

    def _kind(self, ids: list[str], lexicon: Lexicon) -> str:
        """The lexicon a phrase of these failing listings would join ("" when none fits their failures)."""
        n_cf = sum("counterfeit" in self.types.get(i, ()) for i in ids)
        n_fa = sum("false_advertising" in self.types.get(i, ()) for i in ids)
        if n_cf == n_fa == 0:
            return ""
        if n_cf >= n_fa:
            return "counterfeit_cue"
        hits = lexicon.counts_many(self.norm[i] for i in ids).sum(axis=0) if ids else np.zeros(len(lexicon.kinds))
        per = {k: float(hits[j]) for j, k in enumerate(lexicon.kinds)}
        return "absolute_claim" if per.get("absolute_claim", 0.0) > per.get("efficacy_claim", 0.0) else "efficacy_claim"

    def _evidence(self, w: str, ids: list[str]) -> list[CueEvidence]:
        out: list[CueEvidence] = []
        for i in ids:
            for field_name, text in (("title", self.titles[i]), ("description", self.descriptions[i])):
                norm = normalize(text)
                k = norm.text.find(w)
                if k >= 0:
                    a, b = norm.to_original(k, k + len(w))
                    out.append(CueEvidence(listing_id=i, field=field_name, text=text, start=a, end=b))
                    break
            if len(out) >= self.config.evidence:
                break
        return out


def _failure_types(market: Market, ids: set[str]) -> dict[str, set[str]]:
    """Every failure type the lab found in each of `ids` (over all its tests)."""
    out: dict[str, set[str]] = {}
    lab = market.lab_results
    if lab.empty:
        return out
    for lid, value in zip(lab["listing_id"].astype(str), lab["failure_types"], strict=True):
        if lid in ids:
            out.setdefault(lid, set()).update(split_failure_types(value))
    return out


def _plain(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return [e.__dict__ if isinstance(e, CueEvidence) else e for e in v]
    return v


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=[*COLUMNS, "target", "suggested_kind", "evidence", "example"])


def mine_cues(
    market: Market,
    *,
    target: str = "lab_fail",
    lexicon: Lexicon | None = None,
    config: MiningConfig | None = None,
    exclude: Collection[str] = (),
) -> pd.DataFrame:
    """Candidate cue phrases for `target`, most separating first; `exclude`: phrases not to suggest again.

    Columns: `phrase`, `n_fail`, `n_pass` (lab-tested listings with the phrase), `share_fail`, `share_pass`,
    `lift` (share_fail / share_pass, add-one smoothed), `log_odds` (δ), `z` (δ over its standard error),
    `background` (listings of the whole market with the phrase), `target`, `suggested_kind` (the lexicon it
    would join, "" for none), `evidence` (a few `CueEvidence`), `example` (the first evidence's text).
    """
    lex = lexicon if lexicon is not None else Lexicon.load()
    return CueMiner(market, target=target, config=config).mine(lex, exclude=exclude)


def _join_windows(df: pd.DataFrame) -> pd.DataFrame:
    """Join n-grams that are consecutive windows of one longer phrase (w[1:] == v[:-1]) with the same counts."""
    key = {w: (f, p) for w, f, p in zip(df["phrase"], df["n_fail"], df["n_pass"], strict=True)}
    nxt = {}
    for w in key:
        for v in key:
            if v != w and len(v) == len(w) and v[:-1] == w[1:] and key[v] == key[w]:
                nxt[w] = v
    starts = [w for w in key if w not in set(nxt.values())]
    merged: dict[str, str] = {}
    for w in starts:
        phrase, cur, seen = w, w, {w}
        while cur in nxt and nxt[cur] not in seen:
            cur = nxt[cur]
            seen.add(cur)
            phrase += cur[-1]
        for s in seen:
            merged[s] = phrase
    out = df.copy()
    out["phrase"] = [merged.get(w, w) for w in out["phrase"]]
    return out.drop_duplicates("phrase")


def evidence_summary(ev: Iterable[CueEvidence]) -> str:
    """`listing_id@field[start:end]` of each evidence listing, `;`-joined (a CSV cell)."""
    return ";".join(f"{e.listing_id}@{e.field}[{e.start}:{e.end}]" for e in ev)


def cue_table_rows(df: pd.DataFrame) -> list[list[str]]:
    """Rows for printing: phrase, suggested lexicon, counts, shares, lift, log-odds, z, an example title."""
    out = []
    for r in df.itertuples(index=False):
        out.append(
            [
                str(r.phrase),
                str(r.suggested_kind) or "—",
                f"{r.n_fail}",
                f"{r.n_pass}",
                f"{r.share_fail:.1%}",
                f"{r.share_pass:.1%}",
                f"{r.lift:.1f}",
                f"{r.log_odds:.2f}",
                f"{r.z:.1f}",
                str(r.example)[:40],
            ]
        )
    return out


__all__ = [
    "SUGGESTED_KINDS",
    "TARGETS",
    "CueEvidence",
    "CueMiner",
    "MiningConfig",
    "cue_table_rows",
    "evidence_summary",
    "mine_cues",
    "phrases",
]
