"""The review complaint model run: baseline, fine-tuning, hybrid, export, honest evaluation.

Label: 1 = the review reports a bad experience (a complaint), i.e. the corpus's label 0. Data: the
official split of online_shopping_10_cats (or of waimai_10k, `corpus: waimai`); validation is carved out of train
(`training.corpus.validation_split`) and is the only data any choice is made on (best step, hybrid
weight, backend); the test split is scored once, at the end, for the report.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.text.config import FinetuneConfig, resolve_path
from models.text.inference import BACKENDS, META, Backend, ReviewModel, save_ngram, transformer_needed
from models.text.ngram import fit_ngram_baseline, fit_ngram_partner
from models.text.tokenizer import prepare_texts
from training.text.finetune import (
    FitSettings,
    ProgressFn,
    encode,
    export_onnx,
    fit_classifier,
    load_pretrained,
    measure_backends,
    predict_logits,
    save_text_model,
    write_meta,
)
from training.text.pretrain import fingerprint

logger = logging.getLogger(__name__)

LABELS = ("ok", "complaint")


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of complaint probabilities `p` at the 0.5 threshold."""
    return float(np.mean((p >= 0.5) == y))


def choose_hybrid_weight(p_tx: np.ndarray, p_lr: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Blend weight of the transformer (1.0 down to 0.05, step 0.05: the transformer always takes part)
    with the best validation accuracy; ties go to the larger transformer weight.
    Returns (weight, validation accuracy)."""
    best_w, best_acc = 1.0, -1.0
    for w in np.round(np.linspace(1.0, 0.05, 20), 2):
        acc = _accuracy(w * p_tx + (1 - w) * p_lr, y)
        if acc > best_acc + 1e-12:
            best_w, best_acc = float(w), acc
    return best_w, best_acc


def _band_share(p_ngram: np.ndarray, weight: float) -> float:
    """Share of texts on which a cascaded hybrid runs its transformer (`transformer_needed`)."""
    return float(np.mean(transformer_needed(p_ngram, weight))) if len(p_ngram) else 0.0


def checkpoint_md5(path: str | Path) -> str:
    """md5 of a checkpoint directory's weight files (names and bytes), to tell when it has changed."""
    import hashlib

    h = hashlib.md5()
    files = sorted(f for f in Path(path).iterdir() if f.is_file() and f.suffix in (".safetensors", ".bin"))
    if not files:
        raise FileNotFoundError(f"no weights (*.safetensors, *.bin) in the checkpoint directory {path}")
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            h.update(hashlib.file_digest(fh, "md5").digest())
    return h.hexdigest()


def stale_reason(model_dir: str | Path, config: FinetuneConfig, pretrained: str | Path | None = None) -> str | None:
    """Why the review model in `model_dir` is not what `train_review_model(config, pretrained=...)` would make
    now (None when it is): missing, another config, or another pre-trained checkpoint (by its weights' md5)."""
    meta_path = Path(model_dir) / META
    if not meta_path.is_file():
        return f"no review model in {model_dir}"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("config") != config.model_dump(mode="json"):
        return "it was fine-tuned with another config"
    src = resolve_path(pretrained or config.pretrained)
    if meta.get("pretrained_md5") != checkpoint_md5(src):
        return f"the pre-trained checkpoint {src} has changed since"
    if "test" not in meta.get("metrics", {}):
        return "it was saved without its test-split score"
    return None


def review_data(
    config: FinetuneConfig, *, max_test_texts: int | None = None
) -> dict[str, tuple[list[str], np.ndarray]]:
    """Normalised texts and complaint labels for train / validation (all of it) / test (official split) of
    the config's corpus."""
    from training.corpus import load_reviews, validation_split

    train_df, val_df = validation_split(load_reviews(config.corpus, "train"), share=config.validation_share)
    test_df = load_reviews(config.corpus, "test")
    if config.max_train_texts is not None and len(train_df) > config.max_train_texts:
        train_df = train_df.sample(n=config.max_train_texts, random_state=config.seed)
    if max_test_texts is not None and len(test_df) > max_test_texts:
        test_df = test_df.sample(n=max_test_texts, random_state=config.seed)
    out = {}
    for name, df in (("train", train_df), ("validation", val_df), ("test", test_df)):
        out[name] = (prepare_texts(df["review"]), (1 - df["label"].to_numpy()).astype(np.int64))
    return out


Data = dict[str, tuple[list[str], np.ndarray]]


@dataclass
class _Ngrams:
    """The n-gram baseline and the hybrid's partner (the baseline itself, or the stronger NB-LR)."""

    baseline: Any
    partner: Any
    p_baseline_val: np.ndarray
    p_partner_val: np.ndarray
    baseline_seconds: float
    partner_seconds: float
    refit_seconds: float = 0.0


@dataclass
class _FineTuned:
    """The fine-tuned transformer and what validation says of it."""

    model: Any
    tokenizer: Any
    max_len: int
    fit: Any  # FitResult
    check: np.ndarray  # the validation rows the best-step checks read
    p_val: np.ndarray


def _fit_ngrams(config: FinetuneConfig, data: Data) -> _Ngrams:
    """Fit the baseline, and the partner when the hybrid wants a stronger one; score validation."""
    tr_x, tr_y = data["train"]
    va_x, va_y = data["validation"]

    def fit_one(name: str, fit: Any) -> tuple[Any, np.ndarray, float]:
        t = time.time()
        m = fit(tr_x, tr_y)
        seconds = time.time() - t
        p_val = m.predict_proba(va_x)[:, 1]
        logger.info("n-gram %s fitted in %.0f s, validation accuracy %.4f", name, seconds, _accuracy(p_val, va_y))
        return m, p_val, seconds

    baseline, p_lr_val, lr_seconds = fit_one("baseline", lambda x, y: fit_ngram_baseline(x, y, config.baseline))
    if not (config.hybrid and config.partner.kind != "baseline"):
        return _Ngrams(baseline, baseline, p_lr_val, p_lr_val, lr_seconds, 0.0)
    partner, p_partner_val, partner_seconds = fit_one(
        f"partner ({config.partner.kind})", lambda x, y: fit_ngram_partner(x, y, config.partner)
    )
    return _Ngrams(baseline, partner, p_lr_val, p_partner_val, lr_seconds, partner_seconds)


def _fit_settings(config: FinetuneConfig, max_len: int) -> FitSettings:
    return FitSettings(
        max_len=max_len,
        tokens_per_batch=config.tokens_per_batch,
        max_batch_size=config.max_batch_size,
        epochs=config.epochs,
        lr=config.lr,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
        eval_every=config.eval_every,
        seed=config.seed,
        num_threads=config.num_threads,
        freeze_embeddings=config.freeze_embeddings,
        precision=config.precision,
    )


def _fine_tune(config: FinetuneConfig, src: Path, data: Data, progress: ProgressFn | None) -> _FineTuned:
    """Fine-tune the pre-trained encoder; keep its best step on (a fixed sample of) validation."""
    import torch

    tr_x, tr_y = data["train"]
    va_x, va_y = data["validation"]
    model, tokenizer = load_pretrained(src, labels=LABELS, seed=config.seed)
    max_len = min(config.max_len, int(model.config.max_position_embeddings))
    pad_id = int(tokenizer.pad_token_id or 0)
    tr_ids, va_ids = encode(tokenizer, tr_x, max_len), encode(tokenizer, va_x, max_len)
    # the checks during fine-tuning (best step) read a fixed sample, to bound their time; the hybrid
    # weight and the backend are chosen on the whole validation part, where a 0.1-point difference is
    # tens of reviews rather than two
    check = np.arange(len(va_x))
    if config.max_val_texts is not None and len(check) > config.max_val_texts:
        check = np.sort(np.random.default_rng(config.seed).choice(len(check), config.max_val_texts, replace=False))
    fit = fit_classifier(
        model,
        tr_ids,
        tr_y,
        [va_ids[i] for i in check],
        va_y[check],
        settings=_fit_settings(config, max_len),
        pad_id=pad_id,
        progress=progress,
    )
    logits_val = predict_logits(model, va_ids, pad_id=pad_id)
    p_val = torch.softmax(torch.from_numpy(logits_val), dim=1)[:, 1].numpy()
    return _FineTuned(model, tokenizer, max_len, fit, check, p_val)


def _model_meta(
    config: FinetuneConfig, tuned: _FineTuned, *, src: Path, pretrained: str | Path | None, command: str | None
) -> dict[str, Any]:
    """What the model directory says of itself (the transformer alone, until the choices are made)."""
    return {
        "kind": "review_complaint",
        "labels": list(LABELS),
        "positive_label": "complaint",
        "multilabel": False,
        "max_len": tuned.max_len,
        "inference_tokens_per_batch": 8192,
        "backend": "torch",
        "mode": "transformer",
        "hybrid_weight": 1.0,
        "ngram_partner": config.partner.kind if config.hybrid else None,
        "pretrained": str(pretrained or config.pretrained),
        "pretrained_md5": checkpoint_md5(src),
        "config": config.model_dump(mode="json"),
        "command": command,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _choose_backend(
    config: FinetuneConfig, tmp: Path, texts: list[str], y: np.ndarray
) -> tuple[Backend, list[Backend], dict[str, dict[str, float]]]:
    """Export to ONNX when asked, measure each backend on validation, pick the fastest that keeps accuracy."""
    exported: list[Backend] = ["torch"]
    if config.export in ("auto", "onnx", "onnx-int8"):
        t = time.time()
        export_onnx(tmp, quantize=config.export in ("auto", "onnx-int8"))
        exported.append("onnx")
        if config.export in ("auto", "onnx-int8"):
            exported.append("onnx-int8")
        logger.info("exported ONNX in %.0f s", time.time() - t)
    measured = measure_backends(tmp, texts, y, backends=exported, threads=config.num_threads)
    if config.export != "auto":
        return config.export, exported, measured
    ref = measured["torch"]["accuracy"]
    ok = [b for b in exported if measured[b]["accuracy"] >= ref - config.export_tolerance]
    return max(ok, key=lambda b: measured[b]["texts_per_second"]), exported, measured


def _refit_ngrams(config: FinetuneConfig, ng: _Ngrams, data: Data, *, evaluate_test: bool) -> _Ngrams:
    """Every choice is made: the n-gram models learn from validation too (the transformer keeps its best step)."""
    t = time.time()
    (tr_x, tr_y), (va_x, va_y) = data["train"], data["validation"]
    all_x, all_y = [*tr_x, *va_x], np.concatenate([tr_y, va_y])
    baseline, partner = ng.baseline, ng.partner
    if partner is baseline:
        partner = baseline = fit_ngram_baseline(all_x, all_y, config.baseline)
    else:
        partner = fit_ngram_partner(all_x, all_y, config.partner)
        if evaluate_test:  # the baseline it is compared with learns from the same texts
            baseline = fit_ngram_baseline(all_x, all_y, config.baseline)
    seconds = time.time() - t
    logger.info("n-gram models refitted on train + validation (%d texts) in %.0f s", len(all_x), seconds)
    return replace(ng, baseline=baseline, partner=partner, refit_seconds=seconds)


def _test_metrics(
    config: FinetuneConfig,
    tmp: Path,
    ng: _Ngrams,
    data: Data,
    *,
    weight: float,
    chosen: Backend,
    backends: list[Backend],
    cascade: bool,
) -> dict[str, Any]:
    """Score the official test split once: the baselines, each backend's transformer and hybrid, and the
    shipped model's own `predict_proba` (cascade included), which is the reported accuracy."""
    te_x, te_y = data["test"]
    p_lr_te = ng.baseline.predict_proba(te_x)[:, 1]
    p_partner_te = p_lr_te if ng.partner is ng.baseline else ng.partner.predict_proba(te_x)[:, 1]
    test: dict[str, Any] = {
        "baseline_accuracy": _accuracy(p_lr_te, te_y),
        "partner_accuracy": _accuracy(p_partner_te, te_y),
    }
    loaded: dict[str, ReviewModel] = {}
    for b in backends:
        rm = loaded[b] = ReviewModel(tmp, backend=b, threads=config.num_threads)
        t = time.perf_counter()
        p_tx = rm.predict_proba_transformer(te_x)
        dt = time.perf_counter() - t
        test[b] = {
            "transformer_accuracy": _accuracy(p_tx, te_y),
            "hybrid_accuracy": _accuracy(weight * p_tx + (1 - weight) * p_partner_te, te_y),
            "texts_per_second": len(te_x) / dt,
        }
        logger.info(
            "test [%s]: transformer %.4f, hybrid %.4f, baseline %.4f (%.0f texts/s)",
            b,
            test[b]["transformer_accuracy"],
            test[b]["hybrid_accuracy"],
            test["baseline_accuracy"],
            test[b]["texts_per_second"],
        )
    test["transformer_accuracy"] = test[chosen]["transformer_accuracy"]
    test["hybrid_accuracy"] = test[chosen]["hybrid_accuracy"]
    t = time.perf_counter()
    p_shipped = loaded[chosen].predict_proba(te_x)
    test["texts_per_second"] = len(te_x) / (time.perf_counter() - t)
    test["accuracy"] = _accuracy(p_shipped, te_y)
    test["transformer_share"] = _band_share(p_partner_te, weight) if cascade else 1.0
    logger.info(
        "test, shipped model [%s%s]: accuracy %.4f, %.0f texts/s, transformer run on %.1f%% of texts",
        chosen,
        ", cascade" if cascade else "",
        test["accuracy"],
        test["texts_per_second"],
        100 * test["transformer_share"],
    )
    return test


def _install(tmp: Path, out: Path, meta: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Write the final metadata and metrics, then replace `out` with the finished directory."""
    meta["metrics"] = metrics
    write_meta(tmp, meta)
    (tmp / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def _choose_mode(
    config: FinetuneConfig, p_val: np.ndarray, p_partner_val: np.ndarray, va_y: np.ndarray
) -> tuple[float, float, float, str]:
    """Validation accuracies (transformer, hybrid), the hybrid's transformer weight and the mode they pick."""
    acc_tx_val = _accuracy(p_val, va_y)
    w, acc_hybrid_val = choose_hybrid_weight(p_val, p_partner_val, va_y)
    mode = "hybrid" if config.hybrid and w < 1.0 and acc_hybrid_val > acc_tx_val else "transformer"
    logger.info(
        "validation: transformer %.4f, hybrid %.4f (transformer weight %.2f) -> mode %s",
        acc_tx_val,
        acc_hybrid_val,
        w,
        mode,
    )
    return acc_tx_val, acc_hybrid_val, w, mode


def _train_metrics(
    config: FinetuneConfig,
    tuned: _FineTuned,
    ng: _Ngrams,
    data: Data,
    *,
    accuracies: tuple[float, float],
    weight: float,
    chosen: str,
    mode: str,
    cascade: bool,
    backends_val: Any,
) -> dict[str, Any]:
    """The run's metrics before the test split: data sizes and fingerprints, fine-tuning, validation."""
    (tr_x, _), (va_x, va_y), (te_x, _) = data["train"], data["validation"], data["test"]
    acc_tx_val, acc_hybrid_val = accuracies
    w, check, fit = weight, tuned.check, tuned.fit
    return {
        "n_train": len(tr_x),
        "n_validation": len(va_x),
        "n_test": len(te_x),
        "data_md5": {"train": fingerprint(tr_x), "validation": fingerprint(va_x), "test": fingerprint(te_x)},
        "fine_tune": {
            "steps": fit.steps,
            "best_step": fit.best_step,
            "seconds": fit.train_seconds,
            "cpu_seconds": fit.cpu_seconds,
            "precision": fit.precision,
            "train_tokens": fit.train_tokens,
            "history": fit.history,
        },
        "baseline_seconds": ng.baseline_seconds,
        "partner_seconds": ng.partner_seconds,
        "ngram_refit": {"texts": len(tr_x) + len(va_x), "seconds": ng.refit_seconds} if config.refit_ngram else None,
        "validation": {
            "transformer_accuracy": acc_tx_val,
            "hybrid_accuracy": acc_hybrid_val,
            "baseline_accuracy": _accuracy(ng.p_baseline_val, va_y),
            "partner_accuracy": _accuracy(ng.p_partner_val, va_y),
            "hybrid_weight": w,
            "transformer_share": _band_share(ng.p_partner_val, w) if cascade else 1.0,
            "backends": backends_val,
            "checks_on": len(check),
        },
        "backend": chosen,
        "mode": mode,
        "cascade": cascade,
    }


def train_review_model(
    config: FinetuneConfig,
    out: str | Path,
    *,
    pretrained: str | Path | None = None,
    evaluate_test: bool = True,
    test_all_backends: bool = False,
    max_test_texts: int | None = None,
    command: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Fine-tune the complaint classifier, pick hybrid weight and backend on validation, save to `out`
    (replaced if it exists), score the official test split; returns the metrics (also in the directory)."""
    import torch

    t_start, cpu_start = time.time(), time.process_time()
    torch.set_num_threads(config.num_threads)
    out = Path(out)
    src = resolve_path(pretrained or config.pretrained)
    data = review_data(config, max_test_texts=max_test_texts)
    (tr_x, _), (va_x, va_y), (te_x, _) = data["train"], data["validation"], data["test"]
    logger.info("reviews: %d train, %d validation, %d test", len(tr_x), len(va_x), len(te_x))

    ng = _fit_ngrams(config, data)
    tuned = _fine_tune(config, src, data, progress)
    acc_tx_val, acc_hybrid_val, w, mode = _choose_mode(config, tuned.p_val, ng.p_partner_val, va_y)

    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    meta = _model_meta(config, tuned, src=src, pretrained=pretrained, command=command)
    save_text_model(tuned.model, tuned.tokenizer, tmp, meta=meta)
    check = tuned.check
    chosen, exported, backends_val = _choose_backend(config, tmp, [va_x[i] for i in check], va_y[check])
    cascade = mode == "hybrid" and config.cascade
    if config.refit_ngram:
        ng = _refit_ngrams(config, ng, data, evaluate_test=evaluate_test)
    save_ngram(ng.partner, tmp)  # the hybrid's n-gram component, written once its fit is final
    meta.update({"backend": chosen, "mode": mode, "hybrid_weight": w if mode == "hybrid" else 1.0, "cascade": cascade})

    metrics = _train_metrics(
        config,
        tuned,
        ng,
        data,
        accuracies=(acc_tx_val, acc_hybrid_val),
        weight=w,
        chosen=chosen,
        mode=mode,
        cascade=cascade,
        backends_val=backends_val,
    )
    if evaluate_test:
        write_meta(tmp, meta)  # the test scores the directory as it will ship
        backends = [b for b in (BACKENDS if test_all_backends else (chosen,)) if b in exported]
        metrics["test"] = _test_metrics(
            config, tmp, ng, data, weight=w, chosen=chosen, backends=backends, cascade=cascade
        )
    metrics["wall_seconds"] = time.time() - t_start
    metrics["cpu_seconds"] = time.process_time() - cpu_start
    _install(tmp, out, meta, metrics)
    logger.info("review model saved to %s (%s, %s) in %.0f s", out, mode, chosen, metrics["wall_seconds"])
    return metrics
