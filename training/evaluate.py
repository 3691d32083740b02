"""`choujian evaluate`: an honest comparison of ranking methods on the same held-out listings and budget.

The held-out listings are the ones the evaluated model never learnt from (the split recorded in its
bundle). Every method ranks ALL of them, and a "hit" is the simulator's realised lab outcome `fails`
of each listing, labelled or not, so the numbers describe the market rather than the past, risk-biased
samples. Methods:

- `random`: expected hit rate of simple random sampling = the held-out failure rate;
- `rules`: lexicon evidence only (count of claim / counterfeit-cue hits in the listing's own text);
- `tfidf_lr`: character 1–2-gram TF-IDF of title + description, logistic regression on the lab labels;
- `lightgbm`: the LightGBM pipeline without the transformer review model, trained here on the same split;
- `lightgbm_transformer`: the registered model being evaluated (LightGBM + transformer review scores);
- `oracle`: ranking by the simulator's true failure probability `p_fail` (the best any model could do).

With `--cross-world` (`CrossWorldRun`), the same report also carries the evaluated model's recipe refitted on
the simulated worlds `a` (this simulator) and `b` (`training.worlds.market_b`): per world the captured lift at
1/5/10% and AUC with every ablation, and the train-on-one / test-on-the-other matrix (`training.crossworld`).

`docs/evaluation.md` documents every key of the JSON this writes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.market import Market, failure_type_flags
from models.bundle import ScorerBundle
from models.contract import LISTING_RISKS
from training import metrics as M
from training.config import TrainConfig
from training.crossworld import CrossWorldRun
from training.fit import fit_listing_models, listing_design
from training.holdout import holdout_scoring_market, load_ground_truth, observed_holdout_metrics
from training.train import fingerprint

logger = logging.getLogger(__name__)

METHODS = ("random", "rules", "tfidf_lr", "lightgbm", "lightgbm_transformer", "oracle")
#: the method whose captured lift is the headline number
HEADLINE = "lightgbm_transformer"
TARGET_LIFT_AT_5 = 0.8
LIFT_SHARES = tuple(float(x) for x in np.round(np.geomspace(0.005, 0.5, 25), 4))


def _rules_scores(market: Market, listing_ids: list[str]) -> NDArray[np.float64]:
    """Lexicon-only risk: number of evidence spans in a listing's own title and description."""
    import features

    ev = features.evidence(market)
    counts = {str(k): sum(1 for e in v if e.field in ("title", "description")) for k, v in ev.items()}
    return np.array([counts.get(i, 0) for i in listing_ids], dtype=np.float64)


def _listing_text(listings: pd.DataFrame) -> pd.Series:
    return listings["title"].fillna("").astype(str) + " " + listings["description"].fillna("").astype(str)


