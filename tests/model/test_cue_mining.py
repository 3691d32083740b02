"""Cue mining: cue phrases in no lexicon but common in failing simulated listings are mined, lexicon phrases
are not, and the command prints the table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.cues import MiningConfig, mine_cues, phrases
from features.lexicon import Lexicon
from features.market import Market
from features.normalize import normalize_text
from tests.support.markets import census as census_market
from training import sim_vocab as V

#: the simulator's counterfeit cues that no lexicon has (text-only by design, see training/sim_vocab.py)
TEXT_ONLY_CUES = V.COUNTERFEIT_CUES[V.COUNTERFEIT_CUES.index("同厂同料") :]


@pytest.fixture(scope="module")
def census() -> Market:
    """A simulated market in which every listing was lab-tested (verdicts are the simulator's outcomes)."""
    return census_market(300, 5000, seed=5)


def test_phrases_stay_inside_runs() -> None:
    assert phrases("高仿 a货!同厂", min_len=2, max_len=3) == {"高仿", "a货", "同厂"}


def test_text_only_cues_are_mined_and_lexicon_phrases_are_not(census: Market) -> None:
    lex = Lexicon.load()
    known = {normalize_text(p) for k in lex.kinds for p in lex.phrases.get(k, ())}
    assert not {normalize_text(c) for c in TEXT_ONLY_CUES} & known  # the premise: no lexicon has them
    df = mine_cues(census, target="counterfeit", config=MiningConfig(top=40))
    mined = [c for c in TEXT_ONLY_CUES if any(c in p for p in df["phrase"])]
    assert len(mined) >= 3, df.head(40).to_string()
    assert not [p for p in df["phrase"] if any(k in p or p in k for k in known if k)]
    row = df[df["phrase"] == mined[0]].iloc[0]
    assert row["n_fail"] >= 5 and row["lift"] > 3 and row["z"] > 2
    assert (df["z"].diff().dropna() <= 1e-12).all()  # most separating first


def test_cues_command_prints_the_table(census: Market, tmp_path: Path) -> None:
    from cli.main import app

    d = tmp_path / "market"
    census.write(d)
    res = CliRunner().invoke(
        app, ["cues", "--data", str(d), "--target", "counterfeit", "--out", str(tmp_path / "c.csv")]
    )
    assert res.exit_code == 0, res.output
    assert "做工细节与专柜一致" in res.output
    assert len(pd.read_csv(tmp_path / "c.csv")) > 5
