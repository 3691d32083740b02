"""Padded batches as torch tensors, for the training loops (`models.text.batching.pad` gives NumPy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.text.batching import pad


def pad_tensors(seqs: Sequence[Sequence[int] | np.ndarray], *, value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`pad`, as two int64 tensors sharing the arrays' memory."""
    ids, mask = pad(seqs, value=value)
    return torch.from_numpy(ids), torch.from_numpy(mask)


__all__ = ["pad_tensors"]
