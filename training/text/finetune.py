"""Fine-tuning the pre-trained encoder into text classifiers, exporting them, and the review model run.

`fit_classifier` is the shared loop (single-label softmax or multi-label sigmoid), with length-bucketed
dynamic-padding batches, linear warm-up/decay, and model selection on a validation set (the best
validation state is kept). `save_text_model` writes the self-describing directory that
`models.text.inference` loads; `export_onnx` adds ONNX Runtime fp32 and dynamic-int8 variants.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from models.text.batching import bucket_batches
from models.text.config import resolve_path
from models.text.encoding import encode_texts
from models.text.inference import META, ONNX_FILES, Backend, TextClassifier
from models.text.precision import Precision, use_bf16
from models.text.tokenizer import load_tokenizer, normalizer_name
from training.text.tensors import pad_tensors

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, float], None]


def load_pretrained(
    pretrained: str | Path,
    *,
    labels: Sequence[str],
    multilabel: bool = False,
    seed: int | None = None,
) -> tuple[PreTrainedModel, Any]:
    """A sequence classifier on top of a local Hugging Face checkpoint directory, with its tokenizer.

    Works with the shipped MLM checkpoint, a fine-tuned one, or any local BERT-family directory. The
    classification head (and pooler, for an MLM checkpoint) is new and drawn from torch's generator:
    `seed` seeds it first, so the same seed gives the same starting model.
    """
    path = resolve_path(pretrained)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no Hugging Face checkpoint at {path} (config.json missing); build the shipped one with "
            "`choujian pretrain --config configs/pretrain.yaml` or pass --pretrained DIR"
        )
    tokenizer: Any
    if (path / "vocab.txt").is_file():
        tokenizer = load_tokenizer(path)
    else:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    id2label = dict(enumerate(labels))
    if seed is not None:
        torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(labels),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        problem_type="multi_label_classification" if multilabel else "single_label_classification",
        dtype=torch.float32,  # the shipped checkpoint stores fp16 weights; train in fp32
        local_files_only=True,
    )
    return model, tokenizer


@dataclass
class FitSettings:
    """Knobs of one fine-tuning run (a subset of `FinetuneConfig`, shared with the listing model)."""

    max_len: int = 128
    tokens_per_batch: int = 4096
    max_batch_size: int = 64
    epochs: float = 1.0
    lr: float = 2e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 200
    seed: int = 13
    num_threads: int = 2
    freeze_embeddings: bool = False
    precision: Precision = "fp32"  # the training steps' autocast (checks stay fp32)


@dataclass
class FitResult:
    """What `fit_classifier` learned and measured."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    best_metric: float = float("nan")
    steps: int = 0
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0
    train_tokens: int = 0
    precision: Precision = "fp32"  # what the steps actually ran in: fp32 or bf16


@torch.no_grad()
def predict_logits(
    model: PreTrainedModel, ids: Sequence[np.ndarray], *, tokens_per_batch: int = 8192, pad_id: int = 0
) -> np.ndarray:
    """Logits for pre-encoded sequences with the torch model (eval mode), in the input order."""
    was_training = model.training
    model.eval()
    k = int(model.config.num_labels or 0)
    out = np.zeros((len(ids), k), dtype=np.float32)
    for idx in bucket_batches([len(x) for x in ids], tokens_per_batch=tokens_per_batch, max_batch_size=512):
        input_ids, attn = pad_tensors([ids[i] for i in idx], value=pad_id)
        out[idx] = model(input_ids=input_ids, attention_mask=attn).logits.float().numpy()
    model.train(was_training)
    return out


def _metric(logits: np.ndarray, y: np.ndarray, multilabel: bool) -> tuple[float, float]:
    """(selection metric, log loss): accuracy for single-label, negative mean BCE for multi-label."""
    if multilabel:
        p = np.clip(1.0 / (1.0 + np.exp(-logits)), 1e-7, 1 - 1e-7)
        bce = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        return -bce, bce
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = float(-np.mean(logp[np.arange(len(y)), y]))
    return float(np.mean(logits.argmax(1) == y)), nll


