"""Length-bucketed, dynamically padded batches: short reviews are batched with short reviews, so a
batch of 20-character texts does not pay for one 128-token review."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bucket_batches(
    lengths: Sequence[int] | np.ndarray,
    *,
    tokens_per_batch: int,
    max_batch_size: int,
    rng: np.random.Generator | None = None,
    pool_factor: int = 50,
) -> list[np.ndarray]:
    """Index batches whose padded size (rows x longest row) stays within `tokens_per_batch`.

    With `rng`, rows are shuffled, sorted by length inside pools of ~`pool_factor` batches and the
    batches shuffled (training); without it, rows are sorted by length globally (inference).
    """
    lengths = np.asarray(lengths)
    n = len(lengths)
    if n == 0:
        return []
    if rng is None:
        pools = [np.argsort(lengths, kind="stable")]
    else:
        order = rng.permutation(n)
        typical = max(1, min(max_batch_size, tokens_per_batch // max(1, int(np.median(lengths)))))
        size = typical * pool_factor
        pools = []
        for i in range(0, n, size):
            part = order[i : i + size]
            pools.append(part[np.argsort(lengths[part], kind="stable")])
    batches: list[np.ndarray] = []
    for pool in pools:
        start = 0
        longest = 0
        for j, idx in enumerate(pool):
            cand = max(longest, int(lengths[idx]))
            rows = j - start + 1
            if rows > 1 and (cand * rows > tokens_per_batch or rows > max_batch_size):
                batches.append(pool[start:j])
                start, longest = j, int(lengths[idx])
            else:
                longest = cand
        batches.append(pool[start:])
    if rng is not None:
        perm = rng.permutation(len(batches))
        batches = [batches[i] for i in perm]
    return batches


def pad(seqs: Sequence[Sequence[int] | np.ndarray], *, value: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad integer sequences into a (rows, longest) int64 array and its attention mask.

    NumPy, not torch: scoring with the ONNX backend then never imports torch (a quarter of a GB resident
    in every server process); training wraps these with `torch.from_numpy` (`training.text.tensors`)."""
    width = max(len(s) for s in seqs)
    out = np.full((len(seqs), width), value, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = np.asarray(s, dtype=np.int64)
        mask[i, : len(s)] = 1
    return out, mask
