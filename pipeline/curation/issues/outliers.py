"""`outlier` (image level): a photo unlike the rest of its person's photos (a stranger, an empty
room): its distance to the person's other photos in the embedding, in the colours above and below
the mask (`identity_grid`), in the age and gender perceived in it (`perceived`) and in the colour
layout of the whole photo (`scene_grid`), standardised within each stem.

P(outlier) (`model`):
  - "strangers": each photo is also put among another person's photos, and its distances there
    computed as a real photo's: what a misfiled stranger looks like on this data set, from this
    camera. `pipeline.curation.pu` turns the three distances into P(outlier) against those made
    strangers, with no model of how far clean photos stray.
  - "tail": the three distances summed into one z, P(outlier) from the tail mixture
    (`pipeline.curation.mixture.fit_tail`: clean photos' z a normal or a Student t with `df`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.curation.issues.evidence import unit
from pipeline.curation.mixture import robust_z, tail_probability
from pipeline.curation.pu import pu_posterior
from pipeline.params import OutlierModel

MIN_OTHERS = 3  # a photo is compared with at least this many of the person's other usable photos
NO_PERSON_SHARE = 0.05  # a photo whose person segmentation covers less than this share shows nobody


def stem_centred(features: np.ndarray, stems: np.ndarray) -> np.ndarray:
    """Features minus their stem's mean, renormalised: what all photos of a stem share (no mask,
    a mask on the chin) is not what sets a photo apart from its person's others."""
    out = np.asarray(features, float).copy()
    for s in np.unique(stems):
        out[stems == s] -= out[stems == s].mean(0)
    return unit(out)


def _distances(x: np.ndarray, persons: np.ndarray, stems: np.ndarray, usable: np.ndarray, *, cosine: bool,
               strangers: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(per row: median distance to the same person's other `usable` rows, 0 with fewer than
    MIN_OTHERS; per made stranger (source row, person it is put among): median distance to that
    person's usable rows of other stems, NaN with fewer than MIN_OTHERS)."""
    members = pd.Series(np.arange(len(x))).groupby(persons).indices
    measure = (lambda a, b: 1 - a @ b.T) if cosine else \
        (lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)))
    distance = np.zeros(len(x))
    for r in members.values():
        ref = r[usable[r]]
        if len(ref) < MIN_OTHERS:
            continue
        d = measure(x[r], x[ref])
        d[r[:, None] == ref[None, :]] = np.nan
        distance[r] = np.nanmedian(d, axis=1)
    if strangers is None:
        return distance, np.zeros(0)
    source, among = strangers
    made = np.full(len(source), np.nan)
    for person, k in pd.Series(np.arange(len(source))).groupby(among).indices.items():
        ref = members[person][usable[members[person]]]
        d = measure(x[source[k]], x[ref])
        d[stems[source[k]][:, None] == stems[ref][None, :]] = np.nan  # the photo it replaces
        enough = (~np.isnan(d)).sum(1) >= MIN_OTHERS
        made[k[enough]] = np.nanmedian(d[enough], axis=1)
    return distance, made


