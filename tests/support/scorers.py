"""One rule-based `models.contract.RiskScorer` for the tests that do not test the model: route, page,
store and planner tests need probabilities, reasons and evidence of the contract's shape, quickly and
without training. Its numbers mean nothing about model quality.

Lexicon counts, the price against the category median of the market it is built with (none without one)
and the shop's registry record, combined on the log-odds scale; `bias` shifts every risk (two scorers
with different versions and biases stand for two model versions). Scores depend only on a listing's own
record, its merchant's and the fixed medians, so a listing scores the same alone or in a batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator
from typing import Any

import pandas as pd

from features.market import Market
from models.contract import LISTING_RISKS, MERCHANT_RISK, Evidence, ListingScore, Reason, RiskScore

_ABSOLUTE = ("国家级", "最好", "最佳", "第一", "顶级", "极品", "100%")
_EFFICACY = ("根治", "治愈", "包治", "特效", "无副作用")
_FAKE_CUES = ("高仿", "原单", "A货", "复刻", "尾单")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class RulesScorer:
    """Rule-based stand-in for the registered bundle (tests only): lexicon hits, price against the
    category median and the shop's registry record, combined on the log-odds scale.

    Scores depend only on a listing's own record, its merchant's and the category's median price, which is
    a property of the market the fixture is built with (fixed at construction), so a listing scores the
    same alone or in a batch, as the contract requires.
    """

    def __init__(self, market: Market | None = None, *, name: str = "rules", version: str = "1", bias: float = 0.0):
        self.name, self.version, self.bias = name, version, bias
        self._median = {} if market is None else market.listings.groupby("category")["price"].median().to_dict()
        self.metadata = {"trained_at": "2026-11-23", "metrics": {"holdout": {"pr_auc": 0.5}}}

    def _one(
        self, row: dict[str, Any], merchant: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, list[Reason]], list[Evidence]]:
        evidence: list[Evidence] = []
        for field in ("title", "description"):
            text = str(row.get(field) or "")
            for kind, words in (
                ("absolute_claim", _ABSOLUTE),
                ("efficacy_claim", _EFFICACY),
                ("counterfeit_cue", _FAKE_CUES),
            ):
                for w in words:
                    for m in re.finditer(re.escape(w), text):
                        evidence.append(
                            Evidence(kind=kind, phrase=w, field=field, start=m.start(), end=m.end(), text=m.group(0))  # type: ignore[arg-type]
                        )
        claims = sum(e.kind != "counterfeit_cue" for e in evidence)
        cues = sum(e.kind == "counterfeit_cue" for e in evidence)
        median = float(self._median.get(row["category"], row["price"]))
        cheap = max(0.0, math.log(median / float(row["price"]))) if median > 0 else 0.0
        no_ccc = 1.0 if not row.get("ccc_cert") else 0.0
        registry = 0.0 if str(merchant["registry_status"]) == "normal" else 1.0
        removals = float(merchant.get("removals_elsewhere") or 0)
        contrib = {
            "claims": 0.7 * claims,
            "cues": 1.2 * cues,
            "cheap": 0.9 * cheap,
            "no_ccc": 0.3 * no_ccc,
            "registry": 1.0 * registry,
            "removals": 0.4 * removals,
        }
        words = {
            "claims": ("ABSOLUTE_CLAIM", "含绝对化或功效宣传用语", "absolute or efficacy claims"),
            "cues": ("COUNTERFEIT_CUE", "含假冒暗示用语", "counterfeit cue words"),
            "cheap": ("PRICE_BELOW_CATEGORY", "价格明显低于同类目中位价", "price far below the category median"),
            "no_ccc": ("NO_CCC", "未展示3C认证编号", "no 3C certificate shown"),
            "registry": ("REGISTRY_STATUS", "商家登记状态异常", "merchant registry status not normal"),
            "removals": ("REMOVED_ELSEWHERE", "曾在其他平台被清退", "removed from other platforms"),
        }

        def reasons(keys: tuple[str, ...]) -> list[Reason]:
            ranked = sorted((k for k in keys if contrib[k] > 0), key=lambda k: -contrib[k])
            return [Reason(code=words[k][0], zh=words[k][1], en=words[k][2], contribution=contrib[k]) for k in ranked]

        lab_keys = ("claims", "cues", "cheap", "no_ccc", "registry", "removals")
        p = {
            "lab_fail": _sigmoid(-1.2 + sum(contrib[k] for k in lab_keys) + self.bias),
            "counterfeit": _sigmoid(-2.5 + contrib["cues"] + contrib["cheap"] + self.bias),
            "false_advertising": _sigmoid(-2.2 + 1.5 * contrib["claims"] + self.bias),
            MERCHANT_RISK: _sigmoid(-1.5 + contrib["registry"] + contrib["removals"] + self.bias),
        }
        r = {
            "lab_fail": reasons(lab_keys),
            "counterfeit": reasons(("cues", "cheap")),
            "false_advertising": reasons(("claims",)),
            MERCHANT_RISK: reasons(("registry", "removals")),
        }
        return p, r, evidence

    def _rows(self, market: Market) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        merchants = {m["merchant_id"]: m for m in market.merchants.to_dict("records")}
        for row in market.listings.to_dict("records"):
            yield row, merchants[row["merchant_id"]]

    def score_frame(self, market: Market) -> pd.DataFrame:
        """Probabilities only."""
        rows = [
            {"listing_id": row["listing_id"], **{f"p_{k}": v for k, v in self._one(row, m)[0].items()}}
            for row, m in self._rows(market)
        ]
        return pd.DataFrame(rows, columns=["listing_id", *[f"p_{r}" for r in (*LISTING_RISKS, MERCHANT_RISK)]])

    def score_listings(
        self, market: Market, *, top_reasons: int = 3, only: Collection[str] | None = None
    ) -> list[ListingScore]:
        """Probabilities with reasons and evidence (of the `only` listings, when given)."""
        out = []
        for row, m in self._rows(market):
            if only is not None and row["listing_id"] not in only:
                continue
            p, r, ev = self._one(row, m)
            risks = {k: RiskScore(probability=p[k], reasons=r[k][:top_reasons]) for k in p}
            out.append(
                ListingScore(listing_id=row["listing_id"], merchant_id=row["merchant_id"], risks=risks, evidence=ev)
            )  # type: ignore[arg-type]
        return out
