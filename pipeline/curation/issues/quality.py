"""`quality` (image level): too dark, overexposed or blurred, from the original file's brightness,
clipped share and sharpness (and the face crop's), each against the same person's other photos;
and face boxes far wider or narrower than the person's others (`box_scores`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.curation.mixture import robust_z, tail_probability

QUALITY_REASONS = {"dark": "too dark", "overexposed": "overexposed", "blurred": "blurred"}


def person_relative(x: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """x minus the median of the same person's other photos (one session: a photo much darker
    than the person's others is the one to drop; a person photographed dim throughout is kept)."""
    x = np.asarray(x, float)
    out = np.zeros(len(x))
    for _, rows in pd.Series(np.arange(len(x))).groupby(np.asarray(persons)):
        r = rows.to_numpy()
        for k, i in enumerate(r):
            others = np.delete(x[r], k)
            out[i] = x[i] - (np.median(others) if len(others) else x[i])
    return out


def _exposure_z(brightness: np.ndarray, clipped: np.ndarray, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(too dark, overexposed) robust z-scores against the same person's other photos: log
    brightness, and for overexposure also the clipped share (most photos clip nothing: it counts
    in steps of 5 % of the image)."""
    rel = robust_z(person_relative(np.log(np.asarray(brightness, float) + 1), persons))
    return -rel, np.maximum(rel, robust_z(person_relative(np.asarray(clipped, float), persons), floor=0.05))


def quality_scores(stats: pd.DataFrame, persons: np.ndarray) -> pd.DataFrame:
    """Per image P(unusable) and its reason, from `image_stats` against the same person's other
    photos: the larger of the three one-sided robust z-scores decides. With a `crop_sharpness`
    column in `stats`, a photo is blurred when either the whole photo or its face crop is (the
    larger z). With `crop_brightness` and `crop_clipped` (the face crop's, `crop_exposure`), a photo
    is too dark or overexposed only when its face crop is as well (the smaller z): a bright wall
    clips in a photo whose face is well exposed, and such photos are usable. With
    `face_brightness` and `face_clipped` (the face box's), only when the face box is too: a crop
    whose background was kept shows the wall as well. NaN in a crop or face column: no face crop
    (a detector fallback), the whole photo decides."""
    persons = np.asarray(persons)
    dark, over = _exposure_z(stats["brightness"].to_numpy(), stats["clipped"].to_numpy(), persons)
    blurred = -robust_z(person_relative(stats["sharpness"].to_numpy(), persons))
    crop = stats["crop_sharpness"].to_numpy(float) if "crop_sharpness" in stats else np.full(len(stats), np.nan)
    face = np.isfinite(crop)
    if face.any():
        blurred[face] = np.maximum(blurred[face], -robust_z(person_relative(crop[face], persons[face])))
    for part in ("crop", "face"):
        if {f"{part}_brightness", f"{part}_clipped"} <= set(stats):
            lit = np.isfinite(stats[f"{part}_brightness"].to_numpy(float))
            if lit.any():
                part_dark, part_over = _exposure_z(stats[f"{part}_brightness"].to_numpy(float)[lit],
                                                   stats[f"{part}_clipped"].to_numpy(float)[lit], persons[lit])
                dark[lit], over[lit] = np.minimum(dark[lit], part_dark), np.minimum(over[lit], part_over)
    zs = pd.DataFrame({"dark": dark, "overexposed": over, "blurred": blurred})
    probs = pd.DataFrame({k: tail_probability(v.to_numpy()) for k, v in zs.items()})  # one mixture per reason
    reason = probs.to_numpy().argmax(1)
    return pd.DataFrame({"reason": probs.columns.to_numpy()[reason], "z": zs.to_numpy()[np.arange(len(zs)), reason],
                         "score": probs.to_numpy().max(1)})


def box_scores(face_width: np.ndarray, persons: np.ndarray) -> pd.DataFrame:
    """Per image how far its face box width (a share of the image width; NaN: no box) is from
    the person's other photos' -> columns ratio (this box / their median), z, score = P(the
    detector boxed something else). Such crops (a box around the mask alone, or around a poster
    on the wall) are wrong whatever the photo, but most boxes that differ are clean photos the
    detector framed badly, so they are listed for review like fallbacks, scored by the photo's
    quality."""
    log_w = np.log(np.clip(np.nan_to_num(np.asarray(face_width, float), nan=1.0), 1e-3, None))
    rel = person_relative(log_w, persons)
    z = np.abs(robust_z(rel))
    return pd.DataFrame({"ratio": np.exp(rel), "z": z, "score": tail_probability(z)})