def _strangers(persons: np.ndarray, usable: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(source row, person it is put among): every usable photo once, among a random other person."""
    source = np.flatnonzero(usable)
    ids = np.unique(persons)
    if len(ids) < 2:
        return source[:0], persons[:0]
    rng = np.random.default_rng(seed)
    own = np.searchsorted(ids, persons[source])
    pick = rng.integers(0, len(ids) - 1, len(source))
    return source, ids[pick + (pick >= own)]  # uniform over the persons other than its own


def outlier_scores(features: np.ndarray, persons: np.ndarray, stems: np.ndarray, *,
                   grid: np.ndarray | None = None, scene: np.ndarray | None = None,
                   global_score: np.ndarray | None = None, usable: np.ndarray | None = None,
                   model: OutlierModel = "strangers", df: float = np.inf, seed: int = 0,
                   person_share: np.ndarray | None = None, no_person: float = 0.0,
                   attributes: np.ndarray | None = None) -> pd.DataFrame:
    """Per image: how far it is from its person's other photos in the stem-centred embedding
    (1 - median cosine) and, when given, in the crop's colour layout (`grid`: `identity_grid`),
    in each column of `attributes` [N, k] (`perceived`: age in years, gender log-odds; compared
    with the person's `usable` photos) and in the whole photo's layout (`scene`: `scene_grid`),
    each a median distance as a robust z within
    its stem minus the median of that z over the person's photos (a person photographed hard
    throughout has every photo far from the others). P(outlier) by `model` (module docstring;
    "strangers" draws them with `seed`); `df` is the tail model's. Columns: distance (the
    embedding's), z (the cues' sum / sqrt(count), the person's median taken off; optionally the
    larger of that and Datalab's outlier score as a z, `global_score`, 1 = typical: the tail model's
    evidence), score, and
    room: P(the room differs) from the scene's z alone (1 without `scene` or with "strangers"). The crops are
    compared with the person's `usable` photos (default all; the caller leaves out face-detector
    fallbacks, whose crops are not comparable), the whole photos with all of them.
    `person_share` (per image, NaN where not read: `evidence.person_share`): a photo that is not
    `usable` and shows a person over less than `NO_PERSON_SHARE` of it has nobody in it (column
    nobody) and scores at least `no_person`; the made strangers are persons and cannot score it."""
    if model not in ("strangers", "tail"):
        raise ValueError(f"model must be strangers or tail, got {model!r}")
    persons, stems = np.asarray(persons).astype(str), np.asarray(stems)
    usable = np.ones(len(features), bool) if usable is None else np.asarray(usable, bool)
    source, among = _strangers(persons, usable, seed) if model == "strangers" else (None, None)
    made_stems = stems[:0] if source is None else stems[source]
    cues = [(stem_centred(features, stems), usable, True)]
    if grid is not None:
        cues.append((grid, usable, False))
    if attributes is not None:
        a = np.asarray(attributes, float).reshape(len(features), -1)
        cues += [(a[:, [j]], usable, False) for j in range(a.shape[1])]
    if scene is not None:  # last: the tail model's room guard reads it
        cues.append((scene, np.ones(len(scene), bool), False))
    real, made = [], []
    for x, compared, cosine in cues:
        d, m = _distances(x, persons, stems, compared, cosine=cosine,
                          strangers=None if source is None else (source, among))
        if not real:
            distance = d
        reference = np.concatenate([np.ones(len(d), bool), np.zeros(len(m), bool)])
        z = robust_z(np.concatenate([d, m]), np.concatenate([stems, made_stems]), reference=reference)
        typical = pd.Series(z[:len(d)]).groupby(persons).median()
        real.append(z[:len(d)] - typical.loc[persons].to_numpy())
        if len(m):
            made.append(z[len(d):] - typical.reindex(among).to_numpy())
    real = np.column_stack(real)
    total = real.sum(1) / np.sqrt(real.shape[1])
    z = total - pd.Series(total).groupby(persons).transform("median").to_numpy()
    if global_score is not None:
        z = np.maximum(z, robust_z(-np.log(np.clip(global_score, 1e-12, None))))
    # the tail model's guard for photos the quality model calls unusable too; the strangers'
    # distances already say how far another person's room is, so there it is not needed (1)
    room = tail_probability(real[:, -1]) if scene is not None and model == "tail" else np.ones(len(z))
    if model == "tail":
        score = tail_probability(z, df=df)
    else:
        made = np.column_stack(made) if made else np.zeros((0, real.shape[1]))
        kept = ~np.isnan(made).any(1)
        score, _ = pu_posterior(real, made[kept], real_groups=persons, made_groups=np.asarray(among)[kept])
    nobody = ~usable & (np.asarray(person_share, float) < NO_PERSON_SHARE) if person_share is not None \
        else np.zeros(len(z), bool)
    score = np.where(nobody, np.maximum(score, no_person), score)
    return pd.DataFrame({"distance": distance, "z": z, "score": score, "room": room, "nobody": nobody})
