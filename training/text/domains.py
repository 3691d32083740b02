"""Reviews from other sources: cross-source figures, and self-training on a user's own unlabelled reviews.

*Cross-source*: learn from one labelled corpus (all of its train split) and score another's test split
(`training.corpus`: shopping = online_shopping_10_cats, waimai = waimai_10k). The TF-IDF + LR baseline is
fitted here; the n-gram partner, the transformer and the shipped cascade are those of a review model
directory trained on the source corpus (`choujian reviews train`, `corpus:` in its config).

*Adaptation* (`choujian reviews adapt`): the model scores the target texts, its confident verdicts
(probability >= `threshold` or <= 1 - `threshold`) become pseudo-labels, and the n-gram partner is refitted
on the source's labelled texts plus the pseudo-labelled target texts, so its vocabulary and weights take in
the target's wording; the transformer and the blend weight are kept. With `rounds` > 1 the refitted model
labels again. No target label is read. Measured on the cross-source split: adapt with the target corpus's
train-split texts, labels dropped, and score its held-out test split (docs/evaluation.md).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.text.config import FinetuneConfig, PartnerConfig
from models.text.inference import META, ReviewModel, save_ngram
from models.text.ngram import fit_ngram_baseline, fit_ngram_partner
from models.text.tokenizer import prepare_texts
from training.corpus import Corpus
from training.text.pretrain import fingerprint
from training.text.review import review_data

logger = logging.getLogger(__name__)


class ReviewFileError(ValueError):
    """A review file that cannot be used, with the file and, where one is to blame, the row, line and column."""


class AdaptConfig(BaseModel):
    """Self-training settings (`choujian reviews adapt`)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(
        default=0.9, gt=0.5, lt=1.0, description="a verdict is confident when its probability is >= this or <= 1 - this"
    )
    rounds: int = Field(default=1, ge=1, le=5, description="label, refit; again with the refitted model")
    min_pseudo_labels: int = Field(default=20, ge=1, description="refuse to adapt on fewer confident texts")
    balance: bool = Field(
        default=True,
        description="keep as many pseudo-labelled complaints as non-complaints (the most confident of each), so a "
        "model leaning to one verdict on the new source does not teach itself that lean",
    )


def read_review_texts(path: Path, column: str) -> list[str]:
    """The texts of `column` in a CSV (UTF-8) or Parquet file, one review a row; empty rows are dropped.

    Raises `ReviewFileError` naming the file, and the row, line and column where one is to blame."""
    import pandas as pd

    if not path.is_file():
        raise ReviewFileError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise ReviewFileError(f"{path}: not a readable Parquet file ({e})") from e
    else:
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise ReviewFileError(
                f"{path}, line {line}: not UTF-8 text (byte {e.start}); save the file as UTF-8"
            ) from e
        try:
            df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        except Exception as e:  # noqa: BLE001 - a malformed CSV is the user's to fix
            raise ReviewFileError(f"{path}: not a readable CSV file ({' '.join(str(e).split())})") from e
    if column not in df.columns:
        raise ReviewFileError(
            f"{path}: column {column!r} not found; available columns: {', '.join(map(str, df.columns))}"
        )
    texts: list[str] = []
    for i, value in enumerate(df[column].tolist()):
        if value is None or (isinstance(value, float) and value != value):
            continue
        if not isinstance(value, str):
            raise ReviewFileError(
                f"{path}, row {i + 1} (line {i + 2}), column {column!r}: expected review text, got {value!r}"
            )
        if value.strip():
            texts.append(value)
    if not texts:
        raise ReviewFileError(f"{path}, column {column!r}: no review text in any row")
    logger.info("%s: %d reviews (%d empty rows dropped)", path, len(texts), len(df) - len(texts))
    return texts


