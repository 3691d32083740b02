"""Masked-language-model pre-training of a compact BERT-style encoder from scratch.

Only the corpora's *train* splits are read (the official test split is never seen). Long reviews are
cut into windows of `max_len` tokens rather than truncated. With whole-word masking the words come from
the project's jieba segmenter and all characters of a chosen word are masked together. The MLM head is
applied only at masked positions, which is most of the speed on CPU (21128-way softmax per token
otherwise). A usable checkpoint (weights, tokenizer, config, PROVENANCE.json, README.md) is written every
`checkpoint_every` steps, atomically, so stopping the run at any time leaves a consistent directory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerBase

from core.paths import VOCAB_TXT
from models.text.batching import bucket_batches
from models.text.config import PretrainConfig, resolve_path
from models.text.precision import use_bf16
from models.text.tokenizer import VOCAB_SIZE, load_tokenizer, normalizer_name, prepare_texts
from training.text.tensors import pad_tensors

logger = logging.getLogger(__name__)

#: token ids of bert-base-chinese's special tokens
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103
#: first id that is a real token (0..99 are [PAD] and [unused*], 100..104 specials)
FIRST_REAL_ID = 104

ProgressFn = Callable[[int, int, float], None]


def corpus_texts(config: PretrainConfig) -> list[str]:
    """The pre-training texts, in a fixed order: the train splits of the named corpora plus extra files."""
    from training.corpus import load_shopping_reviews, load_waimai_reviews

    raw: list[str] = []
    if "shopping" in config.corpora:
        raw.extend(load_shopping_reviews("train")["review"].tolist())
    if "waimai" in config.corpora:
        raw.extend(load_waimai_reviews("train")["review"].tolist())
    for path in config.extra_texts:
        raw.extend(resolve_path(path).read_text(encoding="utf-8").splitlines())
    if config.max_texts is not None and len(raw) > config.max_texts:
        keep = np.sort(np.random.default_rng(config.seed).choice(len(raw), config.max_texts, replace=False))
        raw = [raw[i] for i in keep]
    texts = [t for t in prepare_texts(raw) if t]
    # exact duplicates (across corpora or files) would only be seen twice as often
    return list(dict.fromkeys(texts))


def fingerprint(texts: Sequence[str]) -> str:
    """md5 of the training texts, newline-joined in training order."""
    h = hashlib.md5()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


@dataclass
class Encoded:
    """Token windows with, per token, the index of the word it belongs to (-1 for [CLS]/[SEP])."""

    ids: list[np.ndarray]
    words: list[np.ndarray]

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))


def encode_windows(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_len: int,
    whole_words: bool,
) -> Encoded:
    """Tokenise texts into windows of at most `max_len` tokens ([CLS] ... [SEP]) with word indices."""
    segmenter = None
    if whole_words:
        from features.segment import Segmenter

        segmenter = Segmenter()
    body = max_len - 2
    ids_out: list[np.ndarray] = []
    words_out: list[np.ndarray] = []
    chunk = 2048
    for start in range(0, len(texts), chunk):
        part = list(texts[start : start + chunk])
        enc = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        cuts = segmenter.cut_many(part) if segmenter is not None else None
        for k, (ids, offsets) in enumerate(zip(enc["input_ids"], enc["offset_mapping"], strict=True)):
            if not ids:
                continue
            starts = np.fromiter((o[0] for o in offsets), dtype=np.int64, count=len(offsets))
            if cuts is not None:
                word_starts = np.cumsum([0] + [len(w) for w in cuts[k]])[:-1]
                word_ids = np.searchsorted(word_starts, starts, side="right") - 1
            else:
                word_ids = np.arange(len(ids))
            arr = np.asarray(ids, dtype=np.int32)
            for w0 in range(0, len(arr), body):
                win_w = word_ids[w0 : w0 + body]
                win_w = win_w - win_w.min()
                ids_out.append(np.concatenate([[CLS_ID], arr[w0 : w0 + body], [SEP_ID]]).astype(np.int32))
                words_out.append(np.concatenate([[-1], win_w, [-1]]).astype(np.int32))
    return Encoded(ids_out, words_out)


def mask_tokens(
    ids: torch.Tensor,
    words: torch.Tensor,
    *,
    mask_prob: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking by word: each word is chosen with `mask_prob`; of its tokens 80% become [MASK],
    10% a random token, 10% stay. Returns (inputs, boolean mask of the positions to predict)."""
    rows = ids.shape[0]
    n_words = int(words.max().item()) + 1 if words.numel() else 0
    chosen_word = torch.rand((rows, max(n_words, 1)), generator=generator) < mask_prob
    masked = (words >= 0) & chosen_word.gather(1, words.clamp(min=0).long())
    if not bool(masked.any()):
        # a batch of one-word texts can draw no mask at all: predict one token per row instead
        first = torch.zeros_like(masked)
        first[:, 1] = words[:, 1] >= 0
        masked = first
    roll = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[masked & (roll < 0.8)] = MASK_ID
    rand_pos = masked & (roll >= 0.8) & (roll < 0.9)
    inputs[rand_pos] = torch.randint(FIRST_REAL_ID, VOCAB_SIZE, (int(rand_pos.sum().item()),), generator=generator)
    return inputs, masked


