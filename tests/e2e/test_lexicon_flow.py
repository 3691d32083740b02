"""The lexicon-suggestion flow end to end (issue 20): on a simulated market, a cue phrase that is in no lexicon
but common in failing listings is suggested by `choujian cues`, accepted with `choujian lexicon accept`,
versioned with a history record, and then used by the next trained bundle: its features fire on the phrase
(the spaced-out evasion too), its evidence shows it, and the bundle and /v1/model report the new version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from core.paths import LEXICON_DIR
from features.lexicon import Lexicon
from features.lexicon_changes import history
from features.market import Market
from features.normalize import normalize_text
from tests.support.markets import NEW_CUE, census, with_cue

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market() -> Market:
    return with_cue(census(120, 1500, seed=5))


@pytest.fixture
def lexicon_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped lexicons as the configured folder (the shipped one is never written by tests)."""
    d = tmp_path / "lexicons"
    shutil.copytree(LEXICON_DIR, d)
    monkeypatch.setenv("CHOUJIAN_LEXICON_DIR", str(d))
    return d


def _cli(*args: str) -> object:
    from cli.main import app

    return CliRunner().invoke(app, list(args))


def _suggested(data: Path, tmp_path: Path) -> list[str]:
    """The suggestions `choujian cues` lists for counterfeit that hold the planted phrase."""
    res = _cli("cues", "--data", str(data), "--target", "counterfeit", "--out", str(tmp_path / "again.csv"))
    assert res.exit_code == 0, res.output
    return [p for p in pd.read_csv(tmp_path / "again.csv")["phrase"] if NEW_CUE in str(p)]


