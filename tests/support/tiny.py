"""The tests' one tiny market and bundle: the team's real pipeline and models, fitted with
`configs/train-tiny.yaml` on a 120-shop, 1,500-listing simulated market (seed 5).

`tests/conftest.py` builds them once per session (`tiny_simulation`, `tiny_market`, `tiny_bundle`,
`tiny_trained`); a test that does not change them uses those. A test that checks training itself, or needs
another config or market, fits its own with `fit_tiny` and says why.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from features.market import Market
from training.config import load_config
from training.fit import FitResult, fit_bundle
from training.simulator import Simulation, simulate

ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = ROOT / "configs" / "train-tiny.yaml"
TINY_MERCHANTS, TINY_LISTINGS, TINY_SEED = 120, 1500, 5


def simulate_tiny() -> Simulation:
    """The tiny simulated market (tables and ground truth)."""
    return simulate(TINY_MERCHANTS, TINY_LISTINGS, seed=TINY_SEED)


def digest(market: Market) -> str:
    """A hash of every table's values and columns: whether a shared market was changed in place."""
    h = hashlib.sha256()
    for name, table in market.tables().items():
        h.update(name.encode())
        h.update(repr(list(table.columns)).encode())
        h.update(pd.util.hash_pandas_object(table.astype(str), index=True).to_numpy().tobytes())
    return h.hexdigest()


def fit_tiny(market: Market, **config_update: Any) -> FitResult:
    """`fit_bundle` with the tiny config, its top-level fields replaced by `config_update`."""
    return fit_bundle(market, load_config(TINY_CONFIG).model_copy(update=config_update))
