"""Transformer text models: a compact Chinese BERT pre-trained from scratch, fine-tuned into the review
complaint classifier and the listing failure-type model, exported for fast CPU inference.

Public API (imports are lazy, so `import models.text` does not load torch):

- `load_review_model(path=None) -> ReviewModel`: `predict_proba(texts) -> (n,)` complaint probability.
- `ReviewModel`, `ListingTextModel`: scorers that load from (and pickle by reference to) a directory.
- `ListingTextModel.predict_proba(texts) -> (n, k)`: the listing failure-type scores (trained by
  `training.text.listing`).
- `load_tokenizer()`: bert-base-chinese's tokenizer from `data/raw`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.text.inference import Backend, ReviewModel

__all__ = [
    "ListingTextModel",
    "ReviewModel",
    "default_review_model_path",
    "load_review_model",
    "load_tokenizer",
]


def default_review_model_path() -> Path:
    """`$CHOUJIAN_REVIEW_MODEL` if set, else `data/processed/review_model` (written by `choujian reviews train`)."""
    from core.settings import shared_settings

    return shared_settings().review_model_dir()


def load_review_model(
    path: str | Path | None = None, *, backend: Backend | None = None, threads: int = 2
) -> ReviewModel:
    """Load a review model directory (default: `default_review_model_path()`); FileNotFoundError if absent."""
    from models.text.inference import META, ReviewModel

    p = Path(path) if path is not None else default_review_model_path()
    if not (p / META).is_file():
        raise FileNotFoundError(
            f"no review model at {p}: train one with `choujian reviews train` (or pass a model directory)"
        )
    return ReviewModel.load(p, backend=backend, threads=threads)


def __getattr__(name: str) -> Any:
    if name == "ReviewModel":
        from models.text.inference import ReviewModel

        return ReviewModel
    if name == "ListingTextModel":
        from models.text.listing import ListingTextModel

        return ListingTextModel
    if name == "load_tokenizer":
        from models.text.tokenizer import load_tokenizer

        return load_tokenizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
