"""`choujian reviews ...`: train the review complaint model and score review CSVs with it.

Kept light at import time (only typer): the heavy imports live inside the commands.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import fail, first_line

logger = logging.getLogger(__name__)

reviews_app = typer.Typer(
    help="The review complaint model (transformer): train it, score reviews with it.",
    no_args_is_help=True,
)

DEFAULT_CONFIG = Path("configs/review_model.yaml")
BACKEND_HELP = "Inference backend: torch, onnx or onnx-int8 (default: the one chosen at training)."


@reviews_app.command("train")
def train_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Fine-tuning YAML config.")] = DEFAULT_CONFIG,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Model directory (default: data/processed/review_model).")
    ] = None,
    pretrained: Annotated[
        Path | None, typer.Option(help="Any local Hugging Face checkpoint directory (overrides the config).")
    ] = None,
    epochs: Annotated[float | None, typer.Option(help="Override the config's epochs.", min=0.01)] = None,
    max_train_texts: Annotated[int | None, typer.Option(help="Subsample train (quick runs).", min=10)] = None,
    all_backends: Annotated[
        bool, typer.Option("--all-backends", help="Score the test split with torch, ONNX and ONNX-int8.")
    ] = False,
    skip_test: Annotated[bool, typer.Option("--skip-test", help="Do not score the official test split.")] = False,
    threads: Annotated[int | None, typer.Option(help="Override the config's CPU threads.", min=1)] = None,
    corpus: Annotated[
        str | None, typer.Option(help="Override the config's labelled corpus: shopping (official) or waimai.")
    ] = None,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse",
            help="Keep the model already in --out when it was made with this config and pre-trained checkpoint "
            "(and scored on the test split); otherwise fine-tune, saying why.",
        ),
    ] = False,
) -> None:
    """Fine-tune the review complaint classifier and report test accuracy against the n-gram baseline."""
    import json

    from models.text.config import DEFAULT_REVIEW_MODEL, FinetuneConfig, load_config

    cfg = _override_config(load_config(config, FinetuneConfig), epochs, max_train_texts, threads, corpus)
    target = out or DEFAULT_REVIEW_MODEL
    if reuse and _reusable(target, cfg, pretrained):
        return
    metrics = _fine_tune_with_progress(cfg, target, pretrained, skip_test=skip_test, all_backends=all_backends)
    typer.echo(json.dumps(_train_summary(metrics), ensure_ascii=False, indent=2))
    typer.echo(f"saved {target}")


def _override_config(
    cfg: Any, epochs: float | None, max_train_texts: int | None, threads: int | None, corpus: str | None
) -> Any:
    """The config with the command line's overrides applied (an unknown corpus fails)."""
    updates: dict[str, Any] = {}
    if epochs is not None:
        updates["epochs"] = epochs
    if max_train_texts is not None:
        updates["max_train_texts"] = max_train_texts
    if threads is not None:
        updates["num_threads"] = threads
    if corpus is not None:
        from training.corpus import CORPORA

        if corpus not in CORPORA:
            fail(f"--corpus {corpus!r}: use one of {', '.join(CORPORA)}")
        updates["corpus"] = corpus
    return cfg.model_copy(update=updates)


def _reusable(target: Path, cfg: Any, pretrained: Path | None) -> bool:
    """Whether the model in ``target`` can be kept (``--reuse``); says why not otherwise."""
    from training.text.review import stale_reason

    try:
        why = stale_reason(target, cfg, pretrained)
    except FileNotFoundError as e:
        fail(str(e))
    if why is None:
        typer.echo(f"reusing {target}: fine-tuned with this config from this pre-trained checkpoint")
        return True
    typer.echo(f"fine-tuning again: {why}")
    return False


