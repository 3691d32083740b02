"""Lexicon suggestions in the service: mined from the market it holds, accepted into the lexicon folder it names.

Mining is `features.cues` (the one implementation the CLI's `choujian cues` uses too); the counts are made
once per market and target and kept (`SuggestionCache`), and only the cheap filtering against the lexicon
(and the phrases analysts rejected) runs again after each decision. Accepting writes `CHOUJIAN_LEXICON_DIR`
through `features.lexicon_changes`: the model in service keeps the lexicon it was trained with; the next
trained (and promoted) model uses the new one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from features import lexicon_changes
from features.cues import TARGETS, CueMiner, MiningConfig
from features.lexicon import Lexicon
from features.market import Market
from serving.settings import Settings

#: suggestions shown per target
TOP = 30


@dataclass
class SuggestionCache:
    """Cue counts per (market fingerprint, target): the expensive half of mining, made once per market."""

    size: int = 4
    items: OrderedDict[tuple[str, str], CueMiner] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def miner(self, market: Market, fingerprint: str, target: str) -> CueMiner:
        key = (fingerprint, target)
        with self.lock:  # two analysts opening the page at once share one pass over the market
            hit = self.items.get(key)
            if hit is None:
                hit = CueMiner(market, target=target, config=MiningConfig(top=TOP))
                self.items[key] = hit
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
            self.items.move_to_end(key)
            return hit


def current_lexicon(settings: Settings) -> Lexicon:
    """The lexicon folder as it is now (what the next training run reads)."""
    return Lexicon.load(settings.lexicon_path())


def suggestions(
    market: Market, fingerprint: str, settings: Settings, cache: SuggestionCache, *, target: str
) -> tuple[Lexicon, pd.DataFrame]:
    """Today's lexicon and the phrases it lacks that separate failing listings, rejected phrases left out."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    lexicon = current_lexicon(settings)
    rejected = lexicon_changes.rejected_phrases(settings.lexicon_path())
    return lexicon, cache.miner(market, fingerprint, target).mine(lexicon, exclude=rejected)


def decide(
    market: Market,
    fingerprint: str,
    settings: Settings,
    cache: SuggestionCache,
    *,
    action: str,
    phrase: str,
    kind: str,
    target: str,
    by: str,
    note: str = "",
) -> lexicon_changes.LexiconChange:
    """Accept `phrase` into `kind` or reject it, keeping the mined figures the analyst saw as its evidence.

    Raises `lexicon_changes.LexiconChangeError` (one line) for an empty, duplicate or unknown-kind change.
    """
    if target not in TARGETS:
        raise lexicon_changes.LexiconChangeError(f"target must be one of {', '.join(TARGETS)}")
    evidence: dict[str, Any] = {}
    if phrase.strip():
        miner = cache.miner(market, fingerprint, target)
        evidence = {"market": fingerprint, **miner.describe(phrase, current_lexicon(settings))}
    if action == "accept":
        return lexicon_changes.accept(settings.lexicon_path(), phrase, kind=kind, by=by, evidence=evidence, note=note)
    if action == "reject":
        return lexicon_changes.reject(settings.lexicon_path(), phrase, kind=kind, by=by, evidence=evidence, note=note)
    raise lexicon_changes.LexiconChangeError(f"unknown action {action!r}: accept or reject")
