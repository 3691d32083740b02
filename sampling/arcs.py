"""The circle of a systematic sample: each candidate an arc of length pi on [0, 1), one random start u.

Probabilities and the random start are integers in units of 1 / SCALE (2^-40), so cumulative sums, arcs and
draws are exact. Because a whole random arm is a function of the one number u, its worst case (or any total
over the drawn arcs) is an exact step function of u, computed by a sweep over the arcs' end points.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: probabilities and the random start are integers in units of 1 / SCALE, so cumulative sums are exact
SCALE = 1 << 40


def arcs(pi_int: NDArray[np.int64]) -> NDArray[np.int64]:
    """The start of each candidate's arc: consecutive arcs of lengths `pi_int` laid along the circle."""
    return (np.cumsum(pi_int) - pi_int) % SCALE


def _events(
    start: NDArray[np.int64], length: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    keep = length > 0
    s, ln, w = start[keep], length[keep], weight[keep]
    e = s + ln
    wrap = e > SCALE
    pos = np.concatenate([s, np.where(wrap, SCALE, e), np.zeros(int(wrap.sum()), np.int64), e[wrap] - SCALE, [0]])
    delta = np.concatenate([w, -w, w[wrap], -w[wrap], [0.0]])
    return pos.astype(np.int64), delta


def steps(
    start: NDArray[np.int64], length: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The total weight of the arcs containing u as a step function: segments [lo, hi) of [0, SCALE) and
    their values (`arc_extremes` is its max and min)."""
    pos, delta = _events(start, length, weight)
    # at one position, arcs that end leave before arcs that start (pos < 2^41, so the key fits int64)
    order = np.argsort(pos * 2 + (delta > 0), kind="stable")
    pos, value = pos[order], np.cumsum(delta[order])
    last = np.r_[pos[1:] != pos[:-1], True] & (pos < SCALE)
    lo = pos[last]
    return lo, np.r_[lo[1:], SCALE], value[last]


def arc_extremes(
    start: NDArray[np.int64], length: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[float, float]:
    """Max and min over every random start u of the total weight of the arcs that contain u."""
    _, _, v = steps(start, length, weight)
    return float(v.max()), float(v.min())


def draw_mask(start: NDArray[np.int64], length: NDArray[np.int64], u: int) -> NDArray[np.bool_]:
    """Which arcs contain the random start u (an integer in [0, SCALE))."""
    return ((u - start) % SCALE) < length


def enumerate_draws(start: NDArray[np.int64], length: NDArray[np.int64]) -> list[tuple[float, NDArray[np.bool_]]]:
    """All distinct samples of the systematic design with their exact probabilities."""
    pos, _ = _events(start, length, np.zeros(len(start)))
    cuts = np.unique(np.r_[pos[pos < SCALE], 0, SCALE])
    return [((hi - lo) / SCALE, draw_mask(start, length, int(lo))) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
