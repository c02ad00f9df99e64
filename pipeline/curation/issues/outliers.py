"""`outlier` (image level): a photo unlike the rest of its person's photos (a stranger, an empty
room): its distance to the person's other photos in the embedding, in the colours above and below
the mask (`identity_grid`) and in the colour layout of the whole photo (`scene_grid`),
standardised within each stem."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.curation.issues.duplicates import stem_centred
from pipeline.curation.mixture import robust_z, tail_probability


def _distance_to_person(x: np.ndarray, persons: np.ndarray, usable: np.ndarray, *, cosine: bool) -> np.ndarray:
    """Per row: median distance to the same person's other `usable` rows (0 with fewer than 3)."""
    distance = np.zeros(len(x))
    for _, rows in pd.Series(np.arange(len(x))).groupby(persons):
        r = rows.to_numpy()
        ref = r[usable[r]]
        if len(ref) < 3:
            continue
        if cosine:
            d = 1 - x[r] @ x[ref].T
        else:
            d = np.sqrt(((x[r][:, None] - x[ref][None]) ** 2).sum(-1))
        d[r[:, None] == ref[None, :]] = np.nan
        distance[r] = np.nanmedian(d, axis=1)
    return distance


def outlier_scores(features: np.ndarray, persons: np.ndarray, stems: np.ndarray, *,
                   grid: np.ndarray | None = None, scene: np.ndarray | None = None,
                   global_score: np.ndarray | None = None, usable: np.ndarray | None = None,
                   df: float = np.inf) -> pd.DataFrame:
    """Per image: how far it is from its person's other photos in the stem-centred embedding
    (1 - median cosine) and, when given, in the crop's colour layout (`grid`: `identity_grid`)
    and in the whole photo's (`scene`: `scene_grid`), each a median distance as a robust z within
    its stem; their sum / sqrt(count), minus the median of that over the person's photos;
    optionally the larger of that and Datalab's outlier score as a z (`global_score`, 1 = typical).
    P(outlier) from the tail mixture (its clean photos' z a Student t with `df` degrees of
    freedom; np.inf: a normal) -> columns distance (the embedding's), z, score, and room:
    P(the room differs) from the scene's z alone (1 without `scene`). The crops
    are compared with the person's `usable` photos (default all; the caller leaves out
    face-detector fallbacks, whose crops are not comparable), the whole photos with all of them."""
    usable = np.ones(len(features), bool) if usable is None else np.asarray(usable, bool)
    distance = _distance_to_person(stem_centred(features, stems), persons, usable, cosine=True)
    # a person photographed hard throughout (blurred, occluded) has every photo far from the
    # others: the evidence is how much further this photo is than the person's typical photo
    typical = lambda v: v - pd.Series(v).groupby(np.asarray(persons)).transform("median").to_numpy()  # noqa: E731
    zs = [robust_z(distance, stems)]
    if grid is not None:
        zs.append(robust_z(_distance_to_person(grid, persons, usable, cosine=False), stems))
    room = np.ones(len(distance))
    if scene is not None:
        zs.append(robust_z(_distance_to_person(scene, persons, np.ones(len(scene), bool), cosine=False), stems))
        room = tail_probability(typical(zs[-1]))
    z = typical(np.sum(zs, axis=0) / np.sqrt(len(zs)))
    if global_score is not None:
        z = np.maximum(z, robust_z(-np.log(np.clip(global_score, 1e-12, None))))
    return pd.DataFrame({"distance": distance, "z": z, "score": tail_probability(z, df=df), "room": room})
