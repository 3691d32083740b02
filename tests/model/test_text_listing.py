"""The listing text model: fine-tuned on lab-labelled listings, multi-label scores, out-of-fold use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.market import Market
from models.text.listing import LISTING_TEXT_LABELS, ListingTextModel, listing_texts
from training.text.listing import fit_listing_text_model, listing_labels

pytestmark = pytest.mark.slow

CLAIMS = ["国家级", "顶级", "第一品牌", "根治", "最好"]


def _market(n: int = 120, seed: int = 0) -> Market:
    """Listings whose false-advertising label follows absolute claims in the title, counterfeit a 高仿 cue."""
    rng = np.random.default_rng(seed)
    rows, lab = [], []
    for i in range(n):
        claim = rng.random() < 0.5
        fake = rng.random() < 0.4
        title = ("高仿 " if fake else "") + "电热水壶 1.5L" + (f" {CLAIMS[i % len(CLAIMS)]}" if claim else "")
        rows.append(
            {
                "listing_id": f"L{i}",
                "merchant_id": f"M{i % 7}",
                "platform": "tb",
                "category": "电热水壶",
                "brand": "美的",
                "title": title,
                "description": "不锈钢内胆，快速烧水",
                "price": 99.0,
                "sales": 10,
                "ccc_cert": None,
                "listed_date": "2024-01-01",
            }
        )
        if i < n - 20:  # the last 20 are never sampled
            types = [t for t, on in (("counterfeit", fake), ("false_advertising", claim)) if on]
            lab.append(
                {
                    "listing_id": f"L{i}",
                    "sampled_date": "2024-06-01",
                    "plan_id": "P1",
                    "verdict": "fail" if types else "pass",
                    "failure_types": ";".join(types),
                    "cost": 100.0,
                    "inclusion_prob": 0.5,
                }
            )
    merchants = pd.DataFrame({"merchant_id": [f"M{i}" for i in range(7)]})
    return Market(merchants=merchants, listings=pd.DataFrame(rows), lab_results=pd.DataFrame(lab))


def test_labels_come_from_failure_types() -> None:
    m = _market()
    y = listing_labels(m)
    assert list(y.columns) == list(LISTING_TEXT_LABELS) and len(y) == 100
    lab = m.lab_results.set_index("listing_id")
    for lid in ("L0", "L1", "L2", "L3"):
        assert y.loc[lid, "counterfeit"] == int("counterfeit" in lab.loc[lid, "failure_types"])
    assert listing_texts(m.listings.head(1))[0].startswith(m.listings["title"][0])


def test_fit_score_save_and_reload(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import pickle

    m = _market()
    model = fit_listing_text_model(m, out=tmp_path / "lt", pretrained=tiny_checkpoint, epochs=1.0, max_len=32)
    texts = listing_texts(m.listings)
    p = model.predict_proba(texts)
    assert p.shape == (120, 2) and np.all((p >= 0) & (p <= 1))
    assert model.labels == LISTING_TEXT_LABELS and model.meta["n_labelled"] == 100
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(texts), p, atol=1e-6)
    copy = ListingTextModel(model.save(tmp_path / "copy"))
    np.testing.assert_allclose(copy.predict_proba(texts), p, atol=1e-6)
    frame = model.score_listings(m.listings)
    assert list(frame.columns) == ["text_p_counterfeit", "text_p_false_advertising"]


def test_a_model_fitted_without_out_cleans_up_after_itself(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import gc

    m = _market()
    model = fit_listing_text_model(m, pretrained=tiny_checkpoint, epochs=0.2, max_len=32)
    where = model.path
    assert (where / "encoder").is_dir()
    kept = ListingTextModel(model.save(tmp_path / "kept"))  # what a bundle does when it is saved
    del model
    gc.collect()
    assert not where.exists()
    assert kept.predict_proba(["正品 保证"]).shape == (1, 2)


def test_learns_a_text_cue_from_the_shipped_encoder(tmp_path: Path) -> None:
    from models.text.config import DEFAULT_PRETRAINED

    if not (DEFAULT_PRETRAINED / "config.json").is_file():
        pytest.skip("the shipped checkpoint is absent")
    m = _market(n=220, seed=1)
    model = fit_listing_text_model(m, out=tmp_path / "lt", epochs=6.0, lr=1e-3, max_len=32)
    # judged on the 20 listings that have no lab result, so were never trained on
    unseen = m.listings.iloc[200:]
    p = model.predict_proba(listing_texts(unseen))
    fake = unseen["title"].str.contains("高仿").to_numpy()
    claim = unseen["title"].str.contains("|".join(CLAIMS)).to_numpy()
    assert p[fake, 0].min() > p[~fake, 0].max()
    assert p[claim, 1].mean() > p[~claim, 1].mean()  # five different claim words: a weaker cue


def test_too_few_labels_is_an_error(tiny_checkpoint: Path) -> None:
    m = _market(n=25)
    with pytest.raises(ValueError, match="too few"):
        fit_listing_text_model(m, pretrained=tiny_checkpoint)