def pseudo_labels(p: np.ndarray, threshold: float, *, balance: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the confident probabilities (>= threshold or <= 1 - threshold) and their 0/1 labels; with
    `balance`, only the most confident of the larger class, as many as the smaller class has."""
    idx = np.flatnonzero(np.maximum(p, 1.0 - p) >= threshold)
    if balance:
        pos, neg = idx[p[idx] >= 0.5], idx[p[idx] < 0.5]
        n = min(len(pos), len(neg))
        pos = pos[np.argsort(-p[pos], kind="stable")[:n]]
        neg = neg[np.argsort(p[neg], kind="stable")[:n]]
        idx = np.sort(np.concatenate([pos, neg]))
    return idx, (p[idx] >= 0.5).astype(np.int64)


def _source_texts(config: FinetuneConfig) -> tuple[list[str], np.ndarray]:
    """The labelled texts the model's shipped partner learnt from: train (+ validation when it was refitted)."""
    data = review_data(config, max_test_texts=1)
    (tr_x, tr_y), (va_x, va_y) = data["train"], data["validation"]
    if not config.refit_ngram:
        return list(tr_x), tr_y
    return [*tr_x, *va_x], np.concatenate([tr_y, va_y])


def adapt_partner(
    score: Callable[[Any], np.ndarray],
    src_x: list[str],
    src_y: np.ndarray,
    target: list[str],
    partner_config: PartnerConfig,
    settings: AdaptConfig,
    say: Callable[[str], None],
) -> tuple[Any, list[dict[str, Any]]]:
    """The self-training loop: `score(partner)` gives the target texts' probabilities (from the starting model
    when `partner` is None); its confident verdicts are added to the source texts and the partner refitted,
    `settings.rounds` times. Returns the last partner and what each round did."""
    partner: Any = None
    rounds: list[dict[str, Any]] = []
    for r in range(settings.rounds):
        idx, labels = pseudo_labels(score(partner), settings.threshold, balance=settings.balance)
        if len(idx) < settings.min_pseudo_labels:
            raise ValueError(
                f"only {len(idx)} of {len(target)} reviews are scored with confidence >= {settings.threshold}; "
                f"at least {settings.min_pseudo_labels} are needed (lower --threshold or bring more reviews)"
            )
        say(f"round {r + 1}: {len(idx)} confident pseudo-labels ({int(labels.sum())} complaints); refitting")
        t = time.time()
        x, y = [*src_x, *(target[i] for i in idx)], np.concatenate([src_y, labels])
        partner = fit_ngram_partner(x, y, partner_config)
        rounds.append(
            {
                "pseudo_labelled": len(idx),
                "complaints": int(labels.sum()),
                "share": len(idx) / len(target),
                "refit_seconds": round(time.time() - t, 1),
            }
        )
    return partner, rounds


def self_train(
    model_dir: str | Path,
    texts: list[str],
    out: str | Path,
    *,
    settings: AdaptConfig,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Adapt the review model in `model_dir` to unlabelled `texts` by self-training its n-gram partner; write
    the adapted model to `out` (replaced if it exists; `model_dir` is never changed). Returns the report,
    also saved in the directory's metadata under `adaptation`."""
    say = progress or (lambda _: None)
    t0 = time.time()
    src = Path(model_dir)
    base = ReviewModel(src)
    if base.mode != "hybrid":
        raise ValueError(f"{src} has no n-gram partner (mode {base.mode!r}); adapt needs a hybrid review model")
    config = FinetuneConfig.model_validate(base.meta["config"])
    target = sorted(set(prepare_texts(texts)) - {""})
    say(f"{len(target)} distinct unlabelled reviews; reading the {config.corpus} corpus the model learnt from")
    src_x, src_y = _source_texts(config)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)

    def score(partner: Any) -> np.ndarray:
        if partner is None:
            return base.predict_proba(target)
        save_ngram(partner, tmp)  # the whole model as it will ship: the cascade with the refitted partner
        return ReviewModel(tmp).predict_proba(target)

    try:
        partner, rounds = adapt_partner(score, src_x, src_y, target, config.partner, settings, say)
    except ValueError:
        shutil.rmtree(tmp)
        raise
    save_ngram(partner, tmp)
    report: dict[str, Any] = {
        "from": str(src.resolve()),
        "unlabelled": len(target),
        "unlabelled_md5": fingerprint(target),
        "source_texts": len(src_x),
        "settings": settings.model_dump(mode="json"),
        "rounds": rounds,
        "seconds": round(time.time() - t0, 1),
        "command": command,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    meta = json.loads((tmp / META).read_text(encoding="utf-8"))
    meta["adaptation"] = report
    (tmp / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return report


def _figures(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """AUC and accuracy at 0.5 of complaint probabilities `p` against labels `y`."""
    from sklearn.metrics import roc_auc_score

    return {"auc": float(roc_auc_score(y, p)), "accuracy": float(np.mean((p >= 0.5) == y)), "n": len(y)}


def _model_figures(model: ReviewModel, texts: list[str], y: np.ndarray) -> dict[str, dict[str, float]]:
    """The model's n-gram partner, transformer and shipped score (the cascade) on labelled texts."""
    t = time.perf_counter()
    shipped = model.predict_proba(texts)
    seconds = time.perf_counter() - t
    out = {"partner": _figures(model.predict_proba_ngram(texts), y)}
    out["transformer"] = _figures(model.predict_proba_transformer(texts), y)
    out["cascade"] = {**_figures(shipped, y), "texts_per_second": round(len(texts) / seconds, 1)}
    return out


def model_corpus(model: ReviewModel) -> str:
    """The labelled corpus a review model directory learnt from (shopping for directories from before `corpus`)."""
    return str(model.meta.get("config", {}).get("corpus", "shopping"))


def _ngram_figures(partner: Any, texts: list[str], y: np.ndarray) -> dict[str, dict[str, float]]:
    return {"partner": _figures(partner.predict_proba(texts)[:, 1], y)}


def cross_source(
    *,
    train: Corpus,
    test: Corpus,
    model_dir: str | Path | None,
    config: FinetuneConfig | None = None,
    adapt: AdaptConfig | None = None,
    adapted_out: str | Path | None = None,
    max_test_texts: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Figures of a review model trained on `train` on the `test` corpus's test split (and on its own test
    split, for reference), with the TF-IDF + LR baseline fitted on the same source texts; with `adapt`, the
    model self-trained on the test corpus's train-split texts (labels dropped) and scored again.

    Without `model_dir` the n-gram models alone are measured: the partner is fitted here from `config`'s
    `partner` on the source corpus (minutes, where fine-tuning a transformer takes many), and `adapt`
    self-trains it on its own pseudo-labels."""
    say = progress or (lambda _: None)
    model, config = _source_model(model_dir, config, train)
    own = review_data(config, max_test_texts=max_test_texts)["test"]
    tgt_data = review_data(config.model_copy(update={"corpus": test}), max_test_texts=max_test_texts)
    tgt_x, tgt_y = tgt_data["test"]
    src_x, src_y = _source_texts(config)
    say(f"fitting the TF-IDF + LR baseline on {len(src_x)} {train} reviews")
    baseline = fit_ngram_baseline(src_x, src_y, config.baseline)
    result: dict[str, Any] = {
        "train": train,
        "test": test,
        "model": str(Path(model_dir).resolve()) if model_dir is not None else None,
        "n_source": len(src_x),
        "split": "train on all of the source's train split; score each corpus's test split (training/corpus.py)",
    }
    partner: Any = None
    if model is None:
        say(f"fitting the n-gram partner on {len(src_x)} {train} reviews")
        partner = fit_ngram_partner(src_x, src_y, config.partner)
    say(f"scoring {len(tgt_x)} {test} test reviews and {len(own[0])} {train} test reviews")
    for part, (x, y) in (("target", (tgt_x, tgt_y)), ("source", own)):
        result[part] = {"baseline": _figures(baseline.predict_proba(x)[:, 1], y)}
        result[part].update(_model_figures(model, x, y) if model is not None else _ngram_figures(partner, x, y))
    if adapt is None:
        return result
    unlabelled = [*tgt_data["train"][0], *tgt_data["validation"][0]]  # texts only: their labels are not read
    say(f"self-training on {len(unlabelled)} {test} train-split reviews, labels dropped")
    if model_dir is None:
        target = sorted(set(unlabelled))
        adapted_partner, rounds = adapt_partner(
            lambda p: (partner if p is None else p).predict_proba(target)[:, 1],
            src_x,
            src_y,
            target,
            config.partner,
            adapt,
            say,
        )
        result["adapted"] = {
            "adaptation": {"unlabelled": len(target), "settings": adapt.model_dump(mode="json"), "rounds": rounds},
            "target": _ngram_figures(adapted_partner, tgt_x, tgt_y),
            "source": _ngram_figures(adapted_partner, *own),
        }
    else:
        out = Path(adapted_out or Path(model_dir).with_name(f"{Path(model_dir).name}-{test}"))
        result["adapted"] = _adapted_model(model_dir, unlabelled, out, adapt, (tgt_x, tgt_y), own, say)
    return result


def _source_model(
    model_dir: str | Path | None, config: FinetuneConfig | None, train: Corpus
) -> tuple[ReviewModel | None, FinetuneConfig]:
    """The hybrid review model in `model_dir` (checked: it has a partner and learnt from `train`) with its own
    config, or no model and `config` on the `train` corpus (the n-gram models are fitted from it)."""
    if model_dir is not None:
        model = ReviewModel(model_dir)
        if model.mode != "hybrid":
            raise ValueError(f"{model_dir} has no n-gram partner (mode {model.mode!r}); cross-source needs a hybrid")
        if model_corpus(model) != train:
            raise ValueError(f"{model_dir} learnt from the {model_corpus(model)} corpus, not {train}")
        return model, FinetuneConfig.model_validate(model.meta["config"])
    if config is None:
        raise ValueError("cross_source needs a review model directory or a config to fit the n-gram models from")
    return None, config.model_copy(update={"corpus": train})


def _adapted_model(
    model_dir: str | Path,
    unlabelled: list[str],
    out: Path,
    adapt: AdaptConfig,
    target: tuple[Any, Any],
    own: tuple[Any, Any],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The whole model self-trained on `unlabelled` into `out`, and its figures on both test splits."""
    report = self_train(model_dir, unlabelled, out, settings=adapt, progress=say)
    adapted = ReviewModel(out)
    return {
        "directory": str(out.resolve()),
        "adaptation": report,
        "target": _model_figures(adapted, *target),
        "source": _model_figures(adapted, *own),
    }
