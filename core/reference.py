"""Reference tables (`data/reference/`, overridable per deployment): lab fees per product category.

Read with the standard library (no pandas) so every layer may use them; planning itself takes the fees
as a plain mapping (`sampling`), so nothing there reads files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from core.settings import SharedSettings, shared_settings

LAB_FEES = "lab_fees.csv"


@dataclass(frozen=True)
class CategoryFacts:
    """What the reference tables say about one product category."""

    category: str
    lab_fee_yuan: float
    standard: str
    ccc_compulsory: bool


def _truthy(value: str, *, where: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{where}: expected true or false, got {value!r}")


def read_lab_fees(path: str | Path) -> dict[str, CategoryFacts]:
    """Parse a lab-fee table; a bad row raises ValueError naming the file, line and column."""
    path = Path(path)
    out: dict[str, CategoryFacts] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"category", "lab_fee_yuan"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            cat = (row.get("category") or "").strip()
            if not cat:
                raise ValueError(f"{path}, line {line}, column 'category': empty")
            if cat in out:
                raise ValueError(f"{path}, line {line}, column 'category': {cat!r} appears twice")
            try:
                fee = float(row["lab_fee_yuan"])
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}, line {line}, column 'lab_fee_yuan': not a number ({row['lab_fee_yuan']!r})"
                ) from None
            if not fee >= 0 or fee == float("inf"):
                raise ValueError(f"{path}, line {line}, column 'lab_fee_yuan': must be a finite fee >= 0")
            out[cat] = CategoryFacts(
                category=cat,
                lab_fee_yuan=fee,
                standard=(row.get("standard") or "").strip(),
                ccc_compulsory=_truthy(row.get("ccc_compulsory") or "", where=f"{path}, line {line}"),
            )
    return out


def category_facts(settings: SharedSettings | None = None) -> dict[str, CategoryFacts]:
    """The deployment's category table (its own `lab_fees.csv` when it has one, else the shipped one)."""
    return read_lab_fees((settings or shared_settings()).reference_path(LAB_FEES))


def lab_fees(settings: SharedSettings | None = None) -> dict[str, float]:
    """Lab fee (yuan) per category: the reference table, then the settings' `lab_fees` on top (default: the
    settings the environment gives; the service passes its own)."""
    settings = settings or shared_settings()
    return {**{c: f.lab_fee_yuan for c, f in category_facts(settings).items()}, **settings.lab_fees}