def _tfidf_lr_scores(
    market: Market, train_ids: pd.Index, y: NDArray[np.float64], w: NDArray[np.float64], score_ids: list[str]
) -> NDArray[np.float64]:
    """TF-IDF (character 1–2-grams) + logistic regression trained on the labelled training listings."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    listings = market.listings.set_index(market.listings["listing_id"].astype(str))
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True)
    X_train = vec.fit_transform(_listing_text(listings.loc[train_ids]))
    lr = LogisticRegression(C=1.0, max_iter=2000)
    lr.fit(X_train, y.astype(int), sample_weight=w)
    return np.asarray(lr.predict_proba(vec.transform(_listing_text(listings.loc[score_ids])))[:, 1])


def review_metrics(bundle: ScorerBundle) -> dict[str, Any]:
    """Review-model accuracy on the official test split, as recorded by `choujian reviews train`."""
    model = bundle.review_model
    source = "bundle"
    if model is None:
        try:
            from models.text import load_review_model

            model, source = load_review_model(), "default review model path"
        except (FileNotFoundError, ImportError) as e:
            return {"accuracy": None, "baseline_accuracy": None, "n_test": None, "note": f"no review model: {e}"}
    m = dict(getattr(model, "meta", {}).get("metrics", {}))
    test = m.get("test", {})
    return {
        "accuracy": test.get("accuracy"),
        "baseline_accuracy": test.get("baseline_accuracy"),
        "n_test": m.get("n_test"),
        "transformer_accuracy": test.get("transformer_accuracy"),
        "ngram_partner_accuracy": test.get("partner_accuracy"),
        "mode": m.get("mode"),
        "backend": m.get("backend"),
        "cascade": m.get("cascade", False),
        "transformer_share": test.get("transformer_share"),
        "texts_per_second": test.get("texts_per_second"),
        "source": f"{source}: {getattr(model, 'path', '?')}",
        "split": "online_shopping_10_cats official test split (md5 rule, training/corpus.py)",
    }


def _ranking_block(
    scores: dict[str, NDArray[np.float64]], y: NDArray[np.float64], p_true: NDArray[np.float64], *, seed: int
) -> dict[str, Any]:
    """Hit rates per budget for every method, captured lifts, and the noise-free expected variants."""
    out: dict[str, Any] = {}
    base = float(y.mean())
    base_p = float(p_true.mean())
    for share in M.BUDGETS:
        k = M.top_k(share, len(y))
        row: dict[str, Any] = {"k": k, "random": base}
        expected: dict[str, float] = {"random": base_p}
        for name, s in scores.items():
            order = M.rank_order(s, seed=seed)[:k]
            row[name] = float(y[order].mean())
            expected[name] = float(p_true[order].mean())
        lifts = {name: M.captured_lift(row[name], base, row["oracle"]) for name in scores if name not in ("oracle",)}
        lifts_exp = {
            name: M.captured_lift(expected[name], base_p, expected["oracle"]) for name in scores if name != "oracle"
        }
        row["captured_lift"] = lifts.get(HEADLINE)
        row["captured_lift_by_method"] = lifts
        row["expected_hit_rate"] = expected
        row["expected_captured_lift_by_method"] = lifts_exp
        out[M.budget_key(share)] = row
    return out


def _slices(
    category: NDArray[np.str_], scores: dict[str, NDArray[np.float64]], y: NDArray[np.float64], *, seed: int
) -> dict[str, Any]:
    """Per-category hit rates at the 5% budget (ranking within the category) and headline captured lift."""
    out: dict[str, Any] = {}
    for cat in sorted(set(category)):
        m = category == cat
        yc = y[m]
        row: dict[str, Any] = {"n": int(m.sum()), "fail_rate": float(yc.mean())}
        rates = {name: M.hit_rate(s[m], yc, 0.05, seed=seed) for name, s in scores.items()}
        row["hit_rate_0.05"] = {"random": float(yc.mean()), **rates}
        row["captured_lift_0.05"] = M.captured_lift(rates[HEADLINE], float(yc.mean()), rates["oracle"])
        out[str(cat)] = row
    return out


def _merchant_metrics(bundle: ScorerBundle, market: Market, data_dir: Path) -> dict[str, Any]:
    """Merchant complaint model against the simulator's complaint propensity (rank correlation, top-10%)."""
    path = data_dir / "ground_truth_merchants.parquet"
    if not path.exists():
        return {}
    truth = pd.read_parquet(path)
    # the scores serving sees: fixed at training for known merchants, computed for new ones
    p = pd.Series({mid: rs.probability for mid, rs in bundle.merchant_risk(market, top_reasons=0).items()})
    t = truth.set_index(truth["merchant_id"].astype(str))["complaint_propensity"].reindex(p.index)
    ok = t.notna().to_numpy()
    pv, tv = p.to_numpy()[ok], t.to_numpy()[ok]
    from scipy.stats import spearmanr

    k = M.top_k(0.1, len(pv))
    model_top = float(tv[M.rank_order(pv)[:k]].mean())
    oracle_top = float(np.sort(tv)[::-1][:k].mean())
    return {
        "n_merchants": int(ok.sum()),
        "spearman_vs_complaint_propensity": float(spearmanr(pv, tv).statistic),
        "top_10pct_mean_propensity": model_top,
        "oracle_top_10pct_mean_propensity": oracle_top,
        "mean_propensity": float(tv.mean()),
        "expected_captured_lift_0.1": M.captured_lift(model_top, float(tv.mean()), oracle_top),
    }


