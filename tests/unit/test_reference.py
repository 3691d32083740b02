"""Reference tables: the shipped lab fees cover the simulator's categories; a deployment's own table wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import paths, reference
from core.reference import LAB_FEES, read_lab_fees
from training import sim_vocab


def test_the_shipped_fee_table_covers_every_simulated_category() -> None:
    table = read_lab_fees(paths.REFERENCE_DIR / LAB_FEES)
    assert {c.name for c in sim_vocab.CATEGORIES} <= set(table)
    assert all(f.lab_fee_yuan > 0 for f in table.values())
    assert {c.name for c in sim_vocab.CATEGORIES if c.ccc} == {c for c, f in table.items() if f.ccc_compulsory}


def test_a_deployment_overrides_the_table_and_single_fees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / LAB_FEES).write_text("category,lab_fee_yuan\n保健食品,1200\n", encoding="utf-8")
    monkeypatch.setenv("CHOUJIAN_REFERENCE_DIR", str(tmp_path))
    assert reference.lab_fees() == {"保健食品": 1200.0}
    monkeypatch.setenv("CHOUJIAN_LAB_FEES", '{"化妆品": 900}')
    assert reference.lab_fees() == {"保健食品": 1200.0, "化妆品": 900.0}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("category,lab_fee_yuan\n服装,abc\n", r"line 2, column 'lab_fee_yuan': not a number"),
        ("category,lab_fee_yuan\n服装,-1\n", "line 2, column 'lab_fee_yuan'"),
        ("category,lab_fee_yuan\n服装,1\n服装,2\n", "line 3, column 'category': '服装' appears twice"),
        ("category,fee\n服装,1\n", "missing column"),
    ],
)
def test_a_bad_fee_table_is_refused_naming_line_and_column(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / LAB_FEES
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        read_lab_fees(path)


def test_the_settings_given_are_the_ones_used(tmp_path: Path) -> None:
    """The service passes its own settings object, which need not come from the environment."""
    from core.settings import SharedSettings

    (tmp_path / LAB_FEES).write_text("category,lab_fee_yuan\n保健食品,1200\n", encoding="utf-8")
    settings = SharedSettings(reference_dir=tmp_path, lab_fees={"化妆品": 900.0})
    assert reference.lab_fees(settings) == {"保健食品": 1200.0, "化妆品": 900.0}
