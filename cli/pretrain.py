"""`choujian pretrain`: masked-language-model pre-training of the compact Chinese encoder.

Kept light at import time (only typer): the heavy imports live inside the command.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("configs/pretrain.yaml")
DEFAULT_OUT = Path("data/pretrained/choujian-bert-mini")


def pretrain_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Pre-training YAML config.")] = DEFAULT_CONFIG,
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint directory to write.")] = DEFAULT_OUT,
    max_steps: Annotated[int | None, typer.Option(help="Override the config's max_steps (quick runs).", min=1)] = None,
    threads: Annotated[int | None, typer.Option(help="Override the config's CPU threads.", min=1)] = None,
) -> None:
    """Pre-train the compact BERT encoder from scratch (MLM) on the corpora's train splits."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from models.text.config import PretrainConfig, load_config
    from training.text.pretrain import command_line, pretrain

    cfg = load_config(config, PretrainConfig)
    if max_steps is not None:
        cfg = cfg.model_copy(update={"max_steps": max_steps})
    if threads is not None:
        cfg = cfg.model_copy(update={"num_threads": threads})
    with Progress(
        TextColumn("[bold]pre-training"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("pretrain", total=cfg.max_steps, loss=float("nan"))

        def on_step(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, loss=loss)

        prov = pretrain(cfg, out, command=command_line(), progress=on_step)
    typer.echo(
        f"saved {out}: {prov['steps']} steps, held-out MLM loss {prov['final_eval_loss']:.3f}, "
        f"{prov['checkpoint_bytes'] / 1e6:.1f} MB, {prov['wall_seconds']:.0f} s"
    )