def _fine_tune_with_progress(
    cfg: Any, target: Path, pretrained: Path | None, *, skip_test: bool, all_backends: bool
) -> dict[str, Any]:
    """Fine-tune under a progress bar; return the training metrics."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from training.text.pretrain import command_line
    from training.text.review import train_review_model

    with Progress(
        TextColumn("[bold]fine-tuning"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("finetune", total=None, loss=float("nan"))

        def on_step(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=loss)

        try:
            return train_review_model(
                cfg,
                target,
                pretrained=pretrained,
                evaluate_test=not skip_test,
                test_all_backends=all_backends,
                command=command_line(),
                progress=on_step,
            )
        except FileNotFoundError as e:
            fail(str(e))


def _train_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a fine-tuning run, rounded for the terminal."""
    summary: dict[str, Any] = {
        k: metrics[k] for k in ("mode", "backend", "n_train", "n_validation", "n_test") if k in metrics
    }
    summary["validation"] = {k: v for k, v in metrics["validation"].items() if k != "backends"}
    if "test" in metrics:
        summary["test"] = metrics["test"]
    summary["fine_tune_seconds"] = round(metrics["fine_tune"]["seconds"], 1)
    summary["fine_tune_cpu_seconds"] = round(metrics["fine_tune"]["cpu_seconds"], 1)
    summary["wall_seconds"] = round(metrics["wall_seconds"], 1)
    summary["cpu_seconds"] = round(metrics["cpu_seconds"], 1)
    return summary


def _champion_review_model() -> Any:
    """The registered champion's review model, if the registry has one that carries it."""
    try:
        from models.registry import load_champion, tracking_uri
    except ImportError:
        return None
    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # no local registry yet: do not create one just to find it empty
    try:
        bundle = load_champion()
    except Exception as e:  # noqa: BLE001 - no registry / no champion is an expected state here
        logger.info("no registered champion to take the review model from (%s)", e)
        return None
    for attr in ("review_scorer", "review_model"):
        model = getattr(bundle, attr, None)
        if model is not None and hasattr(model, "predict_proba"):
            return model
    return None


@reviews_app.command("score")
def score_command(
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV (or Parquet) file with one review a row.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the rows plus complaint_prob.")],
    text_column: Annotated[str, typer.Option(help="Column holding the review text.")] = "review",
    model: Annotated[
        Path | None,
        typer.Option(
            help="Review model directory (default: the registered champion's, else "
            "$CHOUJIAN_REVIEW_MODEL or data/processed/review_model)."
        ),
    ] = None,
    backend: Annotated[str | None, typer.Option(help=BACKEND_HELP)] = None,
) -> None:
    """Write the input rows plus `complaint_prob`, the probability that each review reports a bad experience."""
    import pandas as pd

    from models.text import default_review_model_path, load_review_model
    from models.text.inference import BACKENDS

    if not input.is_file():
        fail(f"input file {input} does not exist")
    if backend is not None and backend not in BACKENDS:
        fail(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    try:
        if input.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(input)
        else:
            df = pd.read_csv(input, encoding="utf-8-sig", dtype={text_column: "string"}, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        fail(f"cannot read {input}: {e}")
    if text_column not in df.columns:
        fail(f"column {text_column!r} not found in {input}; available columns: {', '.join(map(str, df.columns))}")
    scorer: Any = None
    if model is None:
        scorer = _champion_review_model()
        source = "registered champion"
    if scorer is None:
        path = model or default_review_model_path()
        try:
            scorer = load_review_model(path, backend=backend)
        except FileNotFoundError as e:
            fail(str(e))
        source = str(path)
    logger.info("scoring %d reviews with %s", len(df), source)
    import numpy as np

    texts = df[text_column].tolist()
    probs = np.asarray(scorer.predict_proba(texts), dtype=float)
    # an empty review says nothing: leave its probability blank rather than report the model's prior
    empty = np.array([t is None or (isinstance(t, float) and t != t) or not str(t).strip() for t in texts], bool)
    if empty.any():
        probs[empty] = np.nan
        logger.info("%d empty reviews left without a probability", int(empty.sum()))
    out = df.copy()
    out["complaint_prob"] = probs
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(output, index=False)
    else:
        out.to_csv(output, index=False, encoding="utf-8")
    typer.echo(f"wrote {len(out)} rows with complaint_prob to {output} (model: {source})")


@reviews_app.command("cross-source")
def cross_source_command(
    train: Annotated[str, typer.Option(help="Corpus the model learnt from: shopping or waimai.")] = "shopping",
    test: Annotated[str, typer.Option(help="Corpus whose test split it is scored on: shopping or waimai.")] = "waimai",
    model: Annotated[
        Path | None,
        typer.Option(help="Review model directory trained on --train (default: data/processed/review_model)."),
    ] = None,
    ngram_only: Annotated[
        bool,
        typer.Option(
            "--ngram-only",
            help="No review model: fit the n-gram partner from --config on --train here and measure the n-gram "
            "models alone (minutes; a transformer takes a fine-tuning run).",
        ),
    ] = False,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="--ngram-only: the review model config.")
    ] = DEFAULT_CONFIG,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt",
            help="Also self-train the model on the --test corpus's train-split texts (labels dropped) and score again.",
        ),
    ] = False,
    adapted_out: Annotated[
        Path | None, typer.Option(help="Where --adapt writes the adapted model (default: MODEL-<test> beside it).")
    ] = None,
    threshold: Annotated[float, typer.Option(help="--adapt: confidence for a pseudo-label.", min=0.5)] = 0.9,
    rounds: Annotated[int, typer.Option(help="--adapt: self-training rounds.", min=1, max=5)] = 1,
    balance: Annotated[
        bool,
        typer.Option("--balance/--no-balance", help="--adapt: as many pseudo-labelled complaints as non-complaints."),
    ] = True,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the figures to this JSON file.")] = None,
) -> None:
    """AUC and accuracy of a review model on another source's reviews: the TF-IDF + LR baseline, the n-gram
    partner, the transformer and the shipped cascade, before and (--adapt) after self-training."""
    import json

    from models.text.config import DEFAULT_REVIEW_MODEL, FinetuneConfig, load_config
    from training.corpus import CORPORA
    from training.text.domains import AdaptConfig, cross_source

    for name, value in (("--train", train), ("--test", test)):
        if value not in CORPORA:
            fail(f"{name} {value!r}: use one of {', '.join(CORPORA)}")
    if train == test:
        fail(f"--train and --test are both {train}: cross-source needs two corpora")
    if ngram_only and model is not None:
        fail("--ngram-only fits its own n-gram models: leave out --model")
    try:
        cfg = load_config(config, FinetuneConfig) if ngram_only else None
    except (OSError, ValueError) as e:
        fail(f"cannot read the config {config}: {first_line(e)}")
    try:
        settings = AdaptConfig(threshold=threshold, rounds=rounds, balance=balance) if adapt else None
    except ValueError:
        fail(f"--threshold {threshold}: must lie strictly between 0.5 and 1")
    try:
        result = cross_source(
            train=train,  # type: ignore[arg-type]
            test=test,  # type: ignore[arg-type]
            model_dir=None if ngram_only else model or DEFAULT_REVIEW_MODEL,
            config=cfg,
            adapt=settings,
            adapted_out=adapted_out,
            progress=typer.echo,
        )
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)


