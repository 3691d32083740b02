"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# batch commands keep transformer review scores on disk (models.review_cache): never in the checkout's data/
os.environ.setdefault("CHOUJIAN_SCORE_CACHE", tempfile.mkdtemp(prefix="choujian-score-cache-"))


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


# --- the team's real scorer bundle, trained tiny ------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A market directory and the real `ScorerBundle` fitted on it with `configs/train-tiny.yaml` (~15 s): one
    for the whole session, for every test that needs a real bundle and does not change it."""
    from training.simulator import simulate
    from training.train import fit_bundle, load_config

    config = Path(__file__).resolve().parents[1] / "configs" / "train-tiny.yaml"
    market = simulate(120, 1500, seed=5).market
    out = tmp_path_factory.mktemp("tiny-market")
    market.write(out)
    return out, fit_bundle(market, load_config(config)).bundle
