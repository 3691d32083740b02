"""The cascaded hybrid: the transformer runs only where it can change the verdict, and no verdict at the
0.5 threshold differs from the full blend's (a property of `transformer_band`, checked exhaustively on a
grid and at random)."""

from __future__ import annotations

import numpy as np
import pytest

from models.text.inference import transformer_band, transformer_needed


@pytest.mark.parametrize("w", [0.0, 0.05, 0.1, 0.25, 0.45, 0.49])
def test_outside_the_band_the_transformer_cannot_change_the_verdict(w: float) -> None:
    rng = np.random.default_rng(0)
    p_ngram = np.concatenate([np.linspace(0, 1, 20_001), rng.random(20_000)])
    need = transformer_needed(p_ngram, w)
    outside = p_ngram[~need]
    verdict = outside >= 0.5
    # the transformer's two extremes bound every blend: neither flips a verdict outside the band
    for p_tx in (0.0, 1.0):
        assert np.array_equal(w * p_tx + (1 - w) * outside >= 0.5, verdict)
    # and the band is no wider than it must be: at its inner edges the transformer decides
    lo, hi = transformer_band(w)
    if w > 0:
        inside = p_ngram[(p_ngram > lo + 1e-6) & (p_ngram < hi - 1e-6)]
        assert len(inside) and np.all(w * 1.0 + (1 - w) * inside >= 0.5)
        assert np.all(w * 0.0 + (1 - w) * inside < 0.5)


def test_band_edges_and_a_transformer_that_always_matters() -> None:
    lo, hi = transformer_band(0.05)
    assert lo == pytest.approx(0.45 / 0.95) and hi == pytest.approx(0.5 / 0.95)
    assert transformer_needed(np.array([0.0, 0.5, 1.0]), 0.5).all()  # w >= 0.5: every text
    assert transformer_needed(np.array([0.0, 1.0]), 0.8).all()
    assert not transformer_needed(np.array([0.0, 0.4, 0.6, 1.0]), 0.05).any()
    with pytest.raises(ValueError, match="hybrid weight"):
        transformer_band(1.5)
