"""The relabel stage: age bins at the chosen edges, optional drop band, human corrections."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline import labels as L
from pipeline.curation.corrections import apply_corrections


def relabel(manifest: pd.DataFrame, *, age_edges: Sequence[int], drop_band: Sequence[int] = (),
            corrections: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train rows of the manifest -> labels frame (row = position in the manifest/crop cache,
    age_bin, label, excluded) and the corrections that matched nothing.

    `drop_band` = [lo, hi] marks ages lo..hi (inclusive) `excluded` from training: the ages right at
    the old-age edge are the least reliable (the winning team dropped 57-59)."""
    train = manifest.reset_index(drop=True).rename_axis("row").reset_index()
    train = train[train["split"] == "train"].reset_index(drop=True)
    train["age_bin"] = L.age_bin(train["age"].to_numpy(), age_edges)
    train["label"] = L.encode(train["mask"], train["gender"], train["age_bin"])
    unmatched = pd.DataFrame()
    if corrections is not None and len(corrections):
        train, unmatched = apply_corrections(train, corrections, age_edges=age_edges)
    if "corrected" not in train:
        train["corrected"] = ""
    if drop_band:
        lo, hi = drop_band
        train["excluded"] = train["age"].between(lo, hi)
    else:
        train["excluded"] = False
    return train, unmatched
