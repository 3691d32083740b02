"""`choujian lexicon accept|reject|history`: an analyst's decisions on the lexicon suggestions of `choujian cues`.

The folder changed is `CHOUJIAN_LEXICON_DIR` (default the shipped data/lexicons), the one training reads, so
the next `choujian train` uses an accepted phrase and records the new lexicon version in its bundle.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import fail

lexicon_app = typer.Typer(
    help="Accept or reject lexicon suggestions (from `choujian cues`) and show the lexicon's history.",
    no_args_is_help=True,
)

Who = Annotated[str, typer.Option("--by", help="Who decides (a name or staff id), kept in the history.")]
Note = Annotated[str, typer.Option(help="Why, in a few words (kept in the history).")]
Data = Annotated[
    Path | None,
    typer.Option("--data", help="Market directory with lab results: its figures for the phrase go in the history."),
]
Target = Annotated[str, typer.Option(help="What failing means for those figures (as in `choujian cues`).")]


def _evidence(data: Path | None, phrase: str, target: str) -> dict[str, Any]:
    """The mined figures of `phrase` in the market at `data` (empty without one)."""
    if data is None or not phrase.strip():
        return {}
    from features.cues import TARGETS, CueMiner
    from features.lexicon import Lexicon
    from features.market import RecordError, load_market

    if target not in TARGETS:
        fail(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    try:
        market = load_market(data)
        lexicon = Lexicon.load()
    except (FileNotFoundError, RecordError) as e:
        fail(str(e))
    return {"market": str(data.resolve()), **CueMiner(market, target=target).describe(phrase, lexicon)}


def _decide(action: str, phrase: str, **kwargs: Any) -> None:
    from core.settings import shared_settings
    from features import lexicon_changes

    directory = shared_settings().lexicon_path()
    try:
        change = getattr(lexicon_changes, action)(directory, phrase, **kwargs)
    except (lexicon_changes.LexiconChangeError, FileNotFoundError) as e:
        fail(str(e))
    if action == "accept":
        typer.echo(f"accepted {change.phrase!r} into {change.kind} ({directory}): {change.kind} is now version "
                   f"{change.kind_version}; the next `choujian train` uses it")  # fmt: skip
    else:
        typer.echo(f"rejected {change.phrase!r} ({directory}): it will not be suggested again")


@lexicon_app.command("accept")
def accept_command(
    phrase: Annotated[str, typer.Argument(help="The phrase to add, as `choujian cues` shows it.")],
    kind: Annotated[str, typer.Option(help="The lexicon it joins, e.g. counterfeit_cue, absolute_claim.")],
    by: Who,
    data: Data = None,
    target: Target = "lab_fail",
    note: Note = "",
) -> None:
    """Add a phrase to a lexicon: a new lexicon version, recorded with who, when and the evidence."""
    _decide("accept", phrase, kind=kind, by=by, evidence=_evidence(data, phrase, target), note=note)


@lexicon_app.command("reject")
def reject_command(
    phrase: Annotated[str, typer.Argument(help="The suggested phrase not to add.")],
    by: Who,
    kind: Annotated[str, typer.Option(help="The lexicon it was suggested for (optional).")] = "",
    data: Data = None,
    target: Target = "lab_fail",
    note: Note = "",
) -> None:
    """Record that a suggested phrase does not belong in a lexicon; `choujian cues` stops suggesting it."""
    _decide("reject", phrase, kind=kind, by=by, evidence=_evidence(data, phrase, target), note=note)


@lexicon_app.command("history")
def history_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON lines.")] = False,
) -> None:
    """The lexicon folder's version and every accepted or rejected phrase, oldest first."""
    from rich.console import Console
    from rich.table import Table

    from core.settings import shared_settings
    from features.lexicon import Lexicon
    from features.lexicon_changes import history

    directory = shared_settings().lexicon_path()
    try:
        lexicon = Lexicon.load(directory)
        changes = history(directory)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if as_json:
        for c in changes:
            typer.echo(json.dumps(asdict(c), ensure_ascii=False, sort_keys=True))
        return
    table = Table(title=f"lexicon {directory} — version {lexicon.version}")
    for name in ("at", "action", "phrase", "kind", "kind version", "fail/pass", "by", "note"):
        table.add_column(name)
    for c in changes:
        counts = f"{c.evidence['n_fail']}/{c.evidence['n_pass']}" if "n_fail" in c.evidence else "—"
        table.add_row(c.at, c.action, c.phrase, c.kind or "—", c.kind_version or "—", counts, c.by, c.note)
    Console(width=160).print(table)
    if not changes:
        typer.echo("no changes: the lexicon is as shipped")
