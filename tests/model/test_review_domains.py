"""Reviews from other sources: the compact n-gram vocabulary, self-training on unlabelled reviews
(`choujian reviews adapt`) and the cross-source figures (`choujian reviews cross-source`), on tiny data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from models.text import ReviewModel
from models.text.config import FinetuneConfig, PartnerConfig
from models.text.inference import META, NGRAM_FILE, load_ngram
from models.text.ngram import fit_ngram_partner, partner_vocabularies, strongest_features
from models.text.tokenizer import prepare_texts
from training.corpus import load_shopping_reviews, load_waimai_reviews
from training.text.domains import AdaptConfig, cross_source, pseudo_labels, self_train
from training.text.review import train_review_model


def _shopping(n: int) -> tuple[list[str], np.ndarray]:
    df = load_shopping_reviews("train").sample(n=n, random_state=0)
    return prepare_texts(df["review"]), (1 - df["label"].to_numpy()).astype(np.int64)


def test_pseudo_labels_come_only_from_confident_probabilities() -> None:
    p = np.array([0.95, 0.5, 0.05, 0.89, 0.11, 0.9, 0.1, 0.7])
    idx, labels = pseudo_labels(p, 0.9)
    assert idx.tolist() == [0, 2, 5, 6]
    assert labels.tolist() == [1, 0, 1, 0]
    assert len(pseudo_labels(p, 0.99)[0]) == 0


def test_balanced_pseudo_labels_keep_the_most_confident_of_the_larger_class() -> None:
    p = np.array([0.97, 0.5, 0.92, 0.05, 0.99, 0.93, 0.3])
    idx, labels = pseudo_labels(p, 0.9, balance=True)
    assert idx.tolist() == [3, 4] and labels.tolist() == [0, 1]  # one confident non-complaint: one complaint, 0.99
    idx, labels = pseudo_labels(np.array([0.95, 0.96, 0.4]), 0.9, balance=True)
    assert len(idx) == 0  # no confident non-complaint: nothing to balance with


def test_the_vocabulary_cap_keeps_the_strongest_features_and_refits_on_them() -> None:
    x, y = _shopping(800)
    full = fit_ngram_partner(x, y, PartnerConfig(min_df=1))
    capped = fit_ngram_partner(x, y, PartnerConfig(min_df=1, keep_features=500))
    chars, words = partner_vocabularies(capped)
    assert len(chars) + len(words) == 500 < int(full.named_steps["nb"].n_features_in_)
    # exactly the 500 features with the largest |weight x NB ratio| of the uncapped fit, in both channels
    want_chars, want_words = strongest_features(full, 500)
    assert sorted(chars) == sorted(want_chars) and sorted(words) == sorted(want_words)
    assert chars and words
    assert capped.named_steps["lr"].coef_.shape == (1, 500)  # refitted on them alone
    assert np.mean((capped.predict_proba(x)[:, 1] >= 0.5) == y) > 0.9
    # a cap above the vocabulary's size changes nothing
    same = fit_ngram_partner(x, y, PartnerConfig(min_df=1, keep_features=10**7))
    np.testing.assert_allclose(same.predict_proba(x[:50]), full.predict_proba(x[:50]))


# --- on a tiny hybrid review model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_hybrid(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny review model trained on shopping, made a hybrid whatever validation chose for it (the tiny
    transformer rarely beats its partner), so that the n-gram partner decides most verdicts."""
    cfg = FinetuneConfig(
        max_train_texts=600,
        max_val_texts=60,
        epochs=0.3,
        eval_every=5,
        tokens_per_batch=2048,
        max_len=32,
        export="torch",
        refit_ngram=False,
        partner=PartnerConfig(keep_features=3000),
    )
    out = tmp_path_factory.mktemp("domains") / "model"
    train_review_model(cfg, out, pretrained=tiny_checkpoint, evaluate_test=False)
    meta = json.loads((out / META).read_text())
    meta.update(mode="hybrid", hybrid_weight=0.2, cascade=True)
    (out / META).write_text(json.dumps(meta))
    return out


def _waimai_texts(n: int) -> list[str]:
    return load_waimai_reviews("train")["review"].sample(n=n, random_state=1).tolist()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_adapt_refits_the_partner_on_the_confident_target_reviews_only(tiny_hybrid: Path, tmp_path: Path) -> None:
    texts = _waimai_texts(300)
    before = _md5(tiny_hybrid / NGRAM_FILE)
    base = ReviewModel(tiny_hybrid)
    target = sorted(set(prepare_texts(texts)))
    p = base.predict_proba(target)
    idx, labels = pseudo_labels(p, 0.8, balance=True)  # the default: as many complaints as not
    # some confident, some not: the test can tell them apart
    assert 20 <= len(idx) < len(target) and labels.sum() * 2 == len(idx)

    out = tmp_path / "adapted"
    report = self_train(tiny_hybrid, texts, out, settings=AdaptConfig(threshold=0.8))
    assert _md5(tiny_hybrid / NGRAM_FILE) == before  # the source model is never changed
    assert report["unlabelled"] == len(target)
    assert report["rounds"][0]["pseudo_labelled"] == len(idx)
    assert report["rounds"][0]["complaints"] == int(labels.sum())
    assert json.loads((out / META).read_text())["adaptation"]["rounds"] == report["rounds"]

    # the refitted partner is exactly a fit on the source texts plus the confident target texts, nothing else
    cfg = FinetuneConfig.model_validate(base.meta["config"])
    src = load_shopping_reviews("train")
    from training.text.review import review_data

    src_x, src_y = review_data(cfg, max_test_texts=1)["train"]
    expected = fit_ngram_partner([*src_x, *(target[i] for i in idx)], np.concatenate([src_y, labels]), cfg.partner)
    probe = target[:40] + prepare_texts(src["review"][:10])
    np.testing.assert_allclose(load_ngram(out).predict_proba(probe), expected.predict_proba(probe))

    # its vocabulary took in the target's wording, and it scores the target domain differently
    adapted = ReviewModel(out)
    chars, words = partner_vocabularies(load_ngram(out))
    old_chars, old_words = partner_vocabularies(load_ngram(tiny_hybrid))
    assert set(chars + words) - set(old_chars + old_words)
    p_new = adapted.predict_proba(target)
    assert p_new.shape == p.shape and np.all((p_new >= 0) & (p_new <= 1))
    assert not np.allclose(p_new, p)