def load_init_model(config: PretrainConfig) -> tuple[BertForMaskedLM, dict[str, Any] | None]:
    """The checkpoint `config.init_from` to continue from, checked against the configured shape, and its
    provenance (None if it has no PROVENANCE.json)."""
    assert config.init_from is not None
    src = resolve_path(config.init_from)
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"init_from: no checkpoint (config.json) in {src}")
    model = BertForMaskedLM.from_pretrained(src, dtype=torch.float32)
    got, want = model.config, config.model
    pairs = {
        "hidden_size": (got.hidden_size, want.hidden_size),
        "num_layers": (got.num_hidden_layers, want.num_layers),
        "num_heads": (got.num_attention_heads, want.num_heads),
        "intermediate_size": (got.intermediate_size, want.intermediate_size),
        "max_len": (got.max_position_embeddings, want.max_len),
        "vocab_size": (got.vocab_size, VOCAB_SIZE),
    }
    wrong = {k: v for k, v in pairs.items() if v[0] != v[1]}
    if wrong:
        detail = ", ".join(f"{k} {a} in the checkpoint, {b} configured" for k, (a, b) in wrong.items())
        raise ValueError(f"init_from {src} does not match the configured encoder: {detail}")
    prov = src / "PROVENANCE.json"
    return model, (json.loads(prov.read_text(encoding="utf-8")) if prov.is_file() else None)


def build_model(config: PretrainConfig) -> BertForMaskedLM:
    """A freshly initialised BertForMaskedLM of the configured size."""
    m = config.model
    bert_cfg = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=m.hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        intermediate_size=m.intermediate_size,
        max_position_embeddings=m.max_len,
        hidden_dropout_prob=m.dropout,
        attention_probs_dropout_prob=m.dropout,
        type_vocab_size=2,
        pad_token_id=PAD_ID,
    )
    return BertForMaskedLM(bert_cfg)


def mlm_loss(
    model: BertForMaskedLM, inputs: torch.Tensor, attn: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy at the masked positions only, and the number of correct predictions."""
    hidden = model.bert(input_ids=inputs, attention_mask=attn).last_hidden_state
    logits = model.cls(hidden[masked])
    gold = targets[masked]
    loss = torch.nn.functional.cross_entropy(logits, gold)
    correct = (logits.argmax(-1) == gold).sum()
    return loss, correct


def _lr_at(step: int, config: PretrainConfig) -> float:
    """Linear warm-up, then linear decay to 10% of the peak at the horizon (`lr_horizon_steps`)."""
    horizon = config.lr_horizon_steps or config.max_steps
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    frac = (step - config.warmup_steps) / max(1, horizon - config.warmup_steps)
    return config.lr * (1.0 - 0.9 * min(1.0, frac))


@torch.no_grad()
def evaluate_mlm(
    model: BertForMaskedLM, data: Encoded, *, mask_prob: float, seed: int, tokens_per_batch: int = 8192
) -> dict[str, float]:
    """MLM loss and accuracy on held-out windows with a fixed masking draw."""
    if not data.ids:
        return {}
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total_loss, total_correct, total_n = 0.0, 0, 0
    for idx in bucket_batches(data.lengths, tokens_per_batch=tokens_per_batch, max_batch_size=256):
        ids, attn = pad_tensors([data.ids[i] for i in idx], value=PAD_ID)
        words, _ = pad_tensors([data.words[i] + 1 for i in idx], value=0)
        inputs, masked = mask_tokens(ids, words - 1, mask_prob=mask_prob, generator=gen)
        loss, correct = mlm_loss(model, inputs, attn, ids, masked)
        n = int(masked.sum().item())
        total_loss += float(loss) * n
        total_correct += int(correct)
        total_n += n
    model.train(was_training)
    return {"loss": total_loss / total_n, "accuracy": total_correct / total_n, "masked_tokens": total_n}


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def save_checkpoint(
    model: BertForMaskedLM,
    tokenizer: PreTrainedTokenizerBase,
    out: Path,
    *,
    fp16: bool,
    provenance: dict[str, Any],
) -> None:
    """Write weights (safetensors), tokenizer, config, PROVENANCE.json and README.md atomically."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    to_save = copy.deepcopy(model).half() if fp16 else model
    to_save.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    # transformers 5 saves only tokenizer.json; vocab.txt keeps the directory loadable by `load_tokenizer`
    shutil.copyfile(VOCAB_TXT, tmp / "vocab.txt")
    provenance["checkpoint_bytes"] = _dir_size(tmp)
    (tmp / "PROVENANCE.json").write_text(json.dumps(provenance, ensure_ascii=False, indent=2) + "\n")
    (tmp / "README.md").write_text(_readme(provenance), encoding="utf-8")
    old = out.with_name(out.name + ".old")
    if out.exists():
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)


