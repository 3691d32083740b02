"""Training the listing text model: fine-tune the encoder on a market's lab-labelled listings, and its
out-of-fold scores (the leakage-free features `training.fit` feeds to `features.ListingTextScores`).

The scorer itself, what a bundle serves, is `models.text.listing.ListingTextModel`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.market import Market, failure_type_flags
from models.text.config import DEFAULT_PRETRAINED
from models.text.inference import Backend
from models.text.listing import LISTING_TEXT_LABELS, ListingTextModel, listing_texts
from models.text.tokenizer import prepare_texts

logger = logging.getLogger(__name__)


def listing_labels(market: Market, labels: Sequence[str] = LISTING_TEXT_LABELS) -> pd.DataFrame:
    """Per labelled listing (any lab result), 1 if any of its lab results found that failure type."""
    lab = market.lab_results
    if lab.empty:
        return pd.DataFrame(columns=list(labels), dtype=int)
    rows = failure_type_flags(lab["failure_types"], labels).astype(int)
    rows["listing_id"] = lab["listing_id"].to_numpy()
    return rows.groupby("listing_id")[list(labels)].max()


def _training_rows(
    market: Market, labels: Sequence[str], *, listing_ids: Sequence[str] | None, seed: int, limit: int | None
) -> tuple[list[str], list[str], np.ndarray]:
    """The labelled listings to learn from (restricted to `listing_ids`, shuffled by `seed`, at most
    `limit`): their ids, prepared texts and 0/1 labels."""
    y_all = listing_labels(market, labels)
    listings = market.listings.set_index("listing_id", drop=False)
    ids = [i for i in y_all.index if i in listings.index]
    if listing_ids is not None:
        keep = set(listing_ids)
        ids = [i for i in ids if i in keep]
    ids = list(np.random.default_rng(seed).permutation(np.asarray(ids, dtype=object)))
    if limit is not None:
        ids = ids[:limit]
    if len(ids) < 20:
        raise ValueError(f"only {len(ids)} lab-labelled listings: too few to fine-tune the listing text model")
    texts = prepare_texts(listing_texts(listings.loc[ids]))
    return ids, texts, y_all.loc[ids, list(labels)].to_numpy(dtype=np.float32)


def _fine_tune_listing(
    texts: Any,
    y: Any,
    *,
    pretrained: str | Path,
    labels: Sequence[str],
    n_val: int,
    settings: dict[str, Any],
    max_len: int,
) -> tuple[Any, Any, Any, int]:
    """Load the encoder, encode the texts and fine-tune on all but the first `n_val` (the validation rows);
    returns model, tokenizer, fit result and the max length used."""
    from training.text.finetune import FitSettings, encode, fit_classifier, load_pretrained

    model, tokenizer = load_pretrained(pretrained, labels=labels, multilabel=True, seed=settings["seed"])
    max_len = min(max_len, int(model.config.max_position_embeddings))
    enc = encode(tokenizer, texts, max_len)
    fit = fit_classifier(
        model,
        enc[n_val:],
        y[n_val:],
        enc[:n_val],
        y[:n_val],
        settings=FitSettings(max_len=max_len, eval_every=10**9, tokens_per_batch=4096, max_batch_size=32, **settings),
        multilabel=True,
        pad_id=int(tokenizer.pad_token_id or 0),
    )
    return model, tokenizer, fit, max_len


def _model_dir(out: str | Path | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """The (emptied) model directory, and the temporary directory that owns it when `out` is None."""
    # without `out`, the model lives in a temporary directory that goes with the returned object (a bundle
    # that keeps the model copies it in when saved), instead of ~70 MB left behind in the temp dir
    owned = None
    if out is None:
        owned = tempfile.TemporaryDirectory(prefix="listing-text-")
        out = owned.name
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        shutil.rmtree(target)
    return target, owned


def fit_listing_text_model(
    market: Market,
    *,
    out: str | Path | None = None,
    pretrained: str | Path = DEFAULT_PRETRAINED,
    listing_ids: Sequence[str] | None = None,
    labels: Sequence[str] = LISTING_TEXT_LABELS,
    epochs: float = 2.0,
    max_len: int = 96,
    lr: float = 3e-4,
    max_train_listings: int | None = 4000,
    validation_share: float = 0.15,
    freeze_embeddings: bool = True,
    backend: Backend = "torch",
    seed: int = 13,
    num_threads: int = 2,
) -> ListingTextModel:
    """Fine-tune the encoder on a market's lab-labelled listings; returns the scorer saved in `out`.

    `out` is the model directory (a new temporary one if None: copy it with `.save(dir)` to keep it).
    `listing_ids` restricts training to those listings (e.g. a training fold). With `backend="onnx-int8"`
    the model is also exported and scored with ONNX Runtime.
    """
    from training.text.finetune import save_text_model

    ids, texts, y = _training_rows(market, labels, listing_ids=listing_ids, seed=seed, limit=max_train_listings)
    model, tokenizer, fit, max_len = _fine_tune_listing(
        texts,
        y,
        pretrained=pretrained,
        labels=labels,
        n_val=max(10, int(len(ids) * validation_share)),
        settings={
            "epochs": epochs,
            "lr": lr,
            "seed": seed,
            "num_threads": num_threads,
            "freeze_embeddings": freeze_embeddings,
        },
        max_len=max_len,
    )
    target, owned = _model_dir(out)
    meta: dict[str, Any] = {
        "kind": "listing_failure_types",
        "labels": list(labels),
        "multilabel": True,
        "max_len": max_len,
        "backend": "torch",
        "pretrained": str(pretrained),
        "n_labelled": len(ids),
        "positives": {lbl: int(y[:, j].sum()) for j, lbl in enumerate(labels)},
        "fine_tune": {"steps": fit.steps, "seconds": fit.train_seconds, "history": fit.history},
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_text_model(model, tokenizer, target, meta=meta)
    if backend != "torch":
        from training.text.finetune import export_onnx, write_meta

        export_onnx(target, quantize=backend == "onnx-int8")
        write_meta(target, {**meta, "backend": backend})
    logger.info(
        "listing text model: %d labelled listings, %d steps in %.0f s -> %s",
        len(ids),
        fit.steps,
        fit.train_seconds,
        target,
    )
    model_out = ListingTextModel(target, threads=num_threads)
    model_out._owned_dir = owned  # cleaned up when the model is garbage-collected (or at exit)
    return model_out


def out_of_fold_listing_scores(
    market: Market,
    *,
    folds: int = 2,
    seed: int = 13,
    **kwargs: Any,
) -> pd.DataFrame:
    """`text_p_<label>` of every lab-labelled listing of `market`, each scored by a model fitted on the
    other folds (index `listing_id`). Unlabelled listings are not scored: the model fitted on all
    labelled listings is the one to score them (see module doc)."""
    if folds < 2:
        raise ValueError("out-of-fold scores need at least 2 folds")
    labels = tuple(kwargs.get("labels", LISTING_TEXT_LABELS))
    labelled = [str(i) for i in listing_labels(market, labels).index]
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(labelled, rng.permutation(len(labelled)) % folds, strict=True))
    listings = market.listings.set_index(market.listings["listing_id"].astype(str), drop=False)
    cols = [f"text_p_{lbl}" for lbl in labels]
    parts: list[pd.DataFrame] = []
    for k in range(folds):
        train_ids = [i for i in labelled if fold_of[i] != k]
        held = [i for i in labelled if fold_of[i] == k]
        with tempfile.TemporaryDirectory(prefix="listing-text-oof-") as tmp:
            m = fit_listing_text_model(market, out=tmp, listing_ids=train_ids, seed=seed + k, **kwargs)
            scored = m.score_listings(listings.loc[held].reset_index(drop=True))
        parts.append(scored[cols].set_axis(pd.Index(held, name="listing_id")))
    return pd.concat(parts).sort_index() if parts else pd.DataFrame(columns=cols)