def test_suggested_accepted_versioned_and_used_by_the_next_bundle(
    market: Market, lexicon_dir: Path, tmp_path: Path
) -> None:
    from serving.runtime import describe
    from tests.support.tiny import fit_tiny

    before = Lexicon.load()
    assert before.source == str(lexicon_dir.resolve())
    known = {normalize_text(p) for k in before.kinds for p in before.phrases[k]}
    assert not [k for k in known if k and (k in NEW_CUE or NEW_CUE in k)]  # the premise: no lexicon has it
    data = tmp_path / "market"
    market.write(data)

    # 1. suggested: the phrase, for the counterfeit lexicon, with counts, lift, z and evidence listings
    res = _cli("cues", "--data", str(data), "--target", "counterfeit", "--out", str(tmp_path / "cues.csv"))
    assert res.exit_code == 0, res.output
    cues = pd.read_csv(tmp_path / "cues.csv")
    row = cues[cues["phrase"] == NEW_CUE].iloc[0]
    assert row.name < 3, cues.head().to_string()  # among the top suggestions
    assert row["suggested_kind"] == "counterfeit_cue"
    assert row["n_fail"] >= 20 and row["lift"] > 5 and row["z"] > 3
    evidence = row["evidence"].split(";")
    assert len(evidence) == 3
    lid, span = evidence[0].split("@")
    title = market.listings.set_index("listing_id").loc[lid, "title"]
    a, b = (int(x) for x in span.removeprefix("title[").removesuffix("]").split(":"))
    assert normalize_text(title[a:b]) == NEW_CUE  # the span is the phrase as the seller wrote it

    # 2. accepted: a new version of the counterfeit lexicon, with a history record
    res = _cli(
        "lexicon", "accept", NEW_CUE, "--kind", "counterfeit_cue", "--by", "分析员甲",
        "--data", str(data), "--target", "counterfeit", "--note", "海关通报",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    after = Lexicon.load()
    assert NEW_CUE in after.phrases["counterfeit_cue"]
    assert after.version != before.version and "counterfeit_cue=2026.11-2" in after.version
    [change] = history(lexicon_dir)
    assert (change.action, change.phrase, change.kind, change.by) == ("accept", NEW_CUE, "counterfeit_cue", "分析员甲")
    assert change.previous_version == before.version and change.version == after.version
    assert change.evidence["n_fail"] == row["n_fail"] and change.evidence["n_pass"] == row["n_pass"]
    assert change.evidence["evidence"][0]["listing_id"] == lid and change.note == "海关通报"
    assert _suggested(data, tmp_path) == []  # no longer suggested: it is in a lexicon

    # 3. the next trained bundle uses it and says which version it was trained with
    bundle = fit_tiny(market).bundle  # its own: the next bundle must read the lexicon the test just changed
    assert NEW_CUE in bundle.lexicon.phrases["counterfeit_cue"]
    assert bundle.metadata["lexicon"]["version"] == after.version
    assert bundle.metadata["summary"]["lexicon_version"] == after.version
    assert describe(bundle, source="test", alias=None).lexicon_version == after.version
    frame, X = bundle.listing_features(market)
    col = bundle.metadata["feature_names"].index("text__title_counterfeit_cue_hits")
    planted = frame["title"].map(lambda t: NEW_CUE in normalize_text(t)).to_numpy()
    assert planted.sum() >= 20
    for title, value in zip(frame["title"][planted], X[planted, col], strict=True):
        old = sum(h.kind == "counterfeit_cue" for h in before.find(title))
        assert value == old + 1, title  # the plain and the spaced-out plantings both hit
    spaced = next(i for i, t in zip(frame["listing_id"], frame["title"], strict=True) if " ".join(NEW_CUE) in t)
    [scored] = bundle.score_listings(market, only=[spaced])
    hit = next(e for e in scored.evidence if e.phrase == NEW_CUE)
    assert hit.kind == "counterfeit_cue" and hit.text == " ".join(NEW_CUE)


def test_a_rejected_suggestion_is_not_suggested_again(market: Market, lexicon_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "market"
    market.write(data)
    assert _cli("lexicon", "reject", NEW_CUE, "--by", "分析员乙", "--note", "误报").exit_code == 0
    assert _suggested(data, tmp_path) == []
    assert Lexicon.load().version == Lexicon.load(LEXICON_DIR).version  # a rejection changes no lexicon
    res = _cli("lexicon", "history", "--json")
    [record] = [json.loads(line) for line in res.output.splitlines()]
    assert record["action"] == "reject" and record["by"] == "分析员乙"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["accept", "   ", "--kind", "counterfeit_cue", "--by", "x"], "empty"),
        (["accept", "高仿", "--kind", "counterfeit_cue", "--by", "x"], "already in the counterfeit_cue lexicon"),
        (["accept", "國家級", "--kind", "efficacy_claim", "--by", "x"], "already in the absolute_claim lexicon"),
        (["accept", "海关罚没", "--kind", "nonsense", "--by", "x"], "unknown lexicon kind 'nonsense'"),
        (["accept", "仿", "--kind", "counterfeit_cue", "--by", "x"], "2–30 characters"),
        (["accept", "海关罚没", "--kind", "counterfeit_cue", "--by", " "], "who"),
        (["reject", "高仿", "--by", "x"], "does not remove it"),
        (["accept", "海关罚没", "--kind", "counterfeit_cue", "--by", "x", "--data", "/nonexistent"], "nonexistent"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(lexicon_dir: Path, args: list[str], says: str) -> None:
    files = {p.name: p.read_bytes() for p in lexicon_dir.iterdir()}
    res = _cli("lexicon", *args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], res.output
    assert {p.name: p.read_bytes() for p in lexicon_dir.iterdir()} == files


def test_accepting_twice_is_refused(lexicon_dir: Path) -> None:
    assert _cli("lexicon", "accept", "海关罚没", "--kind", "counterfeit_cue", "--by", "x").exit_code == 0
    res = _cli("lexicon", "accept", " 海 关 罚 没 ", "--kind", "absolute_claim", "--by", "y")
    assert res.exit_code == 2 and "already in the counterfeit_cue lexicon" in res.output
    assert len(history(lexicon_dir)) == 1
