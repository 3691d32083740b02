"""Tokenisation benchmark: the product's Segmenter against plain jieba default mode, same run, same dictionary.

    .venv/bin/python benchmarks/tokenize.py [--json] [--limit N] [--corpus all|shopping|waimai]

Both sides segment the real review corpora (`training.corpus`: online_shopping_10_cats and waimai_10k,
all splits) with exactly the same dictionary: jieba's dict.txt + the domain user dictionary + every
lexicon phrase. The reference is a private `jieba.Tokenizer` in default mode (HMM on); ours is
`features.lexicon.build_segmenter()` (jieba-rs backend with jieba-compatibility repairs). Dictionary
loading is timed separately and excluded from throughput. The corpus is cut into chunks that the two
sides segment alternately, so a busy machine slows both alike. `agreement` is the share of texts whose
token lists are identical. With --json the last line is a JSON object.
"""

from __future__ import annotations

import os
import sys

# this file is called tokenize.py: keep its folder off sys.path so `import tokenize` finds the stdlib
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

import pandas as pd  # noqa: E402


def load_texts(corpus: str, limit: int | None) -> list[str]:
    """Review texts of the chosen corpus, in the corpus order (deduplicated by training.corpus)."""
    from training.corpus import load_shopping_reviews, load_waimai_reviews

    frames = []
    if corpus in ("all", "shopping"):
        frames.append(load_shopping_reviews())
    if corpus in ("all", "waimai"):
        frames.append(load_waimai_reviews())
    texts = pd.concat(frames, ignore_index=True)["review"].astype(str).tolist()
    return texts[:limit] if limit else texts


def _segment_alternately(
    texts: list[str], ours: Any, ref: Any, *, chunks: int
) -> tuple[list[list[str]], list[list[str]], dict[str, float]]:
    """Both sides' tokens of every text, the corpus cut into chunks that the two segment in turn (who goes first
    alternates, so neither always meets a warmer cache), and each side's wall and CPU seconds."""
    k = max(1, min(chunks, len(texts)))
    bounds = [round(i * len(texts) / k) for i in range(k + 1)]
    secs = {"jieba": 0.0, "ours": 0.0, "jieba_cpu": 0.0, "ours_cpu": 0.0}
    out: dict[str, list[list[str]]] = {"jieba": [], "ours": []}
    lcut = ref.lcut
    for i in range(k):
        chunk = texts[bounds[i] : bounds[i + 1]]
        for side in ("jieba", "ours") if i % 2 == 0 else ("ours", "jieba"):
            w0, c0 = time.perf_counter(), time.process_time()
            out[side].extend([lcut(t) for t in chunk] if side == "jieba" else ours.cut_many(chunk))
            secs[side] += time.perf_counter() - w0
            secs[f"{side}_cpu"] += time.process_time() - c0
    return out["jieba"], out["ours"], secs


def _print_table(
    result: dict[str, Any],
    diffs: list[tuple[str, list[str], list[str]]],
    secs: dict[str, float],
    *,
    jieba_load: float,
    ours_load: float,
) -> None:
    """The human-readable comparison, and the first few texts the two segment differently."""
    n_texts, n_chars = result["n_texts"], result["n_chars"]
    jieba_s, ours_s = secs["jieba"], secs["ours"]
    rows = [
        ("texts", f"{n_texts:,}", ""),
        ("characters", f"{n_chars:,}", ""),
        ("dictionary load (s)", f"{jieba_load:.2f}", f"{ours_load:.2f}"),
        ("segmentation (s)", f"{jieba_s:.2f}", f"{ours_s:.2f}"),
        ("throughput (chars/s)", f"{n_chars / jieba_s:,.0f}", f"{n_chars / ours_s:,.0f}"),
        ("speedup (wall / cpu)", "1.0", f"{jieba_s / ours_s:.1f} / {secs['jieba_cpu'] / secs['ours_cpu']:.1f}"),
        ("identical segmentation", "", f"{result['agreement']:.4%} ({len(diffs)} differ)"),
    ]
    print(f"{'':26}{'jieba default':>18}{'Segmenter':>26}")
    for name, a, b in rows:
        print(f"{name:26}{a:>18}{b:>26}")
    for text, a, b in diffs[:5]:
        print(f"differs: {text[:40]!r}\n  jieba: {a[:20]}\n  ours:  {b[:20]}")


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    parser.add_argument("--limit", type=int, default=None, help="only the first N texts")
    parser.add_argument("--corpus", choices=("all", "shopping", "waimai"), default="all")
    parser.add_argument("--chunks", type=int, default=20, help="alternating chunks (load fairness)")
    args = parser.parse_args(argv)
    logging.getLogger("jieba").setLevel(logging.WARNING)

    from features.lexicon import build_segmenter

    texts = load_texts(args.corpus, args.limit)
    n_chars = sum(len(t) for t in texts)

    t0 = time.perf_counter()
    ours = build_segmenter()
    ours_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = ours.reference()
    jieba_load = time.perf_counter() - t0
    for t in texts[:50]:  # warm both (lazy regex compiles, first-call costs)
        ref.lcut(t)
        ours.cut(t)

    jieba_out, ours_out, secs = _segment_alternately(texts, ours, ref, chunks=args.chunks)
    jieba_s, ours_s, jieba_cpu, ours_cpu = secs["jieba"], secs["ours"], secs["jieba_cpu"], secs["ours_cpu"]

    same = [a == b for a, b in zip(jieba_out, ours_out, strict=True)]
    diffs = [(texts[i], jieba_out[i], ours_out[i]) for i, s in enumerate(same) if not s]
    result: dict[str, object] = {
        "speedup": round(jieba_s / ours_s, 3),
        "agreement": round(sum(same) / len(same), 6) if same else 1.0,
        "n_texts": len(texts),
        "n_chars": n_chars,
        "n_different": len(diffs),
        "jieba_chars_per_s": round(n_chars / jieba_s, 1),
        "ours_chars_per_s": round(n_chars / ours_s, 1),
        "jieba_seconds": round(jieba_s, 3),
        "ours_seconds": round(ours_s, 3),
        "speedup_cpu_time": round(jieba_cpu / ours_cpu, 3),
        "jieba_dict_load_s": round(jieba_load, 3),
        "ours_dict_load_s": round(ours_load, 3),
        "corpus": args.corpus,
        "segmenter": repr(ours),
        "versions": {
            "python": platform.python_version(),
            "jieba": version("jieba"),
            "rjieba": version("rjieba"),
        },
    }
    _print_table(result, diffs, secs, jieba_load=jieba_load, ours_load=ours_load)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
