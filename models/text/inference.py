"""Fast scoring with a fine-tuned text classifier directory: torch (fp32), ONNX Runtime (fp32) or ONNX
Runtime with dynamic int8 weights, batched by length, identical texts scored once.

A model directory holds `encoder/` (a self-describing Hugging Face checkpoint: weights, config with
id2label/label2id, tokenizer), optional `model.onnx` / `model.int8.onnx`, optional `ngram_lr.pkl`
(the n-gram logistic regression of the hybrid; `ngram_lr.joblib` in directories written before it) and
`text_model.json` (which backend and mode to use, the metrics measured when it was trained).
Objects pickle *by reference* to that directory.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.text.batching import bucket_batches, pad
from models.text.tokenizer import prepare_texts

logger = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")
META = "text_model.json"
ONNX_FILES: dict[str, str] = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
#: the hybrid's n-gram component. Plain pickle, not joblib: joblib unpickles in pure Python, which took
#: ~8 s for the partner's 600k-entry vocabularies against ~0.5 s for the C unpickler
NGRAM_FILE = "ngram_lr.pkl"
LEGACY_NGRAM_FILE = "ngram_lr.joblib"


def save_ngram(model: Any, directory: str | Path) -> Path:
    """Write the hybrid's n-gram component into a model directory."""
    import pickle

    path = Path(directory) / NGRAM_FILE
    with path.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def load_ngram(directory: str | Path) -> Any:
    """Read the hybrid's n-gram component of a model directory (either file name)."""
    import pickle

    path = Path(directory) / NGRAM_FILE
    if path.is_file():
        with path.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - a model directory is trusted like its weights
    legacy = Path(directory) / LEGACY_NGRAM_FILE
    if legacy.is_file():
        import joblib

        return joblib.load(legacy)
    raise FileNotFoundError(f"{directory} is a hybrid review model without its n-gram component ({NGRAM_FILE})")


