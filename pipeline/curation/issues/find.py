"""The issue rows of the three types, from the detectors' scores: `detect` (the stage's work),
`find_type_issues` (rows from evidence already computed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.curation.issues.duplicates import datalab_issues, duplicate_scores
from pipeline.curation.issues.evidence import (
    crop_exposure,
    crop_sharpness,
    head_features,
    identity_grid,
    perceived,
    person_share,
    photo_evidence_files,
)
from pipeline.curation.issues.outliers import outlier_scores
from pipeline.curation.issues.quality import QUALITY_REASONS, box_scores, quality_scores
from pipeline.faces.detect import DETECTED
from pipeline.labels import EXCLUDE, GENDERS, ISSUE_COLUMNS, PERSON, stem_of
from pipeline.params import OutlierModel

METADATA = ("gender", "race", "age")  # a person's given labels, compared between duplicate candidates

def find_type_issues(frame: pd.DataFrame, features: np.ndarray, stats: pd.DataFrame, *,
                     grid: np.ndarray | None = None,
                     scene: np.ndarray | None = None, duplicate_features: np.ndarray | None = None,
                     threshold: float = 0.5, use_datalab: bool = False, agreement: float = 0.9,
                     outlier_model: OutlierModel = "strangers", outlier_df: float = 0.0,
                     no_person: float = 0.7, attributes: np.ndarray | None = None) -> pd.DataFrame:
    """The issue rows (pipeline.labels.ISSUE_COLUMNS) of the three types for the train images in
    `frame` (image_id, person_id, method, face_width: face box width / image width, and the given
    `METADATA` columns it has: duplicate evidence with `agreement`, `duplicate_scores`), their
    `features` (unit rows), `stats` (`image_stats`), `grid` (`identity_grid`, optional: what stays
    the same around the masks, which duplicates and outliers compare beside the embeddings), `scene` (`scene_grid` of
    the original photos, optional) and `duplicate_features` (unit rows the duplicates compare;
    default `features`), all in the same order. `outlier_model`: how P(outlier) is read from the
    evidence (`outlier_scores`: "strangers", made from the data, or "tail", a mixture);
    `outlier_df`: the tail model's degrees of freedom of the clean photos' outlier evidence (a
    Student t: a lower value, heavier tails, fewer and surer outlier flags; 0 = a normal).
    `no_person`: P(outlier) of a photo in which the face detector found no face and the person
    segmenter finds nobody (a `person_share` column in `stats`: `outlier_scores`); 0 = off.
    `attributes` (optional, `perceived`): the age and gender perceived in each photo, which the
    outliers compare with the person's other photos.

    An image is an outlier or a quality issue, not both: the type with the larger probability
    takes it; with `outlier_model: tail`, a photo that is unusable too is an outlier only when
    its room differs as well (`outlier_scores`' room): a blurred or tiny photo of the person is
    far from their others, but it was taken in the same place. (The made strangers need no such
    guard: they show how far a stranger's room and face are.) A person flagged as a duplicate of another keeps
    image-level issues of its own.
    The face detector's failures are listed as quality rows whatever the photo's score: kind
    `fallback` (no face found) or `face_box` (`box_scores`), unless the photo itself is unusable
    (then the kind is the reason and the detail names the detector's failure too)."""
    frame = frame.reset_index(drop=True)
    persons = frame["person_id"].astype(str).to_numpy()
    image_ids = frame["image_id"].astype(str).to_numpy()
    stems = np.array([stem_of(i) for i in image_ids])
    compared = features if duplicate_features is None else duplicate_features  # what persons are matched on
    lab = datalab_issues(compared) if use_datalab and len(frame) > 11 else None
    meta = [c for c in METADATA if c in frame]
    dup = duplicate_scores(compared, persons,
                           grid=grid, near_sets=None if lab is None else lab["near_duplicate_sets"].tolist(),
                           metadata=frame[meta] if meta else None,
                           agreement=agreement)
    fallback = ~frame["method"].isin(DETECTED).to_numpy() \
        if "method" in frame else np.zeros(len(frame), bool)
    # Datalab's outlier score is not used: it ranks a photo against all photos, not against the
    # person's own, and as a second evidence it lowered precision (docs/decisions.md)
    crop_columns = [c for c in ("crop_sharpness", "crop_brightness", "crop_clipped", "face_brightness",
                                "face_clipped") if c in stats]
    if crop_columns:  # a fallback's crop is not a face: its sharpness and exposure say nothing of the face
        stats = stats.assign(**{c: stats[c].where(~fallback) for c in crop_columns})
    qual = quality_scores(stats, persons)
    out = outlier_scores(features, persons, stems, grid=grid,
                         scene=scene, usable=~fallback, model=outlier_model, df=outlier_df or np.inf,
                         person_share=stats["person_share"].to_numpy(float) if "person_share" in stats else None,
                         no_person=no_person, attributes=attributes)
    box = box_scores(frame["face_width"].to_numpy(float), persons)
    detector = np.where(fallback, "fallback", np.where(box["score"].to_numpy() >= threshold, "face_box", ""))
    rows = []
    seen: set[tuple[str, str]] = set()
    best = dict(zip(dup["person_id"], dup["other"]))
    metadata = dict(zip(dup["person_id"], dup["metadata"]))
    for r in dup[dup["score"] >= threshold].itertuples():
        pair = tuple(sorted((r.person_id, r.other)))
        if pair in seen or best.get(r.other) != r.person_id:  # mutual best matches only
            continue
        seen.add(pair)
        newer, older = pair[1], pair[0]  # the later id is taken for the copy
        score = float(dup.loc[dup["person_id"].isin(pair), "score"].max())
        both = f"{metadata[newer]} both" if r.same_metadata else f"{metadata[newer]} vs {metadata[older]}"
        given = f"; {' / '.join(meta)}: {both}" if meta else ""
        rows.append({"issue_id": f"duplicate:{newer}", "person_id": newer, "image_id": PERSON,
                     "field": "duplicate", "given": newer, "suggested": older, "score": score,
                     "kind": "duplicate", "detail": f"same person as {older} ({r.ratio:.1f} x nearer than the next nearest person{given})"})
    for i in range(len(frame)):
        o, q = float(out["score"][i]), float(qual["score"][i])
        if o >= threshold and o > q and (q < threshold or out["room"][i] >= threshold):
            rows.append({"issue_id": f"outlier:{image_ids[i]}", "person_id": persons[i], "image_id": image_ids[i],
                         "field": "outlier", "given": "keep", "suggested": EXCLUDE, "score": o, "kind": "outlier",
                         "detail": "no face and no person found: nobody in the photo" if out["nobody"][i]
                         else f"unlike the person's other photos (z {out['z'][i]:.1f})"})
        elif q >= threshold or detector[i]:
            failure = f"face detector fell back to the {frame['method'][i]} box" if fallback[i] else \
                f"face box {box['ratio'][i]:.2g} x the width of the person's others: the crop may not show the face"
            unusable = q >= threshold
            kind = qual["reason"][i] if unusable else detector[i]
            detail = "; ".join(([QUALITY_REASONS[kind]] if unusable else []) + ([failure] if detector[i] else []))
            rows.append({"issue_id": f"quality:{image_ids[i]}", "person_id": persons[i], "image_id": image_ids[i],
                         "field": "quality", "given": "keep", "suggested": EXCLUDE, "score": q, "kind": kind,
                         "detail": detail})
    return pd.DataFrame(rows, columns=ISSUE_COLUMNS)


def detect(manifest: pd.DataFrame, faces: pd.DataFrame, crops: np.ndarray, features: np.ndarray, *,
           threshold: float = 0.5, use_datalab: bool = False, agreement: float = 0.9,
           outlier_model: OutlierModel = "strangers", outlier_df: float = 0.0, no_person: float = 0.7,
           margin: float = 0.6,
           workers: int = 0, progress: bool = False) -> pd.DataFrame:
    """The stage's work: the train crops' embeddings (`features`: the embed stage's, rows in
    manifest order like `crops`, train rows at least: they lead the manifest), statistics and the
    scene grid of the original files (`photo_evidence`), then `find_type_issues`. `agreement`:
    P(a person filed twice has the same given gender, race and age), the weight of that metadata
    as duplicate evidence (`metadata_ratio`; 0 = photos only); `outlier_model`, `outlier_df`,
    `no_person` as in `find_type_issues` (`person_share` read for the photos with no face found);
    `margin`: the crops' faces.margin (where the face box lies in them, for `crop_exposure`).
    The age and gender perceived in each photo (`perceived`: a probe fitted on the given labels of
    the manifest) are the outliers' attributes.
    `workers` processes read the photos (0 = all cores), with a progress bar when `progress`."""
    train = np.flatnonzero((manifest["split"] == "train").to_numpy()) if "split" in manifest \
        else np.arange(len(manifest))
    rows = manifest.iloc[train].reset_index(drop=True)
    box = faces.set_index("image_id").reindex(rows["image_id"])
    frame = pd.DataFrame({"image_id": rows["image_id"].astype(str), "person_id": rows["person_id"].astype(str),
                          "method": box["method"].fillna("unreadable").to_numpy(),
                          "face_width": ((box["x1"] - box["x0"]).to_numpy(float)
                                         / rows["width"].to_numpy(float)),
                          **{c: rows[c].to_numpy() for c in METADATA if c in rows}})
    if "gender" in frame and pd.api.types.is_integer_dtype(frame["gender"]):  # the manifest's codes: named
        frame["gender"] = np.asarray(GENDERS)[frame["gender"].to_numpy()]
    if frame.empty:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    # duplicates compare the last input size's head (finer identity detail), outliers the first's
    # (coarser: fewer clean photos look far from their person); docs/decisions.md
    rows_of = slice(0, len(train)) if (train == np.arange(len(train))).all() else train  # train rows lead: a view
    duplicate_features = head_features(features[rows_of], -1)  # the heads' columns only, not all 4,096
    attributes = perceived(features[rows_of], frame["person_id"], rows["gender"], rows["age"], progress=progress) \
        if {"gender", "age"} <= set(rows) and pd.api.types.is_integer_dtype(rows["gender"]) else None
    features = head_features(features[rows_of])
    mine = np.asarray(crops[rows_of])
    stats, scene = photo_evidence_files(rows["path"].astype(str).tolist(), workers=workers, progress=progress)
    stats = pd.concat([stats, crop_exposure(mine, margin=margin)], axis=1).assign(crop_sharpness=crop_sharpness(mine))
    missed = ~frame["method"].isin((*DETECTED, "unreadable")).to_numpy()  # no face found: is anybody there?
    share = np.full(len(frame), np.nan)
    share[missed] = person_share(rows["path"].astype(str).to_numpy()[missed].tolist())
    stats = stats.assign(person_share=share)
    return find_type_issues(frame, features, stats,
                            grid=identity_grid(mine), scene=scene,
                            duplicate_features=duplicate_features,
                            threshold=threshold, use_datalab=use_datalab, agreement=agreement,
                            outlier_model=outlier_model, outlier_df=outlier_df, no_person=no_person,
                            attributes=attributes)
