"""One path from text to token ids for every text model, in training and in scoring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from models.text.tokenizer import prepare_texts


def encode_texts(
    texts: Sequence[object],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_len: int,
    normalized: bool = False,
) -> list[np.ndarray]:
    """Token ids `[CLS] ... [SEP]` per text; long texts keep their head and tail (complaints often sit
    at the end of a long review), short texts are not padded (batches pad dynamically)."""
    clean = list(texts) if normalized else prepare_texts(texts)
    cls_id = tokenizer.cls_token_id
    sep_id = tokenizer.sep_token_id
    assert cls_id is not None and sep_id is not None
    body = max_len - 2
    head = body // 2
    out: list[np.ndarray] = []
    for start in range(0, len(clean), 4096):
        enc = tokenizer(list(clean[start : start + 4096]), add_special_tokens=False, truncation=False)
        for ids in enc["input_ids"]:
            if len(ids) > body:
                ids = ids[:head] + ids[len(ids) - (body - head) :]
            out.append(np.asarray([cls_id, *ids, sep_id], dtype=np.int64))
    return out
