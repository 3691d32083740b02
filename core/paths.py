"""Every path the project knows, in one place (cookiecutter-data-science's `config.py`).

The project runs from its checkout (an editable install), so shipped data is found relative to it; each
path a deployment may want elsewhere is also a setting (`core.settings`).
"""

from __future__ import annotations

from pathlib import Path

#: the checkout: the folder holding pyproject.toml, data/ and configs/
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DATA_DIR = PROJECT_ROOT / "data"
#: real corpora and the vocabulary, copied unchanged (never edited)
RAW_DIR = DATA_DIR / "raw"
SHOPPING_ZIP = RAW_DIR / "online_shopping_10_cats.zip"
WAIMAI_CSV = RAW_DIR / "waimai_10k.csv"
VOCAB_TXT = RAW_DIR / "bert-base-chinese-vocab.txt"
#: versioned word lists the product ships (claims, cues, the 3C catalogue, the jieba user dictionary)
LEXICON_DIR = DATA_DIR / "lexicons"
#: versioned reference tables with their sources (lab fees per category)
REFERENCE_DIR = DATA_DIR / "reference"
#: the shipped pre-trained encoder checkpoint
PRETRAINED_DIR = DATA_DIR / "pretrained" / "choujian-bert-mini"
#: generated, git-ignored
MARKET_DIR = DATA_DIR / "market"
PROCESSED_DIR = DATA_DIR / "processed"
REVIEW_MODEL_DIR = PROCESSED_DIR / "review_model"
SCORE_CACHE_DIR = PROCESSED_DIR / "score-cache"
#: the store written back as market directories by `choujian train --store` and `choujian round`
STORE_EXPORTS_DIR = PROCESSED_DIR / "store-exports"
#: reports the commands write (evaluation, round reports)
REPORTS_DIR = PROJECT_ROOT / "reports"
MODEL_CACHE_DIR = DATA_DIR / "cache" / "models"
MLFLOW_DB = PROJECT_ROOT / "mlflow.db"
MLFLOW_ARTIFACTS = PROJECT_ROOT / "mlartifacts"
CONFIG_DIR = PROJECT_ROOT / "configs"


def in_project(path: str | Path) -> Path:
    """A config's relative path, read against the project root unless it exists from here."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else PROJECT_ROOT / p
