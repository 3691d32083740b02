"""Typed configs for the text models, loaded from versioned YAML (`configs/pretrain.yaml`,
`configs/review_model.yaml`) and saved with every checkpoint they produce."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field

from core import paths
from models.text.precision import Precision

#: where `choujian pretrain` writes by default, and where fine-tuning looks for its encoder
DEFAULT_PRETRAINED = paths.PRETRAINED_DIR
#: where `choujian reviews train` writes the review model unless told otherwise
DEFAULT_REVIEW_MODEL = paths.REVIEW_MODEL_DIR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EncoderConfig(_Strict):
    """Shape of the BERT-style encoder (vocabulary is always bert-base-chinese's 21128 tokens)."""

    hidden_size: int = Field(default=128, ge=16)
    num_layers: int = Field(default=4, ge=1)
    num_heads: int = Field(default=2, ge=1)
    intermediate_size: int = Field(default=512, ge=16)
    max_len: int = Field(default=128, ge=8, le=512, description="tokens per sequence, [CLS] and [SEP] included")
    dropout: float = Field(default=0.1, ge=0, lt=1)


class PretrainConfig(_Strict):
    """Masked-language-model pre-training from scratch on the corpora's train splits."""

    model: EncoderConfig = EncoderConfig()
    corpora: list[Literal["shopping", "waimai"]] = ["shopping", "waimai"]
    extra_texts: list[str] = Field(
        default_factory=list, description="more text files (one text a line), e.g. simulated listings"
    )
    max_texts: int | None = Field(default=None, description="use only this many texts, a seeded sample (tests)")
    whole_word_masking: bool = True
    mask_prob: float = Field(default=0.15, gt=0, lt=1)
    tokens_per_batch: int = Field(default=2048, ge=64, description="padded tokens per batch (length-bucketed)")
    max_batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    warmup_steps: int = Field(default=60, ge=0)
    weight_decay: float = Field(default=0.01, ge=0)
    max_steps: int = Field(default=1000, ge=1, description="stop after this many steps")
    lr_horizon_steps: int | None = Field(
        default=None,
        ge=1,
        description="steps over which the learning rate decays (default: max_steps); a run stopped at step k "
        "is reproduced exactly by max_steps=k with the same horizon",
    )
    grad_clip: float = 1.0
    seed: int = 13
    eval_sequences: int = Field(default=512, ge=0, description="sequences held out of training to report MLM loss")
    checkpoint_every: int = Field(default=50, ge=1)
    log_every: int = Field(default=25, ge=1)
    num_threads: int = Field(default=2, ge=1)
    save_fp16: bool = Field(default=True, description="store weights as fp16 (halves the checkpoint)")
    init_from: str | None = Field(
        default=None,
        description="continue from this checkpoint directory (same encoder shape) instead of a fresh model; "
        "its PROVENANCE.json is kept in the new one's",
    )
    precision: Precision = Field(
        default="fp32",
        description="bf16 runs the training steps under CPU autocast: measured about 1.5x faster on a CPU with "
        "bfloat16 instructions (AMX / AVX512-BF16), not measured on others; auto = bf16 only where the CPU has "
        "them. Held-out checks stay fp32",
    )


class BaselineConfig(_Strict):
    """TF-IDF character n-grams + logistic regression, trained and scored in the same run."""

    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 2
    max_features: int | None = 300_000
    C: float = 4.0


class PartnerConfig(_Strict):
    """The n-gram model the hybrid blends with the transformer (`models.text.ngram.fit_ngram_partner`):
    TF-IDF over character and jieba-word n-grams, naive-Bayes scaled, logistic regression. `kind:
    baseline` blends with the baseline itself instead."""

    kind: Literal["nb_char_word", "baseline"] = "nb_char_word"
    char_ngram_max: int = Field(default=4, ge=1, le=6)
    word_ngram_max: int = Field(default=2, ge=1, le=3)
    min_df: int = Field(default=2, ge=1)
    max_char_features: int | None = 400_000
    max_word_features: int | None = 200_000
    C: float = Field(default=2.0, gt=0)
    keep_features: int | None = Field(
        default=None,
        ge=1,
        description="keep only this many features (the largest |weight x NB ratio| of a first fit) and refit on "
        "them: a compact vocabulary, which is most of the partner's size and memory; null keeps them all",
    )


class FinetuneConfig(_Strict):
    """Fine-tuning the encoder into the review complaint classifier."""

    pretrained: str = Field(
        str(DEFAULT_PRETRAINED.relative_to(paths.PROJECT_ROOT)),
        description="local Hugging Face checkpoint directory (relative paths are from the repo root)",
    )
    corpus: Literal["shopping", "waimai"] = Field(
        default="shopping",
        description="labelled corpus to learn from and score on its own test split (shopping: the official split; "
        "waimai: the other source, for the cross-source figures)",
    )
    max_len: int = Field(default=128, ge=8, le=512)
    tokens_per_batch: int = Field(default=4096, ge=64)
    max_batch_size: int = Field(default=64, ge=1)
    epochs: float = Field(default=1.0, gt=0, description="fractional epochs allowed")
    max_train_texts: int | None = Field(default=None, description="subsample train (tests, quick runs)")
    lr: float = Field(default=2e-4, gt=0)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    grad_clip: float = 1.0
    freeze_embeddings: bool = Field(default=False, description="keep the word embeddings fixed (faster steps)")
    eval_every: int = Field(default=200, ge=1, description="steps between validation checks (model selection)")
    validation_share: float = Field(default=0.1, gt=0, lt=1)
    max_val_texts: int | None = Field(
        default=3000, description="validation texts read by the checks during fine-tuning (a fixed sample)"
    )
    seed: int = 13
    num_threads: int = Field(default=2, ge=1)
    precision: Precision = Field(
        default="fp32",
        description="bf16 runs the training steps under CPU autocast: measured 1.8x faster per step on a CPU "
        "with AVX512-BF16; auto = bf16 only where the CPU has bfloat16 instructions. Validation checks, the "
        "saved weights and every export stay fp32",
    )
    baseline: BaselineConfig = BaselineConfig()
    hybrid: bool = Field(
        default=True, description="also fit transformer + n-gram LR blend, weight chosen on validation"
    )
    partner: PartnerConfig = PartnerConfig()
    cascade: bool = Field(
        default=True,
        description="hybrid only: run the transformer only on texts whose n-gram probability leaves the verdict "
        "open at the chosen weight (`models.text.inference.transformer_band`); verdicts are the full blend's",
    )
    refit_ngram: bool = Field(
        default=True,
        description="after every choice made on validation (best step, hybrid weight, backend), refit the n-gram "
        "partner and the baseline on train + validation: 10% more data, chosen by nothing on test",
    )
    export: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto", description="inference backend to ship; auto = fastest that keeps accuracy within tolerance"
    )
    export_tolerance: float = Field(default=0.005, ge=0, description="max validation accuracy loss of an export")


C = TypeVar("C", bound=BaseModel)


def load_config(path: str | Path, cls: type[C]) -> C:
    """Load a YAML file into a typed config (unknown keys are errors)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return cls.model_validate(data)


def resolve_path(path: str | Path) -> Path:
    """Relative paths in configs are relative to the repository root, not the working directory."""
    return paths.in_project(path)