def provenance_chain(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages that made a checkpoint, first stage first: each continued the one before (`parent`)."""
    stages: list[dict[str, Any]] = []
    q: dict[str, Any] | None = provenance
    while q is not None:
        stages.insert(0, q)
        q = q.get("parent")
    return stages


def _readme(p: dict[str, Any]) -> str:
    curve = p.get("eval_curve") or []
    rows = "\n".join(
        f"| {c['step']} | {c['train_loss']:.3f} | {c.get('eval_loss', float('nan')):.3f} | "
        f"{c.get('eval_accuracy', float('nan')):.3f} |"
        for c in curve
    )
    m = p["config"]["model"]
    stages = provenance_chain(p)
    commands = "\n".join(f"    {s['command']}" for s in stages)
    how = (
        "one command (same config, same data, same seed)"
        if len(stages) == 1
        else (
            f"{len(stages)} commands, in order (each stage continues the checkpoint of the one before; same data, "
            "same seeds; earlier stages: "
            + "; ".join(f"{s['steps']} steps, held-out MLM loss {s['final_eval_loss']:.3f}" for s in stages[:-1])
            + ")"
        )
    )
    precision = p.get("precision", "fp32")
    return f"""# A compact Chinese BERT pre-trained from scratch

Masked-language model ({m["num_layers"]} layers, hidden {m["hidden_size"]}, {m["num_heads"]} heads,
intermediate {m["intermediate_size"]}, max {m["max_len"]} tokens, bert-base-chinese vocabulary of
{VOCAB_SIZE} tokens) pre-trained from scratch on the train splits of {", ".join(p["config"]["corpora"])}
({p["data"]["texts"]} texts, {p["data"]["windows"]} windows, {p["data"]["tokens"]} tokens; md5 of the
texts `{p["data"]["md5"]}`). Whole-word masking: {p["config"]["whole_word_masking"]}.

Rebuild with {how}:

{commands}

Status: {"complete" if p["completed"] else "partial"}: {p["steps"]} of {p["config"]["max_steps"]} steps in
{p["wall_seconds"]:.0f} s wall time on {p["threads"]} CPU threads, {precision} (torch {p["versions"]["torch"]},
transformers {p["versions"]["transformers"]}). Weights stored as {"fp16" if p["config"]["save_fp16"] else "fp32"};
load with `dtype=torch.float32`.

| step | train MLM loss | held-out MLM loss | held-out masked accuracy |
|---:|---:|---:|---:|
{rows}
"""


def _split_windows(config: PretrainConfig, data: Encoded, rng: np.random.Generator) -> tuple[Encoded, Encoded]:
    """Training windows and the held-out windows the MLM loss is reported on."""
    n_eval = min(config.eval_sequences, len(data.ids) // 10)
    perm = rng.permutation(len(data.ids))
    eval_idx, train_idx = perm[:n_eval], perm[n_eval:]
    eval_data = Encoded([data.ids[i] for i in eval_idx], [data.words[i] for i in eval_idx])
    train_data = Encoded([data.ids[i] for i in train_idx], [data.words[i] for i in train_idx])
    return train_data, eval_data


def _optimizer(model: BertForMaskedLM, config: PretrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on the weight matrices only (not on biases and LayerNorm)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "LayerNorm" not in n)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )


def _provenance(
    config: PretrainConfig,
    out: Path,
    *,
    command: str | None,
    texts: Sequence[str],
    md5: str,
    data: Encoded,
    n_eval: int,
    model: BertForMaskedLM,
    parent: dict[str, Any] | None,
    bf16: bool,
) -> dict[str, Any]:
    """How the checkpoint was made: command, config, data, versions, and its starting checkpoint."""
    return {
        "out": str(out),
        "command": command or "choujian pretrain --config configs/pretrain.yaml --out " + str(out),
        "config": config.model_dump(),
        "data": {
            "corpora_splits": dict.fromkeys(config.corpora, "train"),
            "extra_texts": config.extra_texts,
            "texts": len(texts),
            "md5": md5,
            "windows": len(data.ids),
            "tokens": int(data.lengths.sum()),
            "held_out_windows": n_eval,
        },
        "normalizer": normalizer_name(),
        "segmenter": "features.segment.Segmenter()" if config.whole_word_masking else None,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "threads": torch.get_num_threads(),
        "precision": "bf16 autocast" if bf16 else "fp32",
        "init_from": config.init_from,
        # what the starting checkpoint was made by (itself with its own `parent`, if it continued one)
        "parent": _parent_summary(parent),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


@dataclass
class _Run:
    """One pre-training run's state: the model and optimiser, where it is, and its curves."""

    config: PretrainConfig
    model: BertForMaskedLM
    tokenizer: Any
    opt: torch.optim.Optimizer
    train_data: Encoded
    eval_data: Encoded
    out: Path
    provenance: dict[str, Any]
    bf16: bool
    t0: float
    cpu0: float
    t_train: float = field(default_factory=time.time)
    step: int = 0
    tokens_seen: int = 0
    window_loss: float = 0.0
    window_n: int = 0
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    eval_curve: list[dict[str, float]] = field(default_factory=list)

    def train_step(self, idx: Sequence[int] | np.ndarray, gen: torch.Generator) -> float:
        """One optimiser step on the windows `idx`; returns the batch's MLM loss."""
        cfg = self.config
        ids, attn = pad_tensors([self.train_data.ids[i] for i in idx], value=PAD_ID)
        words, _ = pad_tensors([self.train_data.words[i] + 1 for i in idx], value=0)
        inputs, masked = mask_tokens(ids, words - 1, mask_prob=cfg.mask_prob, generator=gen)
        for g in self.opt.param_groups:
            g["lr"] = _lr_at(self.step, cfg)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss, _ = mlm_loss(self.model, inputs, attn, ids, masked)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.step += 1
        self.tokens_seen += int(attn.sum().item())
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise FloatingPointError(f"MLM loss became {lv} at step {self.step}")
        self.window_loss += lv
        self.window_n += 1
        return lv

    def log_window(self) -> None:
        """Close the current loss window: a point on the loss curve and a log line."""
        if not self.window_n:
            return
        self.loss_curve.append({"step": self.step, "loss": self.window_loss / self.window_n})
        elapsed = time.time() - self.t_train
        logger.info(
            "step %d/%d loss %.3f lr %.2e, %.0f tok/s, eta %.0f s",
            self.step,
            self.config.max_steps,
            self.window_loss / self.window_n,
            self.opt.param_groups[0]["lr"],
            self.tokens_seen / elapsed,
            elapsed / self.step * (self.config.max_steps - self.step),
        )
        self.window_loss, self.window_n = 0.0, 0

    def snapshot(self, *, completed: bool) -> None:
        """Evaluate on the held-out windows and save the checkpoint with its provenance so far."""
        cfg = self.config
        ev = evaluate_mlm(self.model, self.eval_data, mask_prob=cfg.mask_prob, seed=cfg.seed)
        recent = self.loss_curve[-1]["loss"] if self.loss_curve else float("nan")
        point = {
            "step": self.step,
            "train_loss": recent,
            "eval_loss": ev.get("loss", float("nan")),
            "eval_accuracy": ev.get("accuracy", float("nan")),
        }
        self.eval_curve.append(point)
        logger.info(
            "step %d: held-out MLM loss %.3f, masked accuracy %.3f",
            self.step,
            point["eval_loss"],
            point["eval_accuracy"],
        )
        self.provenance.update(
            {
                "completed": completed,
                "steps": self.step,
                "epochs": round(self.tokens_seen / max(1, int(self.train_data.lengths.sum())), 3),
                "tokens_seen": self.tokens_seen,
                "wall_seconds": time.time() - self.t0,
                "cpu_seconds": time.process_time() - self.cpu0,
                "train_seconds": time.time() - self.t_train,
                "loss_curve": self.loss_curve,
                "eval_curve": self.eval_curve,
                "final_train_loss": recent,
                "final_eval_loss": point["eval_loss"],
                "final_eval_accuracy": point["eval_accuracy"],
                "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        save_checkpoint(self.model, self.tokenizer, self.out, fp16=cfg.save_fp16, provenance=self.provenance)


def pretrain(
    config: PretrainConfig,
    out: str | Path,
    *,
    command: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Pre-train the encoder and save it (with checkpoints along the way) to `out`; returns provenance."""
    t0, cpu0 = time.time(), time.process_time()
    out = Path(out)
    torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)

    tokenizer = load_tokenizer()
    texts = corpus_texts(config)
    md5 = fingerprint(texts)
    logger.info("pre-training corpus: %d texts (md5 %s)", len(texts), md5)
    data = encode_windows(texts, tokenizer, max_len=config.model.max_len, whole_words=config.whole_word_masking)
    train_data, eval_data = _split_windows(config, data, rng)
    logger.info(
        "%d training windows (%d tokens), %d held out; encoding took %.0f s",
        len(train_data.ids),
        int(train_data.lengths.sum()),
        len(eval_data.ids),
        time.time() - t0,
    )
    parent: dict[str, Any] | None = None
    if config.init_from:
        model, parent = load_init_model(config)
        logger.info("continuing from %s", config.init_from)
    else:
        model = build_model(config)
    model.train()
    bf16 = use_bf16(config.precision)
    provenance = _provenance(
        config,
        out,
        command=command,
        texts=texts,
        md5=md5,
        data=data,
        n_eval=len(eval_data.ids),
        model=model,
        parent=parent,
        bf16=bf16,
    )
    run = _Run(
        config, model, tokenizer, _optimizer(model, config), train_data, eval_data, out, provenance, bf16, t0, cpu0
    )
    while run.step < config.max_steps:
        batches = bucket_batches(
            train_data.lengths, tokens_per_batch=config.tokens_per_batch, max_batch_size=config.max_batch_size, rng=rng
        )
        for idx in batches:
            if run.step >= config.max_steps:
                break
            lv = run.train_step(idx, gen)
            if progress is not None:
                progress(run.step, config.max_steps, lv)
            if run.step % config.log_every == 0:
                run.log_window()
            if run.step % config.checkpoint_every == 0 and run.step < config.max_steps:
                run.snapshot(completed=False)
    if run.window_n:
        run.loss_curve.append({"step": run.step, "loss": run.window_loss / run.window_n})
    run.snapshot(completed=True)
    logger.info("pre-training done: %d steps in %.0f s -> %s", run.step, time.time() - t0, out)
    return provenance


#: what a continued checkpoint keeps of its starting checkpoint's provenance (the curves are left out)
_PARENT_KEYS = (
    "command",
    "config",
    "data",
    "normalizer",
    "segmenter",
    "versions",
    "threads",
    "precision",
    "completed",
    "parent",
    "steps",
    "epochs",
    "tokens_seen",
    "wall_seconds",
    "final_eval_loss",
    "final_eval_accuracy",
)


def _parent_summary(parent: dict[str, Any] | None) -> dict[str, Any] | None:
    """The parts of a starting checkpoint's provenance that say how to rebuild it (curves left out)."""
    if parent is None:
        return None
    return {k: parent[k] for k in _PARENT_KEYS if k in parent}


def command_line() -> str:
    """The command that is running, as a user would type it (for provenance)."""
    argv = list(sys.argv)
    argv[0] = os.path.basename(argv[0])
    return " ".join(argv)
