"""Behavioural tests of the review complaint model fine-tuned from the shipped encoder: minimum
functionality, directional and invariance checks (CONVENTIONS.md, tier `tests/model`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models.text import ReviewModel, default_review_model_path
from models.text.config import DEFAULT_PRETRAINED, FinetuneConfig
from training.text.review import train_review_model

pytestmark = pytest.mark.slow

NEGATIVE = ["质量太差了，是假货，要求退货", "用了两天就坏了，客服也不理人，非常失望", "味道很难吃，再也不会买了"]
POSITIVE = ["非常好用，质量很棒，物流也快", "东西很好，包装完整，五星好评", "味道不错，送餐很快，下次还来"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ReviewModel:
    """The full model from `choujian reviews train` if present, else a quick fine-tune of the shipped encoder."""
    full = default_review_model_path()
    if (full / "text_model.json").is_file():
        return ReviewModel.load(full)
    if not (DEFAULT_PRETRAINED / "config.json").is_file():
        pytest.skip("the shipped checkpoint is absent")
    cfg = FinetuneConfig(
        max_train_texts=4000,
        max_val_texts=300,
        epochs=1.0,
        max_len=64,
        lr=1e-3,
        tokens_per_batch=1024,
        max_batch_size=32,
        eval_every=50,
        hybrid=False,
        export="torch",
        num_threads=2,
    )
    out: Path = tmp_path_factory.mktemp("review") / "model"
    metrics = train_review_model(cfg, out, max_test_texts=400)
    # minimum functionality on held-out test reviews, far above the 50% of a coin
    assert metrics["test"]["transformer_accuracy"] > 0.75, metrics["test"]
    return ReviewModel.load(out)


@pytest.fixture(params=["shipped", "transformer_alone"])
def score(request: pytest.FixtureRequest, model: ReviewModel) -> Callable[[list[str]], np.ndarray]:
    """The shipped scorer (transformer, or hybrid if chosen on validation) and the transformer alone."""
    return model.predict_proba if request.param == "shipped" else model.predict_proba_transformer


def test_clear_complaints_score_above_clear_praise(score: Callable[[list[str]], np.ndarray]) -> None:
    p = score(NEGATIVE + POSITIVE)
    assert p[:3].min() > p[3:].max()
    assert p[:3].mean() > 0.5 > p[3:].mean()


def test_adding_a_complaint_raises_the_score(score: Callable[[list[str]], np.ndarray]) -> None:
    base = ["收到了，包装还可以", "手机外观挺好看的"]
    worse = [t + "，但是用了一天就坏了，要求退货" for t in base]
    assert np.all(score(worse) > score(base))


def test_product_noun_swap_does_not_flip_a_clear_review(score: Callable[[list[str]], np.ndarray]) -> None:
    a = score(["这个手机质量很好，很满意", "这个手机太差了，退货"])
    b = score(["这个耳机质量很好，很满意", "这个耳机太差了，退货"])
    # invariance as CONVENTIONS.md states it: the swap does not flip the verdict (the small transformer
    # alone can still move by ~0.3 on the praise, see the model report)
    assert np.all((a > 0.5) == (b > 0.5))
