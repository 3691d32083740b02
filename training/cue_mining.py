"""Cue mining for analysts: phrases that separate failing from passing lab-tested listings, not yet in a lexicon.

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
failing listings (so 撕标 is not listed next to 撕标货).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from features.lexicon import Lexicon
from features.market import Market, failure_type_flags
from features.normalize import normalize_many

logger = logging.getLogger(__name__)

_RUN = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
TARGETS = ("lab_fail", "counterfeit", "false_advertising", "quality", "three_no")


@dataclass(frozen=True)
class MiningConfig:
    """How candidates are formed and kept."""

    min_len: int = 2
    max_len: int = 6
    min_fail_count: int = 5  # a phrase must appear in at least this many failing listings
    alpha0: float = 10_000.0  # prior strength: pseudo-counts spread over phrases by their background share
    nest_share: float = 0.9  # drop a phrase when a longer candidate covers this share of its failing listings
    top: int = 30


def phrases(text: str, *, min_len: int = 2, max_len: int = 6) -> set[str]:
    """Distinct character n-grams of a normalised text, within runs of Han characters, letters and digits."""
    out: set[str] = set()
    for run in _RUN.findall(text):
        for n in range(min_len, min(max_len, len(run)) + 1):
            out.update(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def _doc_counts(texts: Iterable[str], cfg: MiningConfig) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    n = 0
    for t in texts:
        counts.update(phrases(t, min_len=cfg.min_len, max_len=cfg.max_len))
        n += 1
    return counts, n


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


def mine_cues(
    market: Market,
    *,
    target: str = "lab_fail",
    lexicon: Lexicon | None = None,
    config: MiningConfig | None = None,
) -> pd.DataFrame:
    """Candidate cue phrases for `target`, most separating first.

    Columns: `phrase`, `n_fail`, `n_pass` (lab-tested listings with the phrase), `share_fail`, `share_pass`,
    `lift` (share_fail / share_pass, add-one smoothed), `log_odds` (δ), `z` (δ over its standard error),
    `background` (listings of the whole market with the phrase), `example` (a failing listing's title).
    """
    cfg = config or MiningConfig()
    lex = lexicon if lexicon is not None else Lexicon.load()
    listings = market.listings.set_index(market.listings["listing_id"].astype(str))
    raw = (listings["title"].fillna("").astype(str) + " " + listings["description"].fillna("").astype(str)).to_dict()
    norm = dict(zip(raw, (x.text for x in normalize_many(list(raw.values()))), strict=True))
    labels = _labels(market, target)
    y = labels[[i in norm for i in labels.index]]
    fail_ids = [str(i) for i, v in y.items() if v >= 1.0]
    pass_ids = [str(i) for i, v in y.items() if v < 1.0]
    columns = ["phrase", "n_fail", "n_pass", "share_fail", "share_pass", "lift", "log_odds", "z", "background"]
    if not fail_ids or not pass_ids:
        return pd.DataFrame(columns=[*columns, "example"])
    f_counts, n_f = _doc_counts((norm[i] for i in fail_ids), cfg)
    p_counts, n_p = _doc_counts((norm[i] for i in pass_ids), cfg)
    bg_counts, _ = _doc_counts(norm.values(), cfg)
    tot_bg = sum(bg_counts.values())
    known = sorted({t.text for t in normalize_many([p for k in lex.kinds for p in lex.phrases.get(k, ())])} - {""})
    rows = []
    tot_f, tot_p = sum(f_counts.values()), sum(p_counts.values())
    for w, yf in f_counts.items():
        if yf < cfg.min_fail_count:
            continue
        yp = p_counts.get(w, 0)
        a = cfg.alpha0 * bg_counts[w] / tot_bg
        delta = math.log((yf + a) / (tot_f + cfg.alpha0 - yf - a)) - math.log((yp + a) / (tot_p + cfg.alpha0 - yp - a))
        z = delta / math.sqrt(1.0 / (yf + a) + 1.0 / (yp + a))
        rows.append((w, yf, yp, yf / n_f, yp / n_p, ((yf + 1) / (n_f + 1)) / ((yp + 1) / (n_p + 1)), delta, z))
    df = pd.DataFrame(rows, columns=columns[:-1])
    if df.empty:
        return pd.DataFrame(columns=[*columns, "example"])
    df = df[df["z"] > 0]
    df = df[[not _covered(w, known) for w in df["phrase"]]]
    # keep maximal phrases: drop one whose failing listings a longer candidate nearly all covers
    cand = dict(zip(df["phrase"], df["n_fail"], strict=True))
    by_len = sorted(cand, key=len, reverse=True)
    drop = {
        w for w in cand for v in by_len if len(v) > len(w) and w in v and cand[v] >= cfg.nest_share * cand[w]
    }  # fmt: skip
    df = _join_windows(df[~df["phrase"].isin(drop)])
    df = df.sort_values(["z", "n_fail"], ascending=False).head(cfg.top).copy()
    df["background"] = [bg_counts[w] if w in bg_counts else sum(w in t for t in norm.values()) for w in df["phrase"]]
    titles = {str(k): str(v) for k, v in listings["title"].items()}
    df["example"] = [next((titles[i] for i in fail_ids if w in norm[i]), "") for w in df["phrase"]]
    return df.reset_index(drop=True)


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


def cue_table_rows(df: pd.DataFrame) -> list[list[str]]:
    """Rows for printing: phrase, counts, shares, lift, log-odds, z, an example title."""
    out = []
    for r in df.itertuples(index=False):
        out.append(
            [
                str(r.phrase),
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


__all__ = ["TARGETS", "MiningConfig", "cue_table_rows", "mine_cues", "phrases"]
