"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from features.market import Market
    from models.bundle import ScorerBundle
    from training.simulator import Simulation

# batch commands keep transformer review scores on disk (models.review_cache): never in the checkout's data/
os.environ.setdefault("CHOUJIAN_SCORE_CACHE", tempfile.mkdtemp(prefix="choujian-score-cache-"))
# a server freezes its heap after loading a model (serving.runtime.settle_heap): one full collection of the
# process, 0.4 s in a server but seconds in a test process holding every fixture, at each of hundreds of app
# starts; its own test turns it on
os.environ.setdefault("CHOUJIAN_FREEZE_MODEL_HEAP", "false")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BertForMaskedLM saved as a plain Hugging Face directory (what a user's
    own `--pretrained DIR` looks like), with the project's tokenizer."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from models.text.tokenizer import load_tokenizer

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=21128,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    path = tmp_path_factory.mktemp("tiny-bert")
    BertForMaskedLM(cfg).save_pretrained(path)
    load_tokenizer().save_pretrained(path)  # tokenizer.json only: exercises the AutoTokenizer path
    return path


# --- the team's real scorer bundle, trained tiny, once (tests/support/tiny.py) ----------------------------
# Shared by every test that needs a real market or bundle and does not change them: never mutate these.
@pytest.fixture(scope="session")
def tiny_simulation() -> Simulation:
    """The tiny simulated market with its ground truth."""
    from tests.support.tiny import simulate_tiny

    return simulate_tiny()


@pytest.fixture(scope="session")
def tiny_market(tiny_simulation: Simulation) -> Iterator[Market]:
    """The tiny market's four tables; the session fails if a test changed them in place."""
    from tests.support.tiny import digest

    market = tiny_simulation.market
    before = digest(market)
    yield market
    assert digest(market) == before, "a test changed the session's tiny market in place: copy it first"


@pytest.fixture(scope="session")
def tiny_bundle(tiny_market: Market) -> ScorerBundle:
    """The real `ScorerBundle` fitted on the tiny market with `configs/train-tiny.yaml` (~15 s)."""
    from tests.support.tiny import fit_tiny

    return fit_tiny(tiny_market).bundle


@pytest.fixture(scope="session")
def tiny_trained(
    tmp_path_factory: pytest.TempPathFactory, tiny_market: Market, tiny_bundle: ScorerBundle
) -> tuple[Path, Any]:
    """The tiny market written as a market directory (Parquet), and the bundle fitted on it."""
    out = tmp_path_factory.mktemp("tiny-market")
    tiny_market.write(out)
    return out, tiny_bundle