def _type_metrics(risk: str, p: NDArray[np.float64], truth: pd.DataFrame, *, seed: int) -> dict[str, Any]:
    """Counterfeit / false-advertising models against the truth's per-type probability and realised types."""
    realised = failure_type_flags(truth["failure_types"], (risk,))[risk].to_numpy(dtype=float)
    p_true = truth[f"p_{risk}"].to_numpy(dtype=float)
    out: dict[str, Any] = {"prevalence": float(realised.mean()), "pr_auc": M.pr_auc(p, realised)}
    out["oracle_pr_auc"] = M.pr_auc(p_true, realised)
    out["brier"] = M.brier(p, realised)
    k = M.top_k(0.05, len(p))
    top, orc = float(p_true[M.rank_order(p, seed=seed)[:k]].mean()), float(np.sort(p_true)[::-1][:k].mean())
    out["expected_captured_lift_0.05"] = M.captured_lift(top, float(p_true.mean()), orc)
    return out


def _baseline_scores(
    market: Market, hold: Market, holdout_ids: list[str], config: TrainConfig, *, step: Callable[[str], None]
) -> tuple[dict[str, dict[str, NDArray[np.float64]]], dict[str, NDArray[np.float64]]]:
    """The baselines on the held-out listings: LightGBM without the transformer (both weightings; the
    config's is the `lightgbm` method), TF-IDF + logistic regression and the lexicon rules."""
    step("training the LightGBM baseline without the transformer (both weightings)")
    design = listing_design(market, config, review_scorer=None)
    pos = pd.Series(np.arange(len(design.frame)), index=design.frame["listing_id"].astype(str))
    hold_rows = pos.reindex(holdout_ids).to_numpy()
    plain: dict[str, dict[str, NDArray[np.float64]]] = {}
    for weighting in ("ipw", "none"):
        models = fit_listing_models(design, config, weighting=weighting, progress=lambda _m: None)
        plain[weighting] = {r: models[r].predict_proba(design.X[hold_rows]) for r in LISTING_RISKS}

    step("training TF-IDF + logistic regression baseline")
    lab = design.labels[design.has_label]
    lab_ids = design.frame["listing_id"].astype(str)[design.has_label]
    w = design.ipw[design.has_label].to_numpy() if config.weighting == "ipw" else np.ones(len(lab))
    tfidf = _tfidf_lr_scores(market, pd.Index(lab_ids), lab["lab_fail"].to_numpy(dtype=float), w, holdout_ids)

    step("lexicon rules baseline")
    scores = {
        "rules": _rules_scores(hold, holdout_ids),
        "tfidf_lr": tfidf,
        "lightgbm": plain[config.weighting]["lab_fail"],
    }
    return plain, scores


def _method_metrics(scores: dict[str, NDArray[np.float64]], y: NDArray[np.float64]) -> dict[str, Any]:
    """PR-AUC of every method and the Brier score of those that give probabilities (not the rules)."""
    methods: dict[str, Any] = {
        name: {"pr_auc": M.pr_auc(s, y), "brier": M.brier(s, y) if name != "rules" else None}
        for name, s in scores.items()
    }
    methods["random"] = {"pr_auc": float(y.mean()), "brier": M.brier(np.full(len(y), y.mean()), y)}
    return methods


def _weighting_comparison(
    plain: dict[str, dict[str, NDArray[np.float64]]],
    y: NDArray[np.float64],
    ranking: dict[str, Any],
    *,
    used: str,
    seed: int,
) -> dict[str, Any]:
    """The LightGBM baseline trained with 1/π weights against unweighted: what the weighting buys."""
    out: dict[str, Any] = {"used": used}
    for wname, preds in plain.items():
        p = preds["lab_fail"]
        out[wname] = {
            "pr_auc": M.pr_auc(p, y),
            "brier": M.brier(p, y),
            "mean_probability": float(p.mean()),
            **{
                f"captured_lift_{M.budget_key(b)}": M.captured_lift(
                    M.hit_rate(p, y, b, seed=seed), float(y.mean()), ranking[M.budget_key(b)]["oracle"]
                )
                for b in M.BUDGETS
            },
        }
    out["holdout_fail_rate"] = float(y.mean())
    return out