@reviews_app.command("adapt")
def adapt_command(
    unlabelled: Annotated[
        Path, typer.Option("--unlabelled", "-u", help="CSV (UTF-8) or Parquet file of your reviews, one a row.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the adapted review model.")],
    text_column: Annotated[str, typer.Option(help="Column holding the review text.")] = "review",
    model: Annotated[
        Path | None, typer.Option(help="Review model to adapt (default: data/processed/review_model); never changed.")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="A verdict becomes a pseudo-label when its probability is >= this or <= 1 - this.")
    ] = 0.9,
    rounds: Annotated[int, typer.Option(help="Self-training rounds (label, refit; again).", min=1, max=5)] = 1,
    balance: Annotated[
        bool,
        typer.Option(
            "--balance/--no-balance", help="Keep as many pseudo-labelled complaints as non-complaints (most confident)."
        ),
    ] = True,
) -> None:
    """Adapt the review model to your own unlabelled reviews: its confident verdicts on them become
    pseudo-labels and its n-gram partner is refitted on the labelled corpus plus those (docs/evaluation.md)."""
    import json

    from models.text.config import DEFAULT_REVIEW_MODEL
    from training.text.domains import AdaptConfig, ReviewFileError, read_review_texts, self_train
    from training.text.pretrain import command_line

    if not 0.5 < threshold < 1.0:
        fail(f"--threshold {threshold}: must lie strictly between 0.5 and 1")
    source = model or DEFAULT_REVIEW_MODEL
    if out.resolve() == Path(source).resolve():
        fail(f"--out {out} is the model being adapted: write the adapted model elsewhere")
    try:
        texts = read_review_texts(unlabelled, text_column)
        report = self_train(
            source,
            texts,
            out,
            settings=AdaptConfig(threshold=threshold, rounds=rounds, balance=balance),
            command=command_line(),
            progress=typer.echo,
        )
    except (ReviewFileError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    typer.echo(f"saved {out}")