@pytest.mark.slow
def test_adapt_refuses_too_few_confident_reviews_and_leaves_nothing(tiny_hybrid: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapted"
    with pytest.raises(ValueError, match="confidence >= 0.999"):
        self_train(tiny_hybrid, _waimai_texts(30), out, settings=AdaptConfig(threshold=0.999, min_pseudo_labels=25))
    assert not out.exists() and not out.with_name("adapted.tmp").exists()


@pytest.mark.slow
def test_adapt_cli_reads_the_users_file_and_names_bad_input(tiny_hybrid: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "mine.csv"
    pd.DataFrame({"id": range(200), "评论": _waimai_texts(200)}).to_csv(good, index=False)
    out = tmp_path / "adapted"
    args = ["reviews", "adapt", "--model", str(tiny_hybrid), "--out", str(out), "--threshold", "0.7"]
    res = runner.invoke(app, [*args, "--unlabelled", str(good), "--text-column", "评论"])
    assert res.exit_code == 0, res.output
    assert (out / NGRAM_FILE).is_file() and "pseudo_labelled" in res.output

    res = runner.invoke(app, [*args, "--unlabelled", str(good)])  # the default column is `review`
    assert res.exit_code == 2 and "column 'review' not found" in res.output and "id, 评论" in res.output
    bad = tmp_path / "gbk.csv"
    bad.write_bytes("review\n很好吃\n".encode() + "送餐太慢\n".encode("gbk"))
    res = runner.invoke(app, [*args, "--unlabelled", str(bad)])
    assert res.exit_code == 2 and "gbk.csv, line 3: not UTF-8" in res.output
    res = runner.invoke(app, [*args, "--unlabelled", str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "none.csv: no such file" in res.output
    res = runner.invoke(app, [*args, "--unlabelled", str(good), "--text-column", "评论", "--threshold", "0.4"])
    assert res.exit_code == 2 and "--threshold" in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("review\n\n  \n", encoding="utf-8")
    res = runner.invoke(app, [*args, "--unlabelled", str(empty)])
    assert res.exit_code == 2 and "no review text" in res.output


@pytest.mark.slow
def test_cross_source_reports_every_model_on_both_corpora_before_and_after_adapting(
    tiny_hybrid: Path, tmp_path: Path
) -> None:
    got = cross_source(
        train="shopping",
        test="waimai",
        model_dir=tiny_hybrid,
        adapt=AdaptConfig(threshold=0.7),
        adapted_out=tmp_path / "adapted",
        max_test_texts=120,
    )
    assert got["train"] == "shopping" and got["test"] == "waimai"
    for part in ("target", "source"):
        assert set(got[part]) == {"baseline", "partner", "transformer", "cascade"}
        for fig in got[part].values():
            assert 0.0 <= fig["auc"] <= 1.0 and 0.0 <= fig["accuracy"] <= 1.0 and fig["n"] == 120
    # the shopping-trained n-gram models tell shopping reviews apart better than delivery reviews they never saw
    assert got["source"]["partner"]["auc"] > 0.75
    adapted = got["adapted"]
    assert adapted["adaptation"]["rounds"][0]["pseudo_labelled"] > 0
    assert set(adapted["target"]) == {"partner", "transformer", "cascade"}
    # the transformer is kept as it was: only the partner (and so the cascade) moves
    assert adapted["target"]["transformer"] == got["target"]["transformer"]
    assert adapted["target"]["partner"] != got["target"]["partner"]


@pytest.mark.slow
def test_cross_source_refuses_a_model_of_another_corpus_and_one_corpus_twice(tiny_hybrid: Path) -> None:
    with pytest.raises(ValueError, match="learnt from the shopping corpus, not waimai"):
        cross_source(train="waimai", test="shopping", model_dir=tiny_hybrid, max_test_texts=10)
    res = CliRunner().invoke(app, ["reviews", "cross-source", "--train", "waimai", "--test", "waimai"])
    assert res.exit_code == 2 and "both waimai" in res.output
    res = CliRunner().invoke(app, ["reviews", "cross-source", "--train", "amazon"])
    assert res.exit_code == 2 and "--train 'amazon'" in res.output


def test_cross_source_without_a_model_measures_the_ngram_models_and_their_self_training() -> None:
    cfg = FinetuneConfig(max_train_texts=500, refit_ngram=False, partner=PartnerConfig(keep_features=2000))
    got = cross_source(
        train="shopping",
        test="waimai",
        model_dir=None,
        config=cfg,
        adapt=AdaptConfig(threshold=0.7),
        max_test_texts=150,
    )
    assert got["model"] is None and got["n_source"] == 500
    for part in ("target", "source"):
        assert set(got[part]) == {"baseline", "partner"} and got[part]["partner"]["n"] == 150
    rounds = got["adapted"]["adaptation"]["rounds"]
    assert len(rounds) == 1 and 0 < rounds[0]["pseudo_labelled"] < got["adapted"]["adaptation"]["unlabelled"]
    assert got["adapted"]["target"]["partner"] != got["target"]["partner"]