def _plots(
    scores: dict[str, NDArray[np.float64]], y: NDArray[np.float64], plot_dir: Path, *, seed: int
) -> dict[str, Path]:
    """PR curves, lift curves and calibration of the methods, as PNG files in `plot_dir`."""
    ordered = {k: scores[k] for k in ("rules", "tfidf_lr", "lightgbm", HEADLINE, "oracle")}
    curves = {"random": [float(y.mean())] * len(LIFT_SHARES)}
    curves.update({k: M.lift_curve(v, y, LIFT_SHARES, seed=seed) for k, v in ordered.items()})
    return {
        "pr_curves": M.plot_pr_curves({k: (v, y.astype(int)) for k, v in ordered.items()}, plot_dir / "pr_curves.png"),
        "lift": M.plot_lift(curves, LIFT_SHARES, plot_dir / "lift.png"),
        "calibration": M.plot_calibration(
            {k: M.calibration_table(scores[k], y) for k in ("tfidf_lr", "lightgbm", HEADLINE, "oracle")},
            plot_dir / "calibration.png",
        ),
    }


@dataclass(frozen=True)
class _Holdout:
    """The held-out listings of the evaluated market (`ids`, in ranking order) and their realised truth."""

    scoring_market: Market
    ids: list[str]
    market: Market
    truth: pd.DataFrame
    y: NDArray[np.float64]
    p_true: NDArray[np.float64]
    category: NDArray[np.str_]


def _ground_truth(data_dir: Path) -> pd.DataFrame:
    truth = load_ground_truth(data_dir)
    if truth is None:
        raise FileNotFoundError(
            f"{data_dir} has no ground_truth_listings.parquet: evaluation against realised failures needs a "
            "simulated market (`choujian simulate`); on your own data use the holdout metrics `train` logs"
        )
    return truth


def _load(model: str, data_dir: Path, step: Callable[[str], None]) -> tuple[ScorerBundle, TrainConfig, Market, bool]:
    """The registered model, its training config, the market, and whether the model was trained on this data."""
    from features.market import load_market
    from models.registry import load_scorer

    step(f"loading model {model!r}")
    bundle = load_scorer(model)
    config = TrainConfig.model_validate(bundle.metadata["config"])
    step(f"loading market from {data_dir}")
    market = load_market(data_dir)
    fp = fingerprint(data_dir)
    trained_on = bundle.metadata.get("data_fingerprint")
    same_data = trained_on == fp
    if trained_on is not None and not same_data:
        logger.warning("model was trained on different data than %s: held-out ids may not be unseen", data_dir)
    return bundle, config, market, same_data


def _holdout(market: Market, truth: pd.DataFrame, config: TrainConfig) -> _Holdout:
    scoring_market, holdout_ids = holdout_scoring_market(market, config.split)
    hold = scoring_market.subset(holdout_ids)
    t = truth.set_index(truth["listing_id"].astype(str)).reindex(holdout_ids)
    category = (
        hold.listings.set_index(hold.listings["listing_id"].astype(str))["category"].reindex(holdout_ids).to_numpy()
    )
    return _Holdout(
        scoring_market=scoring_market,
        ids=holdout_ids,
        market=hold,
        truth=t,
        y=t["fails"].to_numpy(dtype=float),
        p_true=t["p_fail"].to_numpy(dtype=float),
        category=category,
    )


def _holdout_sections(
    bundle: ScorerBundle,
    config: TrainConfig,
    market: Market,
    hold: _Holdout,
    data_dir: Path,
    step: Callable[[str], None],
) -> tuple[dict[str, NDArray[np.float64]], dict[str, Any]]:
    """Every method's scores on the held-out listings, and the report's sections from `review` to `by_category`."""
    step(f"scoring {len(hold.ids)} held-out listings with the registered model")
    reg_scores = bundle.score_frame(hold.market).set_index("listing_id").reindex(hold.ids)

    plain, scores = _baseline_scores(market, hold.market, hold.ids, config, step=step)
    scores[HEADLINE] = reg_scores["p_lab_fail"].to_numpy(dtype=float)
    scores["oracle"] = hold.p_true
    seed = config.seed
    ranking = _ranking_block(scores, hold.y, hold.p_true, seed=seed)
    methods = _method_metrics(scores, hold.y)
    weighting_cmp = _weighting_comparison(plain, hold.y, ranking, used=config.weighting, seed=seed)

    risks = {
        r: _type_metrics(r, reg_scores[f"p_{r}"].to_numpy(dtype=float), hold.truth, seed=seed)
        for r in ("counterfeit", "false_advertising")
    }
    step("merchant model and review model")
    merchant = _merchant_metrics(bundle, hold.scoring_market, data_dir)
    review = review_metrics(bundle)
    return scores, {
        "review": review,
        "ranking": ranking,
        "methods": methods,
        "observed_holdout": observed_holdout_metrics(
            reg_scores.reset_index(), market, hold.ids, ipw_cap=config.ipw_cap
        ),
        "weighting": weighting_cmp,
        "risks": risks,
        "merchant": merchant,
        "by_category": _slices(hold.category, scores, hold.y, seed=seed),
    }


