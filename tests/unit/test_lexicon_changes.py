"""Accepting and rejecting lexicon phrases: versions bump, history records, concurrent accepts all land, files stay
whole, and the folder is the configured one."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.paths import LEXICON_DIR
from features import lexicon_changes as C
from features.lexicon import Lexicon, read_lexicon_file


@pytest.fixture
def lexicons(tmp_path: Path) -> Path:
    d = tmp_path / "lexicons"
    shutil.copytree(LEXICON_DIR, d)
    return d


def test_accept_bumps_the_kind_version_and_records_history(lexicons: Path) -> None:
    before = Lexicon.load(lexicons)
    change = C.accept(lexicons, " 海关罚没渠道 ", kind="counterfeit_cue", by="甲", evidence={"n_fail": 9})
    assert change.phrase == "海关罚没渠道" and change.kind_version == "2026.11-2"
    phrases, version = read_lexicon_file(lexicons / "counterfeit_cue.txt")
    assert phrases[-1] == "海关罚没渠道" and version == "2026.11-2"
    assert C.history(lexicons) == [change] and change.previous_version == before.version
    assert C.accept(lexicons, "罚没货源", kind="counterfeit_cue", by="乙").kind_version == "2026.11-3"


def test_tsv_kind_keeps_a_note_column_and_a_file_without_version_gets_one(lexicons: Path) -> None:
    C.accept(lexicons, "电动滑板车", kind="ccc_product", by="甲", note="3C 目录 2026")
    line = (lexicons / "ccc_product.tsv").read_text(encoding="utf-8").splitlines()[-1]
    assert line.split("\t")[0] == "电动滑板车" and "3C 目录 2026" in line
    path = lexicons / "efficacy_claim.txt"
    path.write_text("\n".join(x for x in path.read_text(encoding="utf-8").splitlines() if "version:" not in x) + "\n")
    C.accept(lexicons, "祛湿排毒", kind="efficacy_claim", by="甲")
    assert read_lexicon_file(path)[1] == "1"


def test_concurrent_accepts_all_land_and_leave_no_temporary_files(lexicons: Path) -> None:
    words = [f"罚没货{c}" for c in "甲乙丙丁戊己庚辛"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda w: C.accept(lexicons, w, kind="counterfeit_cue", by="并发"), words))
    lex = Lexicon.load(lexicons)
    assert set(words) <= set(lex.phrases["counterfeit_cue"])
    assert "counterfeit_cue=2026.11-9" in lex.version and len(C.history(lexicons)) == 8
    assert not [p for p in lexicons.iterdir() if p.name.startswith(".")]


def test_rejected_until_accepted(lexicons: Path) -> None:
    C.reject(lexicons, "海 关 罚 没", by="甲")
    assert C.rejected_phrases(lexicons) == {"海关罚没"}
    with pytest.raises(C.LexiconChangeError, match="already rejected"):
        C.reject(lexicons, "海关罚没", by="乙")
    C.accept(lexicons, "海关罚没", kind="counterfeit_cue", by="乙")
    assert C.rejected_phrases(lexicons) == set()


def test_training_reads_the_configured_folder(lexicons: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    C.accept(lexicons, "海关罚没渠道", kind="counterfeit_cue", by="甲")
    assert "海关罚没渠道" not in Lexicon.load().phrases["counterfeit_cue"]
    monkeypatch.setenv("CHOUJIAN_LEXICON_DIR", str(lexicons))
    lex = Lexicon.load()
    assert "海关罚没渠道" in lex.phrases["counterfeit_cue"] and lex.facts()["source"] == str(lexicons.resolve())


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(C.LexiconChangeError, match="no lexicon directory"):
        C.accept(tmp_path / "nope", "海关罚没", kind="counterfeit_cue", by="甲")
