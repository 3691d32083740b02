"""Turn LightGBM log-odds contributions into the top reasons behind a score, in Chinese and English.

Several model columns can share one meaning (the bins of one text field, the one-hot levels of a
category), so contributions are summed per reason code before ranking. Only reasons that push the risk
*up* are reported: "why is this listing risky", not "why is it not riskier".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from models.contract import Reason

if TYPE_CHECKING:
    from features.market import Market
    from models.contract import RiskScorer


@dataclass(frozen=True)
class Meaning:
    """What one feature means, for people: a stable code and a sentence in each language."""

    code: str
    zh: str
    en: str


def _fallback(name: str) -> Meaning:
    code = "".join(c if c.isalnum() else "_" for c in name).strip("_").upper() or "FEATURE"
    return Meaning(code=code, zh=f"特征 {name}", en=f"feature {name}")


def resolve_meanings(feature_names: Sequence[str], meanings: Mapping[str, Meaning]) -> list[Meaning]:
    """The meaning of each model column: exact name, else the longest known name it starts with."""
    # the longest known name a column starts with is its prefix of one of the known lengths, longest
    # first: a few dict look-ups per column instead of a scan over every known name
    lengths = sorted({len(k) for k in meanings}, reverse=True)
    out: list[Meaning] = []
    for name in feature_names:
        m = meanings.get(name)
        if m is None:
            # transformed columns carry their source's name as a prefix, e.g. "text__tfidf_123"
            m = next((meanings[name[:n]] for n in lengths if n <= len(name) and name[:n] in meanings), None)
        out.append(m if m is not None else _fallback(name))
    return out


class Explainer:
    """Groups model columns by reason code and picks each row's top positive reasons."""

    def __init__(self, feature_names: Sequence[str], meanings: Mapping[str, Meaning]) -> None:
        resolved = resolve_meanings(feature_names, meanings)
        self.codes: list[Meaning] = []
        index: dict[str, int] = {}
        cols: list[int] = []
        for m in resolved:
            if m.code not in index:
                index[m.code] = len(self.codes)
                self.codes.append(m)
            cols.append(index[m.code])
        # (n_features, n_codes) 0/1 matrix: contributions @ group sums columns per code
        self.group = np.zeros((len(resolved), len(self.codes)), dtype=np.float64)
        self.group[np.arange(len(resolved)), cols] = 1.0

    def grouped(self, contributions: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-code contributions (rows × codes) from LightGBM `pred_contrib` output (bias column last)."""
        return contributions[:, : self.group.shape[0]] @ self.group

    def top_reasons(self, contributions: NDArray[np.float64], *, top: int = 3) -> list[list[Reason]]:
        """For each row, up to `top` reasons with positive contribution, largest first."""
        g = self.grouped(contributions)
        k = min(top, g.shape[1])
        if k == 0:
            return [[] for _ in range(g.shape[0])]
        order = np.argsort(-g, axis=1, kind="stable")[:, :k]
        out: list[list[Reason]] = []
        for i in range(g.shape[0]):
            row: list[Reason] = []
            for j in order[i]:
                c = float(g[i, j])
                if c <= 1e-9:
                    break
                m = self.codes[j]
                row.append(Reason(code=m.code, zh=m.zh, en=m.en, contribution=round(c, 6)))
            out.append(row)
        return out


def plan_reasons(
    scorer: RiskScorer, market: Market, listing_ids: Sequence[str], *, top: int = 3
) -> dict[str, list[str]]:
    """Why a plan buys each of these listings, for a planner: the Chinese reasons that push its lab-failure
    risk up, then up to three evidence phrases from its own text. Scores only those listings (a plan's
    few hundred, not the market), which a listing's scores allow (`models.contract`)."""
    if not listing_ids:
        return {}
    out: dict[str, list[str]] = {}
    for s in scorer.score_listings(market.subset(listing_ids), top_reasons=top):
        reasons = [r.zh for r in s.risks["lab_fail"].reasons if r.contribution > 0]
        phrases = list(dict.fromkeys(e.phrase for e in s.evidence))[:3]
        if phrases:
            reasons.append("文本证据: " + "、".join(phrases))
        out[s.listing_id] = reasons
    return out