def _model_section(model: str, bundle: ScorerBundle, config: TrainConfig) -> dict[str, Any]:
    return {
        "ref": model,
        "name": bundle.name,
        "version": bundle.version,
        "review_model": bundle.metadata.get("summary", {}).get("review_model"),
        "listing_text_model": bundle.metadata.get("summary", {}).get("listing_text_model", "none"),
        "weighting": config.weighting,
        "calibration": config.calibration,
    }


def _data_section(data_dir: Path, market: Market, hold: _Holdout, same_data: bool) -> dict[str, Any]:
    return {
        "dir": str(data_dir.resolve()),
        "same_data_as_training": same_data,
        "n_listings": len(market.listings),
        "n_holdout": len(hold.ids),
        "holdout_fail_rate": float(hold.y.mean()),
        "holdout_lab_labelled": int(market.lab_results["listing_id"].astype(str).isin(set(hold.ids)).sum()),
        "hits": "realised `fails` from ground_truth_listings.parquet, every held-out listing",
    }


def evaluate(
    data_dir: str | Path,
    *,
    model: str = "challenger",
    out: str | Path = "reports/evaluation.json",
    log_to_mlflow: bool = True,
    cross_world: CrossWorldRun | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the registered model `model` and the baselines on `data_dir`; write JSON + PNG plots.

    With `cross_world`, the report also carries `cross_world`: the model's training config refitted and
    scored on simulated worlds `a` and `b` of that size (`training.crossworld.world_section`).
    """
    step = progress or (lambda msg: logger.info(msg))
    t0 = time.perf_counter()
    data_dir, out = Path(data_dir), Path(out)
    truth = _ground_truth(data_dir)
    bundle, config, market, same_data = _load(model, data_dir, step)
    hold = _holdout(market, truth, config)
    scores, sections = _holdout_sections(bundle, config, market, hold, data_dir, step)

    worlds = _cross_world(config, cross_world, step) if cross_world is not None else None

    step("plots")
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = _plots(scores, hold.y, out.parent, seed=config.seed)
    lift5 = sections["ranking"]["0.05"]["captured_lift"]
    report: dict[str, Any] = {
        "model": _model_section(model, bundle, config),
        "data": _data_section(data_dir, market, hold, same_data),
        **sections,
        "target": {
            "captured_lift_0.05": TARGET_LIFT_AT_5,
            "met": bool(lift5 is not None and lift5 >= TARGET_LIFT_AT_5),
        },
        "plots": {k: v.name for k, v in plots.items()},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if worlds is not None:
        report["cross_world"] = worlds
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=_json_default) + "\n", encoding="utf-8")
    step(f"wrote {out}")
    if log_to_mlflow:
        _log(report, out, list(plots.values()), config, bundle)
    return report


def _cross_world(config: TrainConfig, run: CrossWorldRun, step: Callable[[str], None]) -> dict[str, Any]:
    """The evaluated model's training recipe across worlds: per-world ablations and the train/test matrix."""
    from dataclasses import asdict

    from training.crossworld import cross_world_report, world_section

    step(
        f"cross-world: worlds a and b, {run.merchants:,} shops / {run.listings:,} listings, seeds "
        f"{', '.join(map(str, run.seeds))}, {len(run.ablations)} ablations"
    )
    section = world_section(cross_world_report(config, **asdict(run), progress=step))
    section["setup"]["config"] = "the evaluated model's training config (features, split, LightGBM)"
    return section


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _log(report: dict[str, Any], out: Path, plots: list[Path], config: TrainConfig, bundle: ScorerBundle) -> None:
    """An `evaluate` run in the experiment: headline metrics, the JSON and the plots."""
    import mlflow

    from training import registry

    registry.configure()
    registry.ensure_experiment(config.experiment)
    flat: dict[str, float] = {}
    for share, row in report["ranking"].items():
        for name in (*METHODS, "captured_lift"):
            v = row.get(name)
            if isinstance(v, int | float):
                flat[f"hit_rate_{share}.{name}" if name != "captured_lift" else f"captured_lift_{share}"] = float(v)
    for name, m in report["methods"].items():
        for k, v in m.items():
            if isinstance(v, int | float):
                flat[f"{k}.{name}"] = float(v)
    for k in ("accuracy", "baseline_accuracy"):
        if isinstance(report["review"].get(k), int | float):
            flat[f"review_{k}"] = float(report["review"][k])
    for tr, row in report.get("cross_world", {}).get("matrix", {}).items():
        for te, cell in row.items():
            for k in ("auc", *(f"captured_lift_{M.budget_key(b)}" for b in M.BUDGETS)):
                if isinstance(cell.get(k), int | float):
                    flat[f"cross_world.{tr}_to_{te}.{k}"] = float(cell[k])
    with mlflow.start_run(run_name=f"evaluate-v{bundle.version}"):
        mlflow.set_tags({"choujian.command": "evaluate", "choujian.model_version": bundle.version})
        mlflow.log_metrics(flat)
        mlflow.log_artifact(str(out), "evaluation")
        for p in plots:
            mlflow.log_artifact(str(p), "evaluation")
    if bundle.version.isdigit():
        lift = report["ranking"]["0.05"]["captured_lift"]
        if lift is not None:
            from mlflow import MlflowClient

            MlflowClient().set_model_version_tag(bundle.name, bundle.version, "captured_lift_0.05", f"{lift:.4f}")


# -- reading a report back (the notebook uses these; it defines no code of its own) ----------------
def load_report(path: str | Path = "reports/evaluation.json") -> dict[str, Any]:
    """Read an evaluation JSON written by `evaluate`."""
    return dict(json.loads(Path(path).read_text(encoding="utf-8")))


def ranking_table(report: dict[str, Any]) -> pd.DataFrame:
    """Hit rate per method (columns) at each budget share (rows), plus the headline captured lift."""
    rows = {
        share: {**{m: row.get(m) for m in METHODS}, "captured_lift": row.get("captured_lift")}
        for share, row in report["ranking"].items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("budget share")


def lift_table(report: dict[str, Any]) -> pd.DataFrame:
    """Captured lift of every method at each budget (realised and expected hits)."""
    out = {}
    for share, row in report["ranking"].items():
        out[(share, "realised")] = row["captured_lift_by_method"]
        out[(share, "expected")] = row["expected_captured_lift_by_method"]
    return pd.DataFrame(out).T.rename_axis(["budget share", "hits"])


def methods_table(report: dict[str, Any]) -> pd.DataFrame:
    """PR-AUC and Brier score per method."""
    return pd.DataFrame(report["methods"]).T


def category_table(report: dict[str, Any]) -> pd.DataFrame:
    """Per-category size, failure rate, hit rates at 5% and the headline model's captured lift."""
    rows = {}
    for cat, r in report["by_category"].items():
        rows[cat] = {
            "n": r["n"],
            "fail_rate": r["fail_rate"],
            **r["hit_rate_0.05"],
            "captured_lift": r["captured_lift_0.05"],
        }
    return pd.DataFrame.from_dict(rows, orient="index").sort_values("n", ascending=False)


def weighting_table(report: dict[str, Any]) -> pd.DataFrame:
    """LightGBM (no transformer) trained with and without 1/π weights, on the same holdout."""
    w = report["weighting"]
    return pd.DataFrame({k: w[k] for k in ("ipw", "none")}).T


def plot_paths(report: dict[str, Any], report_path: str | Path) -> dict[str, Path]:
    """Absolute paths of the report's PNG plots (they sit next to the JSON)."""
    base = Path(report_path).resolve().parent
    return {k: base / v for k, v in report["plots"].items()}
