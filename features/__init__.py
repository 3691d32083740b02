"""Feature engineering: records → normalised Chinese text, segmentation, lexicons, model matrices.

The public entry points are the ones training, batch and online scoring share:
`listing_frame` / `merchant_frame` (the one path from a `Market` to rows), `build_pipeline` /
`build_merchant_pipeline` (fitted, saved with the model), `feature_meanings` and `evidence`.
Imports are lazy so that `import features.records` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.frames import listing_frame, merchant_frame
    from features.pipeline import (
        FeatureConfig,
        FeatureMeaning,
        build_merchant_pipeline,
        build_pipeline,
        evidence,
        feature_meanings,
        pipeline_lexicon,
    )

_LAZY = {
    "listing_frame": "features.frames",
    "merchant_frame": "features.frames",
    "FeatureConfig": "features.pipeline",
    "FeatureMeaning": "features.pipeline",
    "build_pipeline": "features.pipeline",
    "build_merchant_pipeline": "features.pipeline",
    "evidence": "features.pipeline",
    "feature_meanings": "features.pipeline",
    "pipeline_lexicon": "features.pipeline",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'features' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "FeatureConfig",
    "FeatureMeaning",
    "build_merchant_pipeline",
    "build_pipeline",
    "evidence",
    "feature_meanings",
    "listing_frame",
    "merchant_frame",
    "pipeline_lexicon",
]
