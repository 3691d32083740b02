"""Size and resident memory of a loaded review model: what its n-gram partner's vocabulary costs.

    .venv/bin/python benchmarks/review_memory.py [--json] MODEL_DIR [MODEL_DIR ...]

Each directory is loaded in a fresh Python process: resident memory (VmRSS) is read after importing the
scoring code and building the segmenter (the baseline every directory shares), after `ReviewModel(dir)`,
and after scoring five reviews (the ONNX session's first run allocates its arena). Sizes are the bytes on
disk of the n-gram pickle and of the whole directory (what a scorer bundle copies). With --json the last
line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import gc, json, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
from models.text.inference import ReviewModel
from models.text.ngram import _segmenter
_segmenter()
gc.collect(); base = rss()
m = ReviewModel(sys.argv[1])
gc.collect(); loaded = rss()
m.predict_proba(["质量太差了，是假货", "非常好用，物流也快", "还行吧", "送餐太慢，饭都凉了", "包装很好"])
gc.collect(); scored = rss()
print(json.dumps({"baseline_mb": base, "loaded_mb": loaded, "scored_mb": scored}))
"""


def measure(directory: Path) -> dict[str, object]:
    """Resident memory of `directory` loaded in a fresh process, and its sizes on disk."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory)], check=True, capture_output=True, text=True
    ).stdout
    mem = json.loads(out.strip().splitlines()[-1])
    pickle = directory / "ngram_lr.pkl"
    return {
        "model": str(directory),
        "ngram_pickle_mb": round(pickle.stat().st_size / 2**20, 1) if pickle.is_file() else None,
        "directory_mb": round(sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 2**20, 1),
        "rss_model_mb": round(mem["loaded_mb"] - mem["baseline_mb"], 1),
        "rss_model_scored_mb": round(mem["scored_mb"] - mem["baseline_mb"], 1),
        "rss_process_mb": round(mem["scored_mb"], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="review model directories")
    ap.add_argument("--json", action="store_true", help="print a JSON object last")
    args = ap.parse_args()
    rows = [measure(d) for d in args.models]
    for r in rows:
        print(
            f"{r['model']}: n-gram pickle {r['ngram_pickle_mb']} MB, directory {r['directory_mb']} MB, "
            f"+{r['rss_model_mb']} MB resident once loaded (+{r['rss_model_scored_mb']} MB after scoring), "
            f"process {r['rss_process_mb']} MB"
        )
    if args.json:
        print(json.dumps({"models": rows}))


if __name__ == "__main__":
    main()