def transformer_band(weight: float) -> tuple[float, float]:
    """The n-gram probabilities `[lo, hi)` for which the transformer can change the hybrid's verdict.

    The hybrid is `p = w * p_transformer + (1 - w) * p_ngram` with the verdict `p >= 0.5`. As
    `p_transformer` lies in [0, 1], an n-gram probability below `(0.5 - w) / (1 - w)` gives `p < 0.5`
    whatever the transformer says, and one at or above `0.5 / (1 - w)` gives `p >= 0.5`. For `w >= 0.5`
    the band is all of [0, 1]: the transformer always matters.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"hybrid weight must lie in [0, 1], got {weight}")
    if weight >= 0.5:
        return 0.0, 1.0 + 1e-9
    return (0.5 - weight) / (1.0 - weight), 0.5 / (1.0 - weight)


def transformer_needed(p_ngram: np.ndarray, weight: float) -> np.ndarray:
    """Mask of the texts whose n-gram probability lies in `transformer_band(weight)`, a hair wider than
    the exact band so that rounding can never flip a verdict."""
    lo, hi = transformer_band(weight)
    return np.asarray((p_ngram >= lo - 1e-9) & (p_ngram < hi + 1e-9))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


#: ONNX Runtime sessions inherited through `fork`, kept from their destructor (see `TextClassifier._onnx`)
_FORKED_SESSIONS: list[Any] = []


class TextClassifier:
    """Scores texts with a saved text-model directory; the base of `ReviewModel` and the listing model."""

    def __init__(self, path: str | Path, *, backend: Backend | None = None, threads: int = 2) -> None:
        self.path = Path(path).resolve()
        meta_path = self.path / META
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.path} is not a text model directory (no {META})")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        self.backend: Backend = backend or self.meta.get("backend", "torch")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}: use one of {BACKENDS}")
        self.threads = threads
        self.max_len: int = int(self.meta["max_len"])
        self.tokens_per_batch: int = int(self.meta.get("inference_tokens_per_batch", 8192))
        self.labels: tuple[str, ...] = tuple(self.meta["labels"])
        self.multilabel: bool = bool(self.meta.get("multilabel", False))
        from models.text.tokenizer import load_tokenizer

        self.tokenizer = load_tokenizer(self.path / "encoder")
        self._torch_model: Any = None
        self._session: Any = None
        self._session_pid = os.getpid()
        self._load_backend()

    # -- loading ----------------------------------------------------------------------------------
    def _load_backend(self) -> None:
        if self.backend == "torch":
            import torch
            from transformers import AutoModelForSequenceClassification

            torch.set_num_threads(self.threads)
            self._torch_model = AutoModelForSequenceClassification.from_pretrained(
                self.path / "encoder", dtype=torch.float32, local_files_only=True
            ).eval()
        else:
            file = self.path / ONNX_FILES[self.backend]
            if not file.is_file():
                raise FileNotFoundError(f"{file} is missing: this model was not exported to {self.backend}")
            self._onnx_file = file
            self._session = self._new_session()

    def _new_session(self, threads: int | None = None) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session_pid = os.getpid()
        return ort.InferenceSession(str(self._onnx_file), opts, providers=["CPUExecutionProvider"])

    def _onnx(self) -> Any:
        """This process's ONNX Runtime session. A session made before `fork` (a server's workers share the
        model loaded once in the parent) holds a thread pool whose threads the child does not have: the
        child makes its own, and keeps the parent's object alive, never destroyed, since destroying it would
        join threads that do not exist there.

        The child's session runs on one thread: processes are forked to work side by side, one per core
        (batch workers, server workers), and two threads each oversubscribe the cores (cold-store
        `score-batch` on 2 workers: 2,840 listings/s with two threads each). The logits do not depend on
        the thread count (`tests/model/test_text_models.py`)."""
        if self._session_pid != os.getpid():
            _FORKED_SESSIONS.append(self._session)
            self._session = self._new_session(threads=1)
        return self._session

    def __getstate__(self) -> dict[str, Any]:
        # by reference: the directory is the artifact; weights are never copied into the pickle
        return {"path": str(self.path), "backend": self.backend, "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], backend=state["backend"], threads=state["threads"])  # type: ignore[misc]

    def save(self, path: str | Path) -> Path:
        """Copy the model directory to `path` (which must not exist) and return it."""
        dest = Path(path)
        shutil.copytree(self.path, dest)
        return dest

    # -- scoring ----------------------------------------------------------------------------------
    def logits(self, texts: Sequence[object]) -> np.ndarray:
        """Raw logits (n, k), each distinct normalised text computed once."""
        from models.text.encoding import encode_texts

        clean = prepare_texts(texts)
        uniq, inverse = np.unique(np.asarray(clean, dtype=object), return_inverse=True)
        k = len(self.labels)
        if len(clean) == 0:
            return np.zeros((0, k), dtype=np.float32)
        ids = encode_texts(list(uniq), self.tokenizer, max_len=self.max_len, normalized=True)
        out = np.zeros((len(uniq), k), dtype=np.float32)
        lengths = [len(x) for x in ids]
        for idx in bucket_batches(lengths, tokens_per_batch=self.tokens_per_batch, max_batch_size=512):
            input_ids, attn = pad([ids[i] for i in idx], value=self.tokenizer.pad_token_id or 0)
            out[idx] = self._forward(input_ids, attn)
        return out[np.asarray(inverse).reshape(-1)]

    def _forward(self, input_ids: np.ndarray, attn: np.ndarray) -> np.ndarray:
        if self._session is not None:
            (logits,) = self._onnx().run(["logits"], {"input_ids": input_ids, "attention_mask": attn})
            return np.asarray(logits, dtype=np.float32)
        import torch

        with torch.inference_mode():
            res = self._torch_model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(attn))
        return np.asarray(res.logits.float().numpy(), dtype=np.float32)

    def predict_proba_all(self, texts: Sequence[object]) -> np.ndarray:
        """Per-label probabilities (n, k): softmax for single-label models, sigmoid for multi-label."""
        z = self.logits(texts)
        return _sigmoid(z) if self.multilabel else _softmax(z)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, backend={self.backend!r})"


class ReviewModel(TextClassifier):
    """The review complaint model: `predict_proba(texts)` is the probability that each review reports a
    bad experience (a complaint). In `hybrid` mode it blends the transformer with the n-gram logistic
    regression saved beside it, with the weight chosen on validation when it was trained.

    A hybrid trained with `cascade` (the default; with the shipped encoder validation has picked blend weights
    of 0.05-0.30) runs the transformer only on the texts whose n-gram probability lies in `transformer_band`,
    where it can change the verdict; elsewhere the n-gram probability is the score. Verdicts at 0.5 are
    exactly the full blend's; a score outside the band moves by at most `w * |p_transformer - p_ngram|`.
    Training, batch and online scoring all call this method, so the risk models learn from the scores
    they are served.
    """

    def __init__(self, path: str | Path, *, backend: Backend | None = None, threads: int = 2) -> None:
        super().__init__(path, backend=backend, threads=threads)
        self.mode: str = self.meta.get("mode", "transformer")
        self.hybrid_weight: float = float(self.meta.get("hybrid_weight", 1.0))
        self.positive = self.labels.index("complaint")
        self.cascade: bool = bool(self.meta.get("cascade", False))  # directories written before it: full blend
        self._ngram: Any = None
        if self.mode == "hybrid":
            self._ngram = load_ngram(self.path)

    @classmethod
    def load(cls, path: str | Path, *, backend: Backend | None = None, threads: int = 2) -> ReviewModel:
        """Load a review model directory (as written by `choujian reviews train`)."""
        return cls(path, backend=backend, threads=threads)

    def predict_proba_transformer(self, texts: Sequence[object]) -> np.ndarray:
        """Complaint probability from the transformer alone."""
        return self.predict_proba_all(texts)[:, self.positive]

    def predict_proba_ngram(self, texts: Sequence[object]) -> np.ndarray:
        """Complaint probability from the n-gram logistic regression alone (hybrid models only)."""
        if self._ngram is None:
            raise ValueError("this review model has no n-gram component (mode is 'transformer')")
        from models.text.ngram import predict_proba

        return predict_proba(self._ngram, prepare_texts(texts))[:, 1]

    def predict_proba(self, texts: Sequence[object]) -> np.ndarray:
        """Complaint probability per text, shape (n,), in the input order."""
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        if self.mode != "hybrid":
            return np.asarray(self.predict_proba_transformer(texts), dtype=np.float64)
        w = self.hybrid_weight
        p_ngram = np.asarray(self.predict_proba_ngram(texts), dtype=np.float64)
        if not self.cascade:
            return np.asarray(w * self.predict_proba_transformer(texts) + (1.0 - w) * p_ngram, dtype=np.float64)
        need = np.flatnonzero(transformer_needed(p_ngram, w))
        p = p_ngram.copy()
        if len(need):
            items = list(texts)  # positional, whatever sequence (a Series with its own index too) came in
            p_tx = self.predict_proba_transformer([items[i] for i in need.tolist()])
            p[need] = w * p_tx + (1.0 - w) * p_ngram[need]
        return p
