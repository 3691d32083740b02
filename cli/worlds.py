"""The `choujian` commands for evaluation worlds and analysts: `simulate-world`, `cross-world`, `cues` (lexicon
suggestions; `choujian lexicon accept|reject|history` in cli/lexicon.py decides on them).

Plain functions plus `register(app)`, so the one CLI adds them with a single call; heavy imports stay
inside the functions so `choujian --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import fail

if TYPE_CHECKING:
    from rich.table import Table

DEFAULT_CONFIG = Path("configs/train.yaml")


def _words(text: str) -> list[str]:
    return [x for x in text.replace(",", " ").split() if x]


def parse_seeds(text: str, *, option: str = "--seeds") -> list[int]:
    """Comma-separated integer seeds; one `error:` line naming the option otherwise."""
    words = _words(text)
    if not words or not all(w.lstrip("-").isdigit() for w in words):
        fail(f"{option}: expected comma-separated integers, got {text!r}")
    return [int(w) for w in words]


def parse_ablations(text: str, *, transformer: bool, option: str = "--ablations") -> list[str]:
    """`all` (with the transformer models: and `no_transformer`) or comma-separated known ablations, `a+b`
    combining two; one `error:` line naming the option and the choices otherwise."""
    from training.crossworld import ABLATIONS

    known = [*ABLATIONS, "no_transformer"]
    if text.strip() == "all":
        return [*ABLATIONS, *(["no_transformer"] if transformer else [])]
    names = _words(text)
    unknown = [p for a in names for p in a.split("+") if p not in known]
    if not names or unknown:
        fail(f"{option}: unknown ablation(s) {', '.join(unknown) or repr(text)}; choose from all, {', '.join(known)}")
    return names


def simulate_world_command(
    out: Annotated[Path, typer.Option(help="Directory to write the market and its ground truth to.")],
    world: Annotated[str, typer.Option(help="Which world: a (the product's simulator) or b (evaluation world).")] = "b",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    merchants: Annotated[int, typer.Option(min=1, help="Number of shops.")] = 1000,
    listings: Annotated[int, typer.Option(min=1, help="Number of listings.")] = 15_000,
) -> None:
    """Write a simulated market of the named world (tables, ground truth, manifest.json)."""
    from training.simulator import simulate, write_simulation
    from training.worlds.market_b import simulate_b

    if world not in ("a", "b"):
        raise typer.BadParameter("world must be a or b")
    sim = (simulate_b if world == "b" else simulate)(merchants, listings, seed=seed)
    write_simulation(sim, out)
    typer.echo(json.dumps(sim.manifest.get("rates", {}), ensure_ascii=False, indent=2))


def cross_world_command(
    config: Annotated[Path, typer.Option("--config", help="Training config YAML.")] = DEFAULT_CONFIG,
    worlds: Annotated[str, typer.Option(help="Worlds, comma-separated (a, b).")] = "a,b",
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated; the report gives each and their mean.")] = "7",
    merchants: Annotated[int, typer.Option(min=10, help="Shops per world.")] = 1000,
    listings: Annotated[int, typer.Option(min=100, help="Listings per world.")] = 15_000,
    ablations: Annotated[str, typer.Option(help="Ablations, comma-separated (see training.crossworld).")] = "all",
    transformer: Annotated[
        bool, typer.Option("--transformer/--no-transformer", help="Use the config's transformer models.")
    ] = False,
    out: Annotated[Path, typer.Option(help="JSON report to write.")] = Path("reports/crossworld.json"),
) -> None:
    """Train on one world, test on another: captured lift at 1/5/10% and AUC, with per-world ablations."""
    from rich.console import Console
    from rich.table import Table

    from cli.models import _progress
    from training.config import load_config
    from training.crossworld import cross_world_report, summary_rows

    cfg = load_config(config)
    names = parse_ablations(ablations, transformer=transformer)
    with _progress("cross-world") as step:
        report = cross_world_report(
            cfg,
            worlds=_words(worlds),
            merchants=merchants,
            listings=listings,
            seeds=parse_seeds(seeds),
            ablations=names,
            transformer=transformer,
            progress=step,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    table = Table(title=f"train → test, mean over seeds {seeds}  ({out})")
    cols = ("captured_lift_0.01", "captured_lift_0.05", "captured_lift_0.1", "expected_captured_lift_0.05", "auc")
    for c in ("ablation", "train", "test", *cols):
        table.add_column(c.replace("captured_lift", "lift"), justify="right")
    for ab in report["matrix"]:
        for row in summary_rows(report, ablation=ab):
            table.add_row(*(str(row[c]) for c in ("ablation", "train", "test")), *(_fmt(row[c]) for c in cols))
    Console().print(table)


def cues_command(
    data: Annotated[Path, typer.Option("--data", help="Market directory with lab results.")],
    target: Annotated[
        str, typer.Option(help="What failing means: lab_fail, counterfeit, false_advertising, quality, three_no.")
    ] = "lab_fail",
    top: Annotated[int, typer.Option(min=1, help="Phrases to list.")] = 30,
    min_count: Annotated[int, typer.Option(min=1, help="Failing listings a phrase must appear in.")] = 5,
    out: Annotated[Path | None, typer.Option(help="Also write the table as CSV (UTF-8).")] = None,
) -> None:
    """Lexicon suggestions: phrases in no lexicon (nor rejected) that separate failing from passing listings."""
    from rich.console import Console
    from rich.table import Table

    from cli.common import fail
    from core.settings import shared_settings
    from features.cues import TARGETS, MiningConfig, cue_table_rows, evidence_summary, mine_cues
    from features.lexicon import Lexicon
    from features.lexicon_changes import rejected_phrases
    from features.market import RecordError, load_market

    if target not in TARGETS:
        fail(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    directory = shared_settings().lexicon_path()
    try:
        market = load_market(data)
        lexicon = Lexicon.load(directory)
        rejected = rejected_phrases(directory)
    except (FileNotFoundError, RecordError, ValueError) as e:
        fail(str(e))
    cfg = MiningConfig(top=top, min_fail_count=min_count)
    df = mine_cues(market, target=target, lexicon=lexicon, config=cfg, exclude=rejected)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        df.assign(evidence=[evidence_summary(e) for e in df["evidence"]]).to_csv(out, index=False, encoding="utf-8")
    table = Table(title=f"lexicon suggestions for {target} (in no lexicon of {directory}), by log-odds z — {data}")
    cols = ("phrase", "suggested", "n_fail", "n_pass", "share_fail", "share_pass", "lift", "log_odds", "z", "example")
    for c in cols:
        table.add_column(c, justify="left" if c in ("phrase", "suggested", "example") else "right")
    for row in cue_table_rows(df):
        table.add_row(*row)
    Console(width=160).print(table)
    if len(df):
        typer.echo(f"accept one: choujian lexicon accept PHRASE --kind KIND --by NAME --data {data} --target {target}")


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def world_table(section: dict[str, Any]) -> Table:
    """`evaluate --cross-world`'s section as a table: every world's ablations, then the train → test matrix."""
    from rich.table import Table

    setup = section["setup"]
    table = Table(
        title=f"across worlds: {setup['merchants']:,} shops / {setup['listings']:,} listings, seeds "
        f"{', '.join(map(str, setup['seeds']))} (mean; ± sd over seeds at 5%)"
    )
    cols = ("captured_lift_0.01", "captured_lift_0.05", "captured_lift_0.1", "auc")
    for c in ("train → test", "ablation", *(c.replace("captured_lift", "lift") for c in cols), "± sd 5%"):
        table.add_column(c, justify="left" if c in ("train → test", "ablation") else "right")

    def row(label: str, ab: str, cell: dict[str, Any]) -> None:
        sd = cell.get("spread", {}).get("captured_lift_0.05", {}).get("sd")
        table.add_row(label, ab, *(_fmt(cell.get(c)) for c in cols), _fmt(sd))

    for w, abl in section["per_world"].items():
        for ab, cell in abl.items():
            row(f"{w} → {w}", ab, cell)
    for tr, r in section["matrix"].items():
        for te, cell in r.items():
            if te != tr:
                row(f"{tr} → {te}", section["matrix_ablation"], cell)
    return table


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `choujian` app."""
    app.command("simulate-world")(simulate_world_command)
    app.command("cross-world")(cross_world_command)
    app.command("cues")(cues_command)
