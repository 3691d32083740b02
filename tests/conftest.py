"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
