"""The transformer text models end to end on tiny configs: a checkpoint the test creates itself, the
review model trained from it (`--pretrained PATH`), save/load/pickle, ONNX parity, the CLI, the listing
model."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from models.text import ReviewModel, load_review_model
from models.text.config import FinetuneConfig
from models.text.inference import META, TextClassifier, load_ngram
from models.text.ngram import fit_ngram_partner
from models.text.tokenizer import prepare_texts
from training.text.review import choose_hybrid_weight, review_data, stale_reason, train_review_model

pytestmark = pytest.mark.slow

NEG = "质量太差了，是假货，要求退货"
POS = "非常好用，质量很棒，物流也快，五星好评"


@pytest.fixture(scope="module")
def tiny_review_model(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    cfg = FinetuneConfig(
        max_train_texts=400,
        max_val_texts=120,
        epochs=1.0,
        eval_every=5,
        lr=1e-3,
        tokens_per_batch=2048,
        max_len=48,
        max_batch_size=32,
        export="auto",
    )
    out = tmp_path_factory.mktemp("review") / "model"
    metrics = train_review_model(cfg, out, pretrained=tiny_checkpoint, max_test_texts=150)
    return out, metrics


def test_review_model_is_self_describing(tiny_review_model: tuple[Path, dict], tiny_checkpoint: Path) -> None:
    out, metrics = tiny_review_model
    import json

    cfg = json.loads((out / "encoder" / "config.json").read_text())
    assert cfg["id2label"] == {"0": "ok", "1": "complaint"}
    assert cfg["label2id"] == {"ok": 0, "complaint": 1}
    assert (out / "encoder" / "vocab.txt").is_file() and (out / "encoder" / "model.safetensors").is_file()
    meta = json.loads((out / META).read_text())
    assert meta["pretrained"] == str(tiny_checkpoint)  # the checkpoint path lives only in config
    assert meta["backend"] in ("torch", "onnx", "onnx-int8")
    assert metrics["n_train"] == 400 and metrics["n_test"] == 150
    # checks during fine-tuning read the fixed 120-text sample; the hybrid weight all of validation
    assert metrics["validation"]["checks_on"] == 120 and metrics["n_validation"] > 1000
    assert 0.0 <= metrics["test"]["baseline_accuracy"] <= 1.0
    assert metrics["fine_tune"]["steps"] > 0 and metrics["fine_tune"]["history"]
    # the hybrid's partner is the character + word NB-LR, saved beside the encoder; the baseline is only reported
    assert meta["ngram_partner"] == "nb_char_word"
    assert 0.0 <= metrics["test"]["partner_accuracy"] <= 1.0
    assert 0.0 <= metrics["validation"]["partner_accuracy"] <= 1.0
    assert "nb" in load_ngram(out).named_steps and (out / "ngram_lr.pkl").is_file()


def test_the_shipped_partner_learned_from_validation_after_the_choices(tiny_review_model: tuple[Path, dict]) -> None:
    out, metrics = tiny_review_model
    assert metrics["ngram_refit"]["texts"] == metrics["n_train"] + metrics["n_validation"]
    cfg = FinetuneConfig.model_validate(json.loads((out / META).read_text())["config"])
    assert cfg.refit_ngram
    data = review_data(cfg)
    (tr_x, tr_y), (va_x, va_y) = data["train"], data["validation"]
    refit = fit_ngram_partner([*tr_x, *va_x], np.concatenate([tr_y, va_y]), cfg.partner)
    texts = [NEG, POS, *va_x[:50]]
    np.testing.assert_allclose(load_ngram(out).predict_proba(texts), refit.predict_proba(texts))


def test_a_model_directory_from_before_the_pickle_file_still_loads(
    tiny_review_model: tuple[Path, dict], tmp_path: Path
) -> None:
    import joblib

    out, _ = tiny_review_model
    old = tmp_path / "old"
    shutil.copytree(out, old)
    meta = json.loads((old / META).read_text())
    meta.update(mode="hybrid", hybrid_weight=0.5)  # whatever validation chose for the tiny model
    (old / META).write_text(json.dumps(meta))
    joblib.dump(load_ngram(old), old / "ngram_lr.joblib")  # how earlier versions wrote the n-gram component
    (old / "ngram_lr.pkl").unlink()
    texts = [NEG, POS, "还行吧"]
    legacy = ReviewModel.load(old, backend="torch")
    assert legacy.mode == "hybrid"
    assert np.allclose(legacy.predict_proba_ngram(texts), load_ngram(out).predict_proba(prepare_texts(texts))[:, 1])
    (old / "ngram_lr.joblib").unlink()
    with pytest.raises(FileNotFoundError, match="without its n-gram component"):
        ReviewModel.load(old, backend="torch")


def test_the_cascade_runs_the_transformer_only_where_it_can_change_the_verdict(
    tiny_review_model: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, metrics = tiny_review_model
    assert metrics["test"]["accuracy"] is not None and metrics["test"]["texts_per_second"] > 0
    assert 0.0 <= metrics["test"]["transformer_share"] <= 1.0
    dirs = {}
    for name, cascade in (("full", False), ("cascade", True)):
        dirs[name] = tmp_path / name
        shutil.copytree(out, dirs[name])
        meta = json.loads((dirs[name] / META).read_text())
        meta.update(mode="hybrid", hybrid_weight=0.2, cascade=cascade)
        (dirs[name] / META).write_text(json.dumps(meta))
    full, cascaded = (ReviewModel.load(dirs[n], backend="torch") for n in ("full", "cascade"))
    texts = [NEG, POS, "还行吧", "一般般，不好也不坏", "物流慢但东西还可以", "差", "好"] * 3
    p_ngram = cascaded.predict_proba_ngram(texts)
    seen: list[int] = []
    real = ReviewModel.predict_proba_transformer

    def counting(self: ReviewModel, xs: list[str]) -> np.ndarray:
        seen.append(len(xs))
        return real(self, xs)

    monkeypatch.setattr(ReviewModel, "predict_proba_transformer", counting)
    p_full, p_cascade = full.predict_proba(texts), cascaded.predict_proba(texts)
    need = (p_ngram >= 0.375 - 1e-9) & (p_ngram < 0.625 + 1e-9)  # transformer_band(0.2)
    assert 0 < need.sum() < len(texts)  # both sides of the band are exercised
    assert seen == [len(texts), int(need.sum())]  # the full blend reads every text, the cascade the band
    assert np.array_equal(p_full >= 0.5, p_cascade >= 0.5)  # the same verdicts
    assert np.allclose(p_cascade[need], p_full[need])  # the blend itself inside the band
    assert np.allclose(p_cascade[~need], p_ngram[~need])  # the n-gram score outside it
    assert np.all(np.abs(p_cascade - p_full) <= 0.2 + 1e-9)
    # positions, not labels: a Series with its own index scores the same
    series = pd.Series(texts, index=range(100, 100 + len(texts)))
    assert np.array_equal(cascaded.predict_proba(series), p_cascade)


def test_a_model_is_reused_only_when_config_and_checkpoint_are_the_same(
    tiny_review_model: tuple[Path, dict], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    import yaml
    from transformers import AutoModelForMaskedLM

    out, _ = tiny_review_model
    cfg = FinetuneConfig.model_validate(json.loads((out / META).read_text())["config"])
    assert stale_reason(out, cfg, tiny_checkpoint) is None
    assert stale_reason(out, cfg.model_copy(update={"lr": 2e-3}), tiny_checkpoint) == (
        "it was fine-tuned with another config"
    )
    assert stale_reason(tmp_path / "none", cfg, tiny_checkpoint) == f"no review model in {tmp_path / 'none'}"
    changed = tmp_path / "changed"
    shutil.copytree(tiny_checkpoint, changed)
    enc = AutoModelForMaskedLM.from_pretrained(changed)
    with torch.no_grad():
        next(enc.parameters()).add_(0.01)
    enc.save_pretrained(changed)
    assert "has changed since" in str(stale_reason(out, cfg, changed))

    # the CLI keeps a current model without touching it, and says so
    config_file = tmp_path / "review.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    before = (out / META).stat().st_mtime_ns
    args = ["reviews", "train", "--config", str(config_file), "--out", str(out), "--pretrained", str(tiny_checkpoint)]
    res = CliRunner().invoke(app, [*args, "--reuse"])
    assert res.exit_code == 0, res.output
    assert "reusing" in res.output and (out / META).stat().st_mtime_ns == before


def test_fresh_load_and_pickle_give_identical_probabilities(tiny_review_model: tuple[Path, dict]) -> None:
    out, _ = tiny_review_model
    texts = [NEG, POS, "还行吧", "", "物流很慢，客服态度差"]
    a = ReviewModel.load(out, backend="torch").predict_proba(texts)
    b = load_review_model(out, backend="torch").predict_proba(texts)
    assert a.shape == (5,) and np.all((a >= 0) & (a <= 1))
    np.testing.assert_array_equal(a, b)
    blob = pickle.dumps(ReviewModel.load(out, backend="torch"))
    assert len(blob) < 10_000  # by reference: the weights stay in the directory
    np.testing.assert_array_equal(pickle.loads(blob).predict_proba(texts), a)


def test_duplicates_are_scored_once_and_in_order(tiny_review_model: tuple[Path, dict]) -> None:
    out, _ = tiny_review_model
    m = ReviewModel.load(out, backend="torch")
    single = m.predict_proba([NEG, POS])
    many = m.predict_proba([POS, NEG, POS, NEG, NEG])
    np.testing.assert_allclose(many, single[[1, 0, 1, 0, 0]], atol=1e-6)
    assert m.predict_proba([]).shape == (0,)


def test_onnx_and_int8_match_torch(tiny_review_model: tuple[Path, dict]) -> None:
    out, _ = tiny_review_model
    texts = [NEG, POS, "一般般，没有想象中好", "屏幕很清晰，电池耐用" * 10, "差"]
    ref = TextClassifier(out, backend="torch").predict_proba_all(texts)
    onnx = TextClassifier(out, backend="onnx").predict_proba_all(texts)
    np.testing.assert_allclose(onnx, ref, atol=1e-4)
    int8 = TextClassifier(out, backend="onnx-int8").predict_proba_all(texts)
    assert np.max(np.abs(int8 - ref)) < 0.05


def test_onnx_logits_do_not_depend_on_threads_or_fork(tiny_review_model: tuple[Path, dict]) -> None:
    """A forked worker's session runs on one thread, the parent's on two: the same logits, bit for bit."""
    import multiprocessing as mp

    out, _ = tiny_review_model
    texts = [NEG, POS, "一般般，没有想象中好", "屏幕很清晰，电池耐用" * 10, "差", "还行吧"] * 7
    two = TextClassifier(out, backend="onnx", threads=2)
    one = TextClassifier(out, backend="onnx", threads=1)
    parent = two.logits(texts)
    np.testing.assert_array_equal(one.logits(texts), parent)
    global _INHERITED
    _INHERITED = two  # the child uses the parent's object, as forked batch and server workers do
    with mp.get_context("fork").Pool(1) as pool:
        child, threads = pool.apply(_inherited_logits, (texts,))
    _INHERITED = None
    assert threads == 1
    np.testing.assert_array_equal(child, parent)


_INHERITED: TextClassifier | None = None


def _inherited_logits(texts: list[str]) -> tuple[np.ndarray, int]:
    assert _INHERITED is not None
    logits = _INHERITED.logits(texts)
    return logits, _INHERITED._onnx().get_session_options().intra_op_num_threads


def test_pretrained_override_trains_from_that_checkpoint(tiny_review_model: tuple[Path, dict]) -> None:
    from transformers import AutoConfig

    out, _ = tiny_review_model
    cfg = AutoConfig.from_pretrained(out / "encoder")
    assert cfg.hidden_size == 32 and cfg.num_hidden_layers == 2  # the test's checkpoint, not the shipped one


def test_bf16_fine_tuning_learns_and_keeps_fp32_weights(tiny_checkpoint: Path) -> None:
    from training.text.finetune import FitSettings, encode, fit_classifier, load_pretrained

    model, tok = load_pretrained(tiny_checkpoint, labels=["ok", "complaint"])
    texts = [NEG, POS, "假货，退货", "好评，很棒"] * 30
    y = np.array([1, 0, 1, 0] * 30)
    ids = encode(tok, texts, 32)
    settings = FitSettings(epochs=10.0, lr=3e-3, eval_every=10, tokens_per_batch=256, precision="bf16")
    fit = fit_classifier(model, ids[:100], y[:100], ids[100:], y[100:], settings=settings)
    assert fit.precision == "bf16"
    assert fit.best_metric == 1.0  # minimum functionality: the toy task is learnt under autocast
    assert all(p.dtype == torch.float32 for p in model.parameters())  # only the steps ran in bf16


def test_the_new_classification_head_is_drawn_from_the_seed(tiny_checkpoint: Path) -> None:
    from training.text.finetune import load_pretrained

    def head(seed: int) -> list[np.ndarray]:
        torch.manual_seed(1000 + seed)  # whatever the generator held before, the seed decides
        model, _ = load_pretrained(tiny_checkpoint, labels=["ok", "complaint"], seed=seed)
        return [p.detach().numpy().copy() for n, p in model.named_parameters() if "classifier" in n]

    a, b, c = head(3), head(3), head(4)
    assert a and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_hybrid_weight_is_chosen_on_the_data_given() -> None:
    y = np.array([1, 1, 0, 0])
    p_tx = np.array([0.9, 0.4, 0.1, 0.6])  # two mistakes
    p_lr = np.array([0.8, 0.9, 0.2, 0.1])  # none
    w, acc = choose_hybrid_weight(p_tx, p_lr, y)
    assert acc == 1.0 and w < 1.0
    w2, acc2 = choose_hybrid_weight(p_lr, p_tx, y)
    assert w2 == 1.0 and acc2 == 1.0  # ties favour the first (transformer) side


def test_cli_scores_a_csv_it_has_never_seen(tiny_review_model: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_review_model
    src = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1, 2, 3, 4], "评论": [NEG, POS, NEG, ""]}).to_csv(src, index=False)
    dest = tmp_path / "scored.csv"
    res = CliRunner().invoke(
        app,
        ["reviews", "score", "--input", str(src), "--text-column", "评论", "--output", str(dest), "--model", str(out)],
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(dest)
    assert list(got.columns) == ["id", "评论", "complaint_prob"]
    assert got["complaint_prob"][:3].between(0, 1).all()
    assert got["complaint_prob"][0] == pytest.approx(got["complaint_prob"][2])
    assert np.isnan(got["complaint_prob"][3])  # an empty review gets no probability


def test_cli_names_a_missing_column_and_lists_the_others(tiny_review_model: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_review_model
    src = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1], "text": [NEG]}).to_csv(src, index=False)
    res = CliRunner().invoke(
        app, ["reviews", "score", "--input", str(src), "--output", str(tmp_path / "o.csv"), "--model", str(out)]
    )
    assert res.exit_code != 0
    assert "'review'" in res.output and "id, text" in res.output
    assert not (tmp_path / "o.csv").exists()


def test_cli_errors_clearly_without_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "reviews.csv"
    pd.DataFrame({"review": [NEG]}).to_csv(src, index=False)
    res = CliRunner().invoke(
        app,
        [
            "reviews",
            "score",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "o.csv"),
            "--model",
            str(tmp_path / "nope"),
        ],
    )
    assert res.exit_code != 0
    assert "no review model" in res.output


def test_score_store_is_shared_across_processes_and_keyed_by_model(
    tiny_review_model: tuple[Path, dict], tmp_path: Path
) -> None:
    import shutil

    from models.review_cache import CachedReviewScorer, model_key, use_score_store

    out, _ = tiny_review_model
    texts = [NEG, POS, "还行吧", NEG]
    direct = ReviewModel.load(out, backend="onnx").predict_proba(texts)
    use_score_store(tmp_path / "store")
    try:
        first = CachedReviewScorer(ReviewModel.load(out, backend="onnx")).predict_proba(texts)
        np.testing.assert_array_equal(first, direct)
        assert len(list((tmp_path / "store").glob("*.sqlite"))) == 1

        # a new process (fresh memo) with the same model reads the store instead of running the encoder
        again = ReviewModel.load(out, backend="onnx")
        again.predict_proba = lambda _t: pytest.fail("the encoder ran for stored texts")  # type: ignore[method-assign]
        np.testing.assert_array_equal(CachedReviewScorer(again).predict_proba(texts), direct)

        # another backend, or another model folder's files, is another key: it never reads these scores
        assert model_key(ReviewModel.load(out, backend="torch")) != model_key(again)
        other = tmp_path / "other"
        shutil.copytree(out, other)
        meta = json.loads((other / META).read_text())
        (other / META).write_text(json.dumps({**meta, "hybrid_weight": 0.5}))
        assert model_key(ReviewModel.load(other, backend="onnx")) != model_key(again)
    finally:
        use_score_store(None)
