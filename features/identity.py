"""Seller identities: shops linked across platforms and shop names by credit code, phone and name.

A seller removed from one platform tends to reappear under a new shop name, often on another platform,
re-using its business licence (统一社会信用代码) or its phone number. Shops that share any of these keys
belong to one identity (the connected components of the shared-key graph). `IdentityIndex` remembers the keys of the
identities it was built on, so a shop seen later resolves to the identity (or identities) whose keys it
carries, using only its own record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.normalize import normalize_text

# a name this short or generic would link unrelated shops
_MIN_NAME_LEN = 4
_NAME_DROP = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_PHONE_DROP = re.compile(r"[^0-9]")


def shop_name_key(name: object) -> str | None:
    """A shop name reduced to what identifies it: normalised (width, case, 繁→简), symbols dropped."""
    if not isinstance(name, str) or not name.strip():
        return None
    key = _NAME_DROP.sub("", normalize_text(name))
    return key if len(key) >= _MIN_NAME_LEN else None


def phone_key(phone: object) -> str | None:
    """Digits of a phone number without the +86 country prefix; None if too short to identify."""
    if not isinstance(phone, str) or not phone.strip():
        return None
    digits = _PHONE_DROP.sub("", phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if len(digits) >= 7 else None


def credit_key(code: object) -> str | None:
    """The upper-cased credit code, or None."""
    if not isinstance(code, str) or not code.strip():
        return None
    return code.strip().upper()


def shop_keys(credit_code: object, phone: object, shop_name: object) -> list[tuple[str, str]]:
    """The (kind, value) keys that link this shop to others."""
    keys: list[tuple[str, str]] = []
    for kind, value in (
        ("code", credit_key(credit_code)),
        ("phone", phone_key(phone)),
        ("name", shop_name_key(shop_name)),
    ):
        if value is not None:
            keys.append((kind, value))
    return keys


def link(records: Sequence[tuple[object, object, object]]) -> list[int]:
    """Identity number (0..k-1, in order of first appearance) of each (credit_code, phone, shop_name)."""
    n = len(records)
    first: dict[tuple[str, str], int] = {}
    edges: tuple[list[int], list[int]] = ([], [])
    for i, (code, phone, name) in enumerate(records):
        for key in shop_keys(code, phone, name):
            j = first.setdefault(key, i)
            if j != i:
                edges[0].append(i)
                edges[1].append(j)
    graph = coo_matrix((np.ones(len(edges[0]), dtype=np.int8), edges), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    roots: dict[int, int] = {}
    return [roots.setdefault(int(c), len(roots)) for c in component]


@dataclass
class IdentityIndex:
    """Keys → identity number for the shops an index was built on."""

    keys: dict[tuple[str, str], int] = field(default_factory=dict)
    n_identities: int = 0

    @classmethod
    def build(cls, records: Sequence[tuple[object, object, object]]) -> tuple[IdentityIndex, list[int]]:
        """Link `records` and index their keys; also return each record's identity number."""
        ids = link(records)
        keys: dict[tuple[str, str], int] = {}
        for (code, phone, name), ident in zip(records, ids, strict=True):
            for key in shop_keys(code, phone, name):
                keys[key] = ident
        return cls(keys=keys, n_identities=max(ids, default=-1) + 1), ids

    def resolve(self, credit_code: object, phone: object, shop_name: object) -> tuple[list[int], set[str]]:
        """The known identities this shop's keys point to (usually one, none for a stranger) and via which keys."""
        found: dict[int, None] = {}
        via: set[str] = set()
        for kind, value in shop_keys(credit_code, phone, shop_name):
            ident = self.keys.get((kind, value))
            if ident is not None:
                found[ident] = None
                via.add(kind)
        return list(found), via

    def resolve_many(self, rows: Iterable[tuple[object, object, object]]) -> list[tuple[list[int], set[str]]]:
        """`resolve` for many shops."""
        return [self.resolve(*r) for r in rows]


__all__ = ["IdentityIndex", "credit_key", "link", "phone_key", "shop_keys", "shop_name_key"]
