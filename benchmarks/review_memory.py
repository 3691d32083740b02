"""Size, memory and accuracy of the review model's n-gram partner by vocabulary size (`keep_features`).

    .venv/bin/python benchmarks/review_memory.py [--keep-features none,150000] [--json] [MODEL_DIR ...]

For each `keep_features` value (`none`: every n-gram that `min_df` and the caps let through, as before the
compact vocabulary) the partner of `configs/review_model.yaml` is fitted as `choujian reviews train` refits it
(train + validation of the official split) and scored on the official test split (accuracy at 0.5, AUC); its
pickle is written to a temporary file and loaded in a fresh Python process, whose resident memory (VmRSS) is
read before and after the load (the scoring code and segmenter are loaded first in both readings). Each
MODEL_DIR (a whole review model, e.g. data/processed/review_model) is loaded the same way as `ReviewModel`
and five reviews scored. With --json the last line is a JSON object.
"""

from __future__ import annotations

import os
import sys

# this folder is sys.path[0] when the script runs, and benchmarks/tokenize.py would shadow the stdlib's
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

_CHILD = r"""
import gc, json, pickle, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
from models.text.inference import ReviewModel
from models.text.ngram import SegmentedWords
SegmentedWords().__setstate__({"max_n": 2})  # builds the process's segmenter, as loading a partner does
gc.collect(); base = rss()
path = sys.argv[1]
if path.endswith(".pkl"):
    with open(path, "rb") as fh:
        m = pickle.load(fh)
    m.predict_proba(["质量太差了，是假货", "非常好用，物流也快"])
else:
    ReviewModel(path).predict_proba(["质量太差了，是假货", "非常好用，物流也快", "还行吧", "送餐太慢", "包装很好"])
gc.collect()
print(json.dumps({"baseline_mb": base, "loaded_mb": rss()}))
"""


def resident(path: Path) -> dict[str, float]:
    """Resident memory that loading (and scoring with) `path` adds to a fresh process, and the process's."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True)
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    return {"rss_added_mb": round(mem["loaded_mb"] - mem["baseline_mb"], 1), "rss_process_mb": round(mem["loaded_mb"])}


def partner_row(keep: int | None, config_path: Path, tmp: Path) -> dict[str, object]:
    """Fit the partner with `keep_features=keep` as the review model's training refits it; measure it."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from models.text.config import FinetuneConfig, load_config
    from models.text.ngram import fit_ngram_partner, partner_vocabularies
    from training.text.review import review_data

    cfg = load_config(config_path, FinetuneConfig)
    partner_cfg = cfg.partner.model_copy(update={"keep_features": keep})
    data = review_data(cfg)
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = data["train"], data["validation"], data["test"]
    t = time.time()
    model = fit_ngram_partner([*tr_x, *va_x], np.concatenate([tr_y, va_y]), partner_cfg)
    seconds = time.time() - t
    p = model.predict_proba(te_x)[:, 1]
    path = tmp / f"partner-{keep}.pkl"
    path.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    chars, words = partner_vocabularies(model)
    return {
        "keep_features": keep,
        "features": len(chars) + len(words),
        "test_accuracy": round(float(np.mean((p >= 0.5) == te_y)), 4),
        "test_auc": round(float(roc_auc_score(te_y, p)), 4),
        "pickle_mb": round(path.stat().st_size / 2**20, 1),
        "fit_seconds": round(seconds),
        **resident(path),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path, help="whole review model directories to load")
    ap.add_argument("--keep-features", default="none,150000", help="comma-separated values; none = no cap")
    ap.add_argument("--config", type=Path, default=Path("configs/review_model.yaml"))
    ap.add_argument("--json", action="store_true", help="print a JSON object last")
    args = ap.parse_args()
    keeps = [None if v.strip().lower() == "none" else int(v) for v in args.keep_features.split(",") if v.strip()]
    rows, dirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for keep in keeps:
            row = partner_row(keep, args.config, Path(tmp))
            rows.append(row)
            print(
                f"keep_features={keep}: {row['features']} features, official test accuracy {row['test_accuracy']}, "
                f"AUC {row['test_auc']}, pickle {row['pickle_mb']} MB, +{row['rss_added_mb']} MB resident once "
                f"loaded (fit {row['fit_seconds']} s)",
                flush=True,
            )
    for d in args.models:
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 2**20
        ngram = d / "ngram_lr.pkl"
        row = {
            "model": str(d),
            "directory_mb": round(size, 1),
            "ngram_pickle_mb": round(ngram.stat().st_size / 2**20, 1) if ngram.is_file() else None,
            **resident(d),
        }
        dirs.append(row)
        print(
            f"{d}: directory {row['directory_mb']} MB (n-gram pickle {row['ngram_pickle_mb']} MB), "
            f"+{row['rss_added_mb']} MB resident once loaded and scoring, process {row['rss_process_mb']} MB",
            flush=True,
        )
    if args.json:
        print(json.dumps({"partners": rows, "models": dirs}))


if __name__ == "__main__":
    main()
