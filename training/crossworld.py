"""Evaluation across worlds: does the pipeline rank well on a market whose story we did not write it for?

Each world is a simulated market with ground truth (`training.simulator`, the first world `a`; the
evaluation world `b` of `training.worlds.market_b`). For every ordered pair (train world, test world) the
listing pipeline and the `lab_fail` model are fitted on the train world's training split exactly as
`choujian train` fits them (`listing_design`, `fit_listing_models`, the config's split), and score the test
world's held-out listings (held-out lab results hidden):

- the diagonal (train = test) is the recipe refitted on a world's own lab results: what a regulator who
  runs Choujian on that market gets;
- off the diagonal, the model fitted on one world scores another as it is: no local label at all.

Ablations remove blocks of features by name prefix from the fitted design before the model is trained (the
pipeline's blocks are independent, so this equals a pipeline without the block; `no_x+no_y` drops both): lexicon hits,
reviews, the review scorer's reading of them, merchant and identity features (with or without the pooled identity
rates), tokens, and the label-driven blocks. The transformer review and
listing text models are off unless `transformer=True`; with them on, `no_transformer` refits without.

Hits are realised lab outcomes (`fails`) of every held-out listing; `expected_*` uses the true `p_fail`
of the bought listings instead (noise-free). Numbers per seed and their mean over seeds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.market import Market
from models.bundle import as_matrix
from training import metrics as M
from training.config import TrainConfig
from training.fit import ListingDesign, fit_listing_models, listing_design
from training.holdout import holdout_scoring_market

logger = logging.getLogger(__name__)

_CLAIMS = ("absolute_claim", "efficacy_claim", "counterfeit_cue")
#: ablation name -> feature-name prefixes removed
ABLATIONS: dict[str, tuple[str, ...]] = {
    "full": (),
    "no_lexicon": (
        *(f"text__{f}_{k}_hits" for f in ("title", "desc") for k in _CLAIMS),
        "text__title_evasion_hits",
        "text__desc_evasion_hits",
        "text__repeated_claims",
        "text__claim_kinds_present",
    ),
    "no_reviews": ("reviews__",),
    # the review scorer's reading of the review texts (the transformer review model with --transformer, else
    # the complaint lexicon); ratings, counts, recency and counterfeit mentions stay
    "no_review_model": tuple(
        f"reviews__{n}" for n in ("mean_complaint_p", "share_complaint_text", "share_negative", "n_negative")
    ),
    "no_merchant": ("merchant__",),
    # every feature of the merchant and its linked identity, the pooled identity rates included
    "no_identity": ("merchant__", "pool__identity_"),
    "no_merchant_lab": ("merchant__lab_",),
    "no_tokens": ("text__tok",),
    "no_price": ("price__",),
    "no_pooled": ("pool__",),
    "no_relprice": ("relprice__",),
    "no_textrisk": ("textrisk__",),
}
WORLDS = ("a", "b")


@dataclass(frozen=True)
class CrossWorldRun:
    """How big a cross-world run `choujian evaluate --cross-world` makes (see `cross_world_report`)."""

    seeds: tuple[int, ...] = (7,)
    merchants: int = 1000
    listings: int = 15_000
    ablations: tuple[str, ...] = tuple(ABLATIONS)
    transformer: bool = False


@dataclass
class World:
    """A simulated market and its ground truth."""

    name: str
    seed: int
    market: Market
    truth: pd.DataFrame


def make_world(name: str, *, merchants: int, listings: int, seed: int) -> World:
    """Generate world `a` (the product's simulator) or `b` (the evaluation world)."""
    if name == "a":
        from training.simulator import simulate

        sim = simulate(merchants, listings, seed=seed)
    elif name == "b":
        from training.worlds.market_b import simulate_b

        sim = simulate_b(merchants, listings, seed=seed)
    else:
        raise ValueError(f"unknown world {name!r}: choose from {WORLDS}")
    return World(name=name, seed=seed, market=sim.market, truth=sim.truth_listings)


def ranking_metrics(
    scores: NDArray[np.float64], y: NDArray[np.float64], p_true: NDArray[np.float64], *, seed: int
) -> dict[str, float | None]:
    """AUC, PR-AUC, captured lift at each budget (realised hits) and its expected (true p_fail) version."""
    from training.simulator import auc

    out: dict[str, float | None] = {"auc": auc(scores, y), "pr_auc": M.pr_auc(scores, y)}
    base, base_p = float(y.mean()), float(p_true.mean())
    for b in M.BUDGETS:
        key, k = M.budget_key(b), M.top_k(b, len(y))
        top = M.rank_order(scores, seed=seed)[:k]
        best = M.rank_order(p_true, seed=seed)[:k]
        out[f"captured_lift_{key}"] = M.captured_lift(float(y[top].mean()), base, float(y[best].mean()))
        out[f"expected_captured_lift_{key}"] = M.captured_lift(
            float(p_true[top].mean()), base_p, float(p_true[best].mean())
        )
    return out


def drops(ablation: str) -> tuple[str, ...]:
    """Feature-name prefixes an ablation removes; `a+b` removes both ablations' prefixes."""
    return tuple(p for part in ablation.split("+") for p in ABLATIONS.get(part, ()))


def _keep(names: Sequence[str], drop: Sequence[str]) -> NDArray[np.bool_]:
    return np.array([not any(n.startswith(p) for p in drop) for n in names], dtype=bool)


def _holdout(world: World, config: TrainConfig) -> tuple[pd.DataFrame, list[str]]:
    """The test world's frame (held-out lab results hidden) restricted to its held-out listings."""
    import features

    market, held = holdout_scoring_market(world.market, config.split)
    frame = features.listing_frame(market)
    keep = frame["listing_id"].astype(str).isin(set(held)).to_numpy()
    return frame[keep].reset_index(drop=True), frame["listing_id"].astype(str)[keep].tolist()


def _truth(world: World, ids: list[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = world.truth.set_index(world.truth["listing_id"].astype(str)).reindex(ids)
    return t["fails"].to_numpy(dtype=float), t["p_fail"].to_numpy(dtype=float)


def _fit_score(
    design: ListingDesign, config: TrainConfig, keep: NDArray[np.bool_], tests: dict[str, NDArray[np.float64]]
) -> dict[str, NDArray[np.float64]]:
    """Fit the lab_fail model on the kept columns and score each test matrix."""
    sub = replace(design, X=design.X[:, keep], names=[n for n, k in zip(design.names, keep, strict=True) if k])
    model = fit_listing_models(sub, config, risks=("lab_fail",), progress=lambda _m: None)["lab_fail"]
    return {name: model.predict_proba(X[:, keep]) for name, X in tests.items()}


#: metrics whose spread over seeds the report gives
SPREAD = ("auc", *(f"captured_lift_{M.budget_key(b)}" for b in M.BUDGETS))


def _spread(cells: list[dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """Per headline metric, the standard deviation (ddof 0), minimum and maximum over seeds."""
    out: dict[str, dict[str, float]] = {}
    for k in SPREAD:
        vals = [float(v) for c in cells if (v := c.get(k)) is not None]
        if vals:
            out[k] = {"sd": float(np.std(vals)), "min": min(vals), "max": max(vals)}
    return out


def _mean(cells: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in cells[0]:
        vals = [c[k] for c in cells if c[k] is not None]
        out[k] = float(np.mean([v for v in vals if v is not None])) if vals else None
    return out


_Cells = dict[str, dict[str, dict[str, list[dict[str, float | None]]]]]


def _variants(config: TrainConfig, *, transformer: bool, ablations: Sequence[str]) -> dict[str, TrainConfig]:
    """The configs to fit: `""` (without the transformer unless `transformer`) and, with it, `no_transformer`."""
    base_cfg = config
    if not transformer:
        base_cfg = config.model_copy(
            update={"review_model": None, "listing_text": config.listing_text.model_copy(update={"enabled": False})}
        )
    variants: dict[str, TrainConfig] = {"": base_cfg}
    if transformer and "no_transformer" in ablations:
        variants["no_transformer"] = config.model_copy(
            update={"review_model": None, "listing_text": config.listing_text.model_copy(update={"enabled": False})}
        )
    return variants


def _test_matrices(
    design: ListingDesign,
    train_w: str,
    worlds: Sequence[str],
    held: dict[str, tuple[pd.DataFrame, list[str]]],
    seed: int,
    step: Callable[[str], None],
) -> dict[str, NDArray[np.float64]]:
    """Each world's held-out rows through world `train_w`'s fitted pipeline (its own rows from its design)."""
    ids = design.frame["listing_id"].astype(str)
    pos = pd.Series(np.arange(len(ids)), index=ids)
    tests: dict[str, NDArray[np.float64]] = {}
    for test_w in worlds:
        if test_w == train_w:
            tests[test_w] = design.X[pos.reindex(held[test_w][1]).to_numpy()]
        else:
            step(f"seed {seed}: scoring world {test_w} with world {train_w}'s pipeline")
            tests[test_w] = as_matrix(design.pipeline.transform(held[test_w][0]))
    return tests


def _seed_cells(
    seed: int,
    worlds: Sequence[str],
    made: dict[str, World],
    variants: dict[str, TrainConfig],
    ablations: Sequence[str],
    review_scorer: Any,
    step: Callable[[str], None],
    per_seed: _Cells,
) -> None:
    """Append seed `seed`'s metrics of every variant / ablation, train world and test world to `per_seed`."""
    held = {w: _holdout(made[w], variants[""]) for w in worlds}
    for variant, cfg in variants.items():
        for train_w in worlds:
            step(f"seed {seed}: fitting the pipeline on world {train_w}{' (' + variant + ')' if variant else ''}")
            scorer = review_scorer if variant == "" else None
            design = _fit_design(made[train_w], cfg, scorer)
            tests = _test_matrices(design, train_w, worlds, held, seed, step)
            names = [variant] if variant else [a for a in ablations if a != "no_transformer"]
            for ab in names:
                keep = _keep(design.names, drops(ab))
                scored = _fit_score(design, cfg, keep, tests)
                for test_w, s in scored.items():
                    y, p = _truth(made[test_w], held[test_w][1])
                    cell = ranking_metrics(s, y, p, seed=cfg.seed)
                    per_seed.setdefault(ab, {}).setdefault(train_w, {}).setdefault(test_w, []).append(cell)


def _per_cell(per_seed: _Cells, summary: Callable[[list[dict[str, float | None]]], Any]) -> dict[str, Any]:
    return {
        ab: {tr: {te: summary(cells) for te, cells in row.items()} for tr, row in rows.items()}
        for ab, rows in per_seed.items()
    }


def cross_world_report(
    config: TrainConfig,
    *,
    worlds: Sequence[str] = WORLDS,
    merchants: int = 1000,
    listings: int = 15_000,
    seeds: Sequence[int] = (7,),
    ablations: Sequence[str] = tuple(ABLATIONS),
    transformer: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train-on-X / test-on-Y captured lift and AUC for every world pair, ablation and seed.

    Returns `{"matrix": {ablation: {train: {test: mean metrics}}}, "spread": {ablation: {train: {test: {metric:
    {sd, min, max}}}}}, "per_seed": ..., "setup": ...}`.
    """
    from training.fit import resolve_review_scorer

    step = progress or (lambda msg: logger.info(msg))
    unknown = [p for a in ablations for p in a.split("+") if p not in ABLATIONS and p != "no_transformer"]
    if unknown:
        raise ValueError(f"unknown ablation(s) {unknown}: choose from {[*ABLATIONS, 'no_transformer']}")
    t0 = time.perf_counter()
    variants = _variants(config, transformer=transformer, ablations=ablations)
    base_cfg = variants[""]
    review_scorer, _ = resolve_review_scorer(base_cfg.review_model, backend=base_cfg.review_backend)
    per_seed: _Cells = {}
    for seed in seeds:
        made = {w: make_world(w, merchants=merchants, listings=listings, seed=seed) for w in worlds}
        step(f"seed {seed}: generated worlds {', '.join(worlds)}")
        _seed_cells(seed, worlds, made, variants, ablations, review_scorer, step, per_seed)
    return {
        "setup": {
            "worlds": list(worlds),
            "merchants": merchants,
            "listings": listings,
            "seeds": list(seeds),
            "holdout_share": base_cfg.split.holdout_share,
            "transformer": transformer,
            "ablations": {a: list(drops(a)) for a in ablations},
            "hits": "realised `fails` of every held-out listing of the test world; expected_*: true p_fail",
        },
        "matrix": _per_cell(per_seed, _mean),
        "spread": _per_cell(per_seed, _spread),
        "per_seed": per_seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _fit_design(world: World, config: TrainConfig, review_scorer: Any) -> ListingDesign:
    listing_text = None
    if config.listing_text.enabled:
        from training.fit import fit_listing_text
        from training.labels import holdout_mask

        ids = world.market.listings["listing_id"].astype(str)
        seen = world.market.without_lab_results(ids[holdout_mask(ids, config.split)])
        listing_text = fit_listing_text(seen, config.listing_text)
    return listing_design(world.market, config, review_scorer=review_scorer, listing_text=listing_text)


def world_section(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a cross-world report that `choujian evaluate --cross-world` puts in `reports/evaluation.json`.

    `per_world[<world>][<ablation>]`: the diagonal (the recipe refitted on the world's own labels) of every
    ablation; `matrix[<train>][<test>]`: the full pipeline. Each cell: mean metrics over seeds and `spread`.
    """

    def cell(ab: str, tr: str, te: str) -> dict[str, Any]:
        return {**report["matrix"][ab][tr][te], "spread": report["spread"][ab][tr][te]}

    worlds = report["setup"]["worlds"]
    ablations = list(report["matrix"])
    main = "full" if "full" in report["matrix"] else ablations[0]
    return {
        "setup": report["setup"],
        "per_world": {w: {ab: cell(ab, w, w) for ab in ablations} for w in worlds},
        "matrix": {tr: {te: cell(main, tr, te) for te in worlds} for tr in worlds},
        "matrix_ablation": main,
        "seconds": report["seconds"],
    }


def summary_rows(report: dict[str, Any], *, ablation: str = "full") -> list[dict[str, Any]]:
    """One row per (train world, test world) of an ablation: the mean metrics, for printing."""
    rows = []
    for tr, row in report["matrix"].get(ablation, {}).items():
        for te, cell in row.items():
            rows.append({"ablation": ablation, "train": tr, "test": te, **cell})
    return rows


__all__ = [
    "ABLATIONS",
    "CrossWorldRun",
    "WORLDS",
    "World",
    "cross_world_report",
    "drops",
    "make_world",
    "ranking_metrics",
    "summary_rows",
    "world_section",
]