def _trainable(model: PreTrainedModel, settings: FitSettings) -> tuple[torch.optim.Optimizer, list[Any]]:
    """AdamW over the trainable parameters (embeddings frozen when asked), decay on weight matrices only."""
    if settings.freeze_embeddings:
        embeddings: Any = model.get_input_embeddings()
        for p in embeddings.parameters():
            p.requires_grad_(False)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2 and "LayerNorm" not in n]
    no_decay = [p for n, p in params if not (p.ndim >= 2 and "LayerNorm" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr,
    )
    return opt, [p for _, p in params]


def _linear_schedule(lr: float, *, total: int, warmup: int) -> Callable[[int], float]:
    """Linear warm-up to `lr`, then linear decay to 0 at `total` steps."""

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / max(1, warmup)
        return lr * max(0.0, (total - step) / max(1, total - warmup))

    return lr_at


@dataclass
class _BestCheck:
    """Validation checks during fine-tuning: the history, and the weights of the best step so far."""

    model: PreTrainedModel
    val_ids: Sequence[np.ndarray]
    val_y: np.ndarray
    multilabel: bool
    pad_id: int
    total: int
    result: FitResult
    t0: float = field(default_factory=time.time)
    best_state: dict[str, torch.Tensor] | None = None

    def __call__(self, step: int, train_loss: float) -> None:
        logits = predict_logits(self.model, self.val_ids, pad_id=self.pad_id)
        metric, loss = _metric(logits, self.val_y, self.multilabel)
        self.result.history.append(
            {
                "step": step,
                "train_loss": train_loss,
                "val_metric": metric,
                "val_loss": loss,
                "seconds": time.time() - self.t0,
            }
        )
        logger.info(
            "step %d/%d: train loss %.4f, validation %s %.4f (loss %.4f)",
            step,
            self.total,
            train_loss,
            "neg-BCE" if self.multilabel else "accuracy",
            metric,
            loss,
        )
        if self.best_state is None or metric > self.result.best_metric:
            self.result.best_metric, self.result.best_step = metric, step
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def fit_classifier(
    model: PreTrainedModel,
    train_ids: Sequence[np.ndarray],
    train_y: np.ndarray,
    val_ids: Sequence[np.ndarray],
    val_y: np.ndarray,
    *,
    settings: FitSettings,
    multilabel: bool = False,
    pad_id: int = 0,
    progress: ProgressFn | None = None,
) -> FitResult:
    """Fine-tune `model` in place; keeps the state with the best validation metric."""
    torch.set_num_threads(settings.num_threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    lengths = np.fromiter((len(x) for x in train_ids), dtype=np.int64, count=len(train_ids))

    def epoch() -> list[np.ndarray]:
        return list(
            bucket_batches(
                lengths, tokens_per_batch=settings.tokens_per_batch, max_batch_size=settings.max_batch_size, rng=rng
            )
        )

    batches = epoch()
    total = max(1, int(round(len(batches) * settings.epochs)))
    lr_at = _linear_schedule(settings.lr, total=total, warmup=int(total * settings.warmup_ratio))
    opt, params = _trainable(model, settings)
    y_t = torch.as_tensor(train_y, dtype=torch.float32 if multilabel else torch.long)
    bf16 = use_bf16(settings.precision)
    result = FitResult(precision="bf16" if bf16 else "fp32")
    check = _BestCheck(model, val_ids, val_y, multilabel, pad_id, total, result)
    cpu0 = time.process_time()
    step, running, n_run = 0, 0.0, 0
    model.train()
    while step < total:
        idx = (batches or (batches := epoch())).pop(0)
        input_ids, attn = pad_tensors([train_ids[i] for i in idx], value=pad_id)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=input_ids, attention_mask=attn, labels=y_t[idx])
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        opt.step()
        step += 1
        result.train_tokens += int(attn.sum().item())
        running += float(out.loss.detach())
        n_run += 1
        if progress is not None:
            progress(step, total, float(out.loss.detach()))
        if step % settings.eval_every == 0 or step == total:
            check(step, running / max(1, n_run))
            running, n_run = 0.0, 0
    if check.best_state is not None:
        model.load_state_dict(check.best_state)
    model.eval()
    result.steps = step
    result.train_seconds = time.time() - check.t0
    result.cpu_seconds = time.process_time() - cpu0
    logger.info(
        "fine-tuned %d steps (%s) in %.0f s; best validation at step %d (%.4f)",
        step,
        result.precision,
        result.train_seconds,
        result.best_step,
        result.best_metric,
    )
    return result


def save_text_model(
    model: PreTrainedModel,
    tokenizer: Any,
    out: str | Path,
    *,
    meta: dict[str, Any],
) -> Path:
    """Write the directory `TextClassifier` loads: `encoder/` (weights, config with id2label, tokenizer,
    vocab.txt) and `text_model.json` (backend, mode, labels, max_len, metrics, provenance)."""
    import shutil

    from core.paths import VOCAB_TXT

    out = Path(out)
    enc = out / "encoder"
    enc.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(enc, safe_serialization=True)
    tokenizer.save_pretrained(enc)
    if not (enc / "vocab.txt").is_file():
        shutil.copyfile(VOCAB_TXT, enc / "vocab.txt")
    write_meta(out, meta)
    return out


def write_meta(out: str | Path, meta: dict[str, Any]) -> None:
    """(Re)write `text_model.json` with the versions and normaliser that produced the model."""
    import transformers

    full = {
        "normalizer": normalizer_name(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        **meta,
    }
    (Path(out) / META).write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def export_onnx(out: str | Path, *, quantize: bool = True, opset: int = 17) -> dict[str, Path]:
    """Export `out/encoder` to `out/model.onnx` and (optionally) dynamic-int8 `out/model.int8.onnx`."""
    out = Path(out)
    model = AutoModelForSequenceClassification.from_pretrained(
        out / "encoder", dtype=torch.float32, local_files_only=True, attn_implementation="eager"
    ).eval()
    model.config.return_dict = False

    class _Logits(torch.nn.Module):
        def __init__(self, inner: PreTrainedModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    dummy = torch.tensor([[101, 6574, 7030, 1922, 2345, 102], [101, 1962, 102, 0, 0, 0]])
    mask = (dummy != 0).long()
    fp32 = out / ONNX_FILES["onnx"]
    # the TorchScript-based exporter: torch 2.13's default (dynamo) exporter needs onnxscript
    torch.onnx.export(
        _Logits(model),
        (dummy, mask),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "logits": {0: "batch"},
        },
        opset_version=opset,
        do_constant_folding=True,
        dynamo=False,
    )
    files = {"onnx": fp32}
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = out / ONNX_FILES["onnx-int8"]
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        files["onnx-int8"] = int8
    return files


def measure_backends(
    out: str | Path,
    texts: Sequence[str],
    y: np.ndarray,
    *,
    backends: Sequence[Backend],
    threads: int = 2,
) -> dict[str, dict[str, float]]:
    """Accuracy (argmax of a single-label model) and throughput of each backend on the same texts."""
    res: dict[str, dict[str, float]] = {}
    for b in backends:
        clf = TextClassifier(out, backend=b, threads=threads)
        t = time.perf_counter()
        logits = clf.logits(texts)
        dt = time.perf_counter() - t
        res[b] = {"accuracy": float(np.mean(logits.argmax(1) == y)), "texts_per_second": len(texts) / dt, "seconds": dt}
        logger.info("backend %s: accuracy %.4f, %.0f texts/s", b, res[b]["accuracy"], len(texts) / dt)
    return res


def encode(tokenizer: Any, texts: Sequence[str], max_len: int) -> list[np.ndarray]:
    """Encode already-normalised texts (see `encode_texts`)."""
    return encode_texts(texts, tokenizer, max_len=max_len, normalized=True)
