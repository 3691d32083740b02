"""Monotone constraints: domain knowledge the trees must respect (more claim or counterfeit-cue hits never make a
listing *less* risky), as LightGBM's per-feature `monotone_constraints`."""

from __future__ import annotations

from features.lexicon import Lexicon

#: domain knowledge the trees must respect: more claim / cue hits never make a listing *less* risky
_CLAIMS = {
    **{f"text__{f}_{k}_hits": 1 for f in ("title", "desc") for k in ("absolute_claim", "efficacy_claim")},
    "text__claim_kinds_present": 1,
    "text__repeated_claims": 1,
}
_CUES = {f"text__{f}_counterfeit_cue_hits": 1 for f in ("title", "desc")}
# the transformer listing text model's reading of the same texts (when `listing_text.enabled`)
_CLAIMS["listing_text__p_false_advertising"] = 1
_CUES["listing_text__p_counterfeit"] = 1
DEFAULT_MONOTONE: dict[str, dict[str, int]] = {
    "false_advertising": _CLAIMS,
    "counterfeit": _CUES,
    "lab_fail": {**_CLAIMS, **_CUES},
}


#: which lexicon kinds' words, when they are TF-IDF token columns, may only raise a risk
_TOKEN_KINDS = {
    "false_advertising": ("absolute_claim", "efficacy_claim"),
    "counterfeit": ("counterfeit_cue",),
    "lab_fail": ("absolute_claim", "efficacy_claim", "counterfeit_cue"),
}


def _lexicon_tokens(kinds: tuple[str, ...], lexicon: Lexicon | None = None) -> set[str]:
    from features.normalize import normalize_text

    lex = lexicon if lexicon is not None else Lexicon.load()
    return {normalize_text(p) for k in kinds for p in lex.phrases.get(k, ())}


def monotone_vector(
    names: list[str], prefixes: dict[str, int], *, risk: str | None = None, lexicon: Lexicon | None = None
) -> list[int] | None:
    """LightGBM's per-feature monotone constraints from `{name prefix: direction}`.

    Token columns (`text__tok=<word>`) whose word is a claim or counterfeit-cue lexicon phrase get +1 for
    the risks that phrase kind drives, so a learnt token weight can never undo the lexicon's direction.
    """
    if not prefixes:
        return None
    tokens = _lexicon_tokens(_TOKEN_KINDS.get(risk or "", ()), lexicon)
    out = []
    for n in names:
        d = next((d for p, d in prefixes.items() if n.startswith(p)), 0)
        if not d and n.startswith("text__tok=") and n.removeprefix("text__tok=") in tokens:
            d = 1
        out.append(d)
    return out
