"""Beyond wrong labels: duplicated persons, outlier images and unusable photos, person-aware.

Every train image gets embeddings (the head of a frozen ImageNet EfficientNet-Lite0 on its face
crop at the embed stage's first and last input sizes, 128 and 192 px by default: `pipeline.embed`), a
coarse colour grid of the crop and a few plain statistics of the original file; cleanlab's
Datalab looks for near duplicates image by image on the embeddings, and this module puts the
person on top:

- `duplicate` (person level): two person ids whose photos show the same person. Photos are
  compared stem by stem (mask1 with mask1, ..., normal with normal: a person wears the same five
  masks in every session): embedding cosine (features centred per stem) and colour-grid distance,
  median over stems, each standardised over all pairs and summed (the embedding at 192 px, the
  outliers' at 128); each person's best match is scored against all persons' best matches,
  mutual best matches only. Datalab near-duplicate sets that join two persons make them a match.
  The given metadata (gender, race, age: what the real data's folder names record) is evidence
  too: a person filed twice is filed with the same, two lookalikes rarely share it
  (`metadata_ratio`).
- `outlier` (image level): a photo unlike the rest of its person's photos (a stranger, an empty
  room): its distance to the person's other photos in the embedding, in the colours above and
  below the mask (`identity_grid`: hair, face, clothes; the masks change from photo to photo, the
  person and their clothes do not) and in the colour layout of the whole photo (`scene_grid`: a
  person's seven photos are taken in one place), standardised within each stem.
- `quality` (image level): too dark, overexposed or blurred, from the original file's
  brightness, clipped share and sharpness (variance of the Laplacian, median over tiles, and of
  the face crop), each against the same person's other photos. The face detector's failures are
  listed here as well, scored by the photo's quality: fallbacks (`faces.parquet` method person /
  centre) and face boxes far wider or narrower than the person's others (`face_box`: the crop may
  not show the face).

Scores are probabilities: each evidence is a robust z-score, and a two-component mixture (clean:
N(0, s^2); issue: a normal at least 4 s above 0, fitted by EM) turns it into P(issue is real)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pipeline import embed
from pipeline.corrections import PERSON
from pipeline.labels import GENDERS

TYPES = ("duplicate", "outlier", "quality")
EXCLUDE = "exclude"
DETECTOR_KINDS = ("fallback", "face_box")  # quality rows listed for the crop, not for the photo
METADATA = ("gender", "race", "age")  # a person's given labels, compared between duplicate candidates
Embedder = Literal["efficientnet_lite0", "pixels"]


# ----------------------------------------------------------------------------- features


def embed_crops(crops: np.ndarray, *, embedder: Embedder = "efficientnet_lite0", size: int = 128) -> np.ndarray:
    """One L2-normalised feature vector per crop (uint8 [N, H, W, 3]): the pooled head of ImageNet
    EfficientNet-Lite0 (`pipeline.embed`, frozen, crops resized to `size`), or the crop itself at
    16 x 16 (`pixels`, for tests without weights)."""
    import cv2

    if embedder == "pixels":
        x = np.stack([cv2.resize(np.asarray(c), (16, 16), interpolation=cv2.INTER_AREA) for c in crops])
        return _unit(x.reshape(len(x), -1).astype(np.float64))
    if embedder != "efficientnet_lite0":
        raise ValueError(f"embedder must be efficientnet_lite0 or pixels, got {embedder!r}")
    return head_features(embed.extract(np.asarray(crops), sizes=(size,)))


def head_features(features: np.ndarray, part: int = 0) -> np.ndarray:
    """The unit-length head part of `pipeline.embed` features (`part`: which input size's):
    what photos are compared on."""
    return _unit(embed.head(features, part).astype(np.float64))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def colour_grid(crops: Iterable[np.ndarray], n: int = 4, *, brightness: bool = True) -> np.ndarray:
    """Per image an n x n grid of mean colours as chromaticity and (with `brightness`) log
    brightness (exposure moves the brightness, not the hue): the same person in the same masks
    gives the same grid."""
    import cv2

    g = np.stack([cv2.resize(np.asarray(c), (n, n), interpolation=cv2.INTER_AREA) for c in crops]).astype(np.float64)
    total = g.sum(-1, keepdims=True) + 1
    parts = [3 * g / total, 0.3 * np.log(total / 3 + 1)] if brightness else [3 * g / total]
    return np.concatenate(parts, -1).reshape(len(g), -1)


def scene_grid(images: Iterable[np.ndarray], n: int = 5) -> np.ndarray:
    """The chromaticity of the outer ring of an n x n grid over the whole original photo: the room
    around the person. A person's seven photos are taken in one place (a stranger's photo or an
    empty room brings its own), while exposure changes from photo to photo and the inner cells
    hold the face and its mask. On synthetic seeds 0-2 it took outlier precision from 0.26-0.61
    to 0.81-0.91 (README, "Beyond wrong labels"); the whole grid, mask included, also took a
    swapped mask photo for an outlier (and out of the label analysis)."""
    ring = np.ones((n, n), bool)
    ring[1:-1, 1:-1] = False
    g = colour_grid(images, n, brightness=False).reshape(-1, n, n, 3)
    return g[:, ring].reshape(len(g), -1)


def identity_grid(crops: np.ndarray, n: int = 4, *, top: float = 0.45, bottom: float = 0.8) -> np.ndarray:
    """`colour_grid` of the band above the mask (the crop's top `top` share: hair, eyes, forehead)
    and of the band below it (from `bottom` down: neck, clothes), side by side: what a person's
    photos share while the masks change from photo to photo. On synthetic seeds 0-2 it ranked the
    planted outliers at AP 0.80 against 0.61 for the whole crop's grid (README, "Beyond wrong labels")."""
    crops = np.asarray(crops)
    h = crops.shape[1]
    return np.concatenate([colour_grid(crops[:, : max(1, int(h * top))], n),
                           colour_grid(crops[:, min(h - 1, int(h * bottom)):], n)], 1)


def _sharpness(gray: np.ndarray) -> float:
    """Log variance of the Laplacian of a grey image: low when it is soft."""
    import cv2

    return float(np.log(cv2.Laplacian(gray, cv2.CV_64F).var() + 1e-6))


def tile_sharpness(gray: np.ndarray, n: int = 4) -> float:
    """Log of the median over an n x n grid of tiles of the Laplacian's variance: a photo soft
    almost everywhere stays soft when a small part of it is sharp (synth's `tiny`: a small sharp
    figure pasted on a blurred copy of the scene, whose whole-photo variance the figure's edges
    keep high). On synthetic seeds 0-2 it took quality recall from 0.83-0.90 to 0.95-0.98."""
    import cv2

    lap = cv2.Laplacian(gray, cv2.CV_64F)
    h, w = lap.shape
    tiles = [lap[i * h // n:(i + 1) * h // n, j * w // n:(j + 1) * w // n] for i in range(n) for j in range(n)]
    return float(np.log(np.median([t.var() for t in tiles if t.size]) + 1e-6))


def photo_stats(img: np.ndarray) -> dict[str, float]:
    """One RGB image's mean luminance (0-255), share of clipped-white pixels and `tile_sharpness`
    at a common width of 192 px."""
    import cv2

    gray = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY)
    scale = 192 / gray.shape[1]
    g = cv2.resize(gray, (192, max(1, int(round(gray.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
    return {"brightness": float(gray.mean()), "clipped": float((gray >= 250).mean()), "sharpness": tile_sharpness(g)}


def image_stats(images: Iterable[np.ndarray]) -> pd.DataFrame:
    """`photo_stats` of each RGB image."""
    return pd.DataFrame([photo_stats(img) for img in images], columns=["brightness", "clipped", "sharpness"])


def photo_evidence(images: Iterable[np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    """`image_stats` and `scene_grid` in one pass over the photos (each read once, none kept)."""
    stats, scene = [], []
    for img in images:
        stats.append(photo_stats(img))
        scene.append(scene_grid([img])[0])
    return pd.DataFrame(stats, columns=["brightness", "clipped", "sharpness"]), np.array(scene).reshape(len(scene), -1)


def crop_sharpness(crops: np.ndarray) -> np.ndarray:
    """Per uint8 crop [N, H, W, 3]: the sharpness (as `image_stats`) of the face crop itself. The
    whole photo's sharpness misses a blurred face when something else in the frame is sharp (a
    small sharp figure pasted on a blurred scene: synth's `tiny`, whose face box the detector may
    still find at full size); a soft face crop is what makes a photo useless to the classifier."""
    import cv2

    return np.array([_sharpness(cv2.cvtColor(np.asarray(c), cv2.COLOR_RGB2GRAY)) for c in crops], dtype=float)


# ----------------------------------------------------------------------------- scores


def robust_z(x: np.ndarray, groups: np.ndarray | None = None, *, floor: float = 1e-9) -> np.ndarray:
    """(x - median) / max(1.4826 MAD, floor), within each group when `groups` is given."""
    x = np.asarray(x, float)
    z = np.zeros(len(x))
    groups = np.zeros(len(x), int) if groups is None else np.asarray(groups)
    for g in np.unique(groups):
        k = groups == g
        med = np.median(x[k])
        mad = 1.4826 * np.median(np.abs(x[k] - med))
        z[k] = (x[k] - med) / max(mad, floor)
    return z


@dataclass(frozen=True)
class TailMixture:
    """Clean evidence ~ N(0, scale^2) (a robust z: scale near 1), issues ~ N(mu, sigma^2) with
    share `share`."""

    share: float
    mu: float
    sigma: float
    scale: float = 1.0

    def posterior(self, z: np.ndarray, *, cut: float | None = None) -> np.ndarray:
        """P(issue | z); 0 at or below `cut` (default half the issue mean: only the upper tail is
        an issue, whatever the fitted components say of the clean bulk)."""
        z = np.asarray(z, float)
        log_clean = np.log1p(-self.share) - np.log(self.scale) - 0.5 * (z / self.scale) ** 2
        log_issue = np.log(self.share) - np.log(self.sigma) - 0.5 * ((z - self.mu) / self.sigma) ** 2
        p = 1 / (1 + np.exp(np.clip(log_clean - log_issue, -50, 50)))
        return np.where(z > (self.mu / 2 if cut is None else cut), p, 0.0)


def fit_tail(z: np.ndarray, *, iterations: int = 200, separation: float = 4.0) -> TailMixture:
    """EM for a robust z-score: clean N(0, scale^2) and an issue component whose mean stays at
    least `separation` clean spreads above 0, so the clean tail is never taken for issues."""
    z = np.asarray(z, float)
    if len(z) == 0:
        return TailMixture(1e-6, separation, 1.0)
    share, scale = 0.02, 1.0
    mu, sigma = max(separation, float(np.quantile(z, 0.995))), 3.0
    for _ in range(iterations):
        p = TailMixture(share, mu, sigma, scale).posterior(z)
        w = p.sum()
        if w < 1e-6:
            return TailMixture(1e-6, mu, sigma, scale)
        share = float(np.clip(w / len(z), 1e-6, 0.5))
        scale = float(np.clip(np.sqrt(((1 - p) * z**2).sum() / max((1 - p).sum(), 1e-9)), 0.5, 3.0))
        mu = max(separation * scale, float((p * z).sum() / w))
        sigma = float(np.clip(np.sqrt((p * (z - mu) ** 2).sum() / w), scale, 50.0))
    return TailMixture(share, mu, sigma, scale)


def tail_probability(z: np.ndarray, *, separation: float = 4.0) -> np.ndarray:
    return fit_tail(z, separation=separation).posterior(z)


# ----------------------------------------------------------------------------- per type


def _stems(image_ids: np.ndarray) -> np.ndarray:
    return np.array([str(i).rsplit("/", 1)[-1].rsplit(".", 1)[0] for i in image_ids])


def datalab_issues(features: np.ndarray, *, k: int = 10) -> pd.DataFrame:
    """cleanlab Datalab on the embeddings: near_duplicate (with its sets) and outlier, per image."""
    from cleanlab import Datalab

    lab = Datalab(data={"row": np.arange(len(features))}, verbosity=0)
    lab.find_issues(features=features, issue_types={"near_duplicate": {"k": k}, "outlier": {"k": k}})
    near, out = lab.get_issues("near_duplicate"), lab.get_issues("outlier")
    return pd.DataFrame({"near_duplicate_sets": near["near_duplicate_sets"].to_numpy(),
                         "is_near_duplicate": near["is_near_duplicate_issue"].to_numpy(bool),
                         "outlier_score": out["outlier_score"].to_numpy(float)})


def stem_centred(features: np.ndarray, stems: np.ndarray) -> np.ndarray:
    """Features minus their stem's mean, renormalised: what all photos of a stem share (no mask,
    a mask on the chin) is not identity."""
    out = np.asarray(features, float).copy()
    for s in np.unique(stems):
        out[stems == s] -= out[stems == s].mean(0)
    return _unit(out)


def _stem_table(x: np.ndarray, persons: np.ndarray, stems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[persons, stems, dim] (NaN where a person lacks a stem) and the sorted person ids."""
    ids, stem_names = np.unique(persons), np.unique(stems)
    pi = {p: i for i, p in enumerate(ids)}
    si = {s: i for i, s in enumerate(stem_names)}
    table = np.full((len(ids), len(stem_names), x.shape[1]), np.nan)
    for row, (p, s) in enumerate(zip(persons, stems)):
        table[pi[p], si[s]] = x[row]
    return table, ids


def _stem_similarity(table: np.ndarray, *, cosine: bool) -> np.ndarray:
    """Person x person: median over the stems both have of the photos' cosine (or minus their
    euclidean distance), standardised robustly over all pairs."""
    n, k = table.shape[:2]
    filled = ~np.isnan(table[..., 0])
    t0 = np.nan_to_num(table)
    sims = np.empty((n, n, k))
    for j in range(k):
        a = t0[:, j]
        if cosine:
            sims[:, :, j] = a @ a.T
        else:
            sq = (a**2).sum(1)
            sims[:, :, j] = -np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * a @ a.T, 0))
    sims[~(filled[:, None, :] & filled[None, :, :])] = np.nan
    with np.errstate(all="ignore"):
        sim = np.nanmedian(sims, axis=2)
    off = ~np.eye(n, dtype=bool) & np.isfinite(sim)
    if not off.any():
        return np.zeros((n, n))
    med = np.median(sim[off])
    mad = 1.4826 * np.median(np.abs(sim[off] - med))
    return np.nan_to_num((sim - med) / max(mad, 1e-9), nan=-1e9)


def metadata_ratio(a: np.ndarray, b: np.ndarray, everyone: np.ndarray, *, agreement: float) -> np.ndarray:
    """The likelihood ratio P(metadata | same person) / P(metadata | two persons) of each pair
    (`a[i]`, `b[i]`) of persons' given metadata (one hashable value per person, e.g. gender, race
    and age joined). A person filed twice carries the same metadata with probability `agreement`;
    two persons share it as often as two persons of `everyone` (one value per person) do.
    `agreement` 0 turns the evidence off (ratio 1)."""
    if not 0 <= agreement < 1:
        raise ValueError(f"agreement must be in [0, 1), got {agreement}")
    a, b = np.asarray(a), np.asarray(b)
    if agreement == 0 or len(everyone) < 2:
        return np.ones(len(a))
    counts, n = pd.Series(everyone).value_counts().to_numpy(float), len(everyone)
    chance = float(np.clip((counts * (counts - 1)).sum() / (n * (n - 1)), 1e-6, 1 - 1e-6))  # of all pairs
    return np.where(a == b, agreement / chance, (1 - agreement) / (1 - chance))


def with_ratio(p: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Probabilities `p` updated by likelihood ratios (Bayes on the odds); 0 and 1 stay."""
    p, ratio = np.asarray(p, float), np.asarray(ratio, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = p / (1 - p) * ratio
        return np.where(p >= 1, 1.0, np.where(p <= 0, 0.0, odds / (1 + odds)))


def duplicate_scores(features: np.ndarray, persons: np.ndarray, stems: np.ndarray, *,
                     grid: np.ndarray | None = None,
                     near_sets: Sequence[Sequence[int]] | None = None,
                     metadata: np.ndarray | None = None, agreement: float = 0.9) -> pd.DataFrame:
    """Per person its best-matching other person and P(same person) -> columns person_id, other,
    similarity, z, metadata (the person's; "" without `metadata`), same_metadata, score. Photos are
    compared stem by stem (a person wears the same masks in every session): the stem-centred
    embeddings' cosine plus, given `grid` (`colour_grid`), the colour grids' distance, each
    standardised over all person pairs and summed; each person's best match is then a robust z
    against all persons' best matches, whose tail mixture gives P(same person) from the photos.
    Datalab near-duplicate sets that join two persons make them each other's best match. Given
    `metadata` (per row, e.g. gender, race and age joined in one string), that probability is
    updated by `metadata_ratio`: the photos decide who is a candidate (a person whose best match is
    no closer than the typical best match, z <= 0, stays at 0), the metadata how likely it is."""
    persons = np.asarray(persons).astype(str)
    table, ids = _stem_table(stem_centred(features, stems), persons, stems)
    sim = _stem_similarity(table, cosine=True)
    if grid is not None:
        sim = sim + _stem_similarity(_stem_table(grid, persons, stems)[0], cosine=False)
    np.fill_diagonal(sim, -np.inf)
    if near_sets is not None:
        pi = {p: i for i, p in enumerate(ids)}
        top_sim = float(np.max(sim[np.isfinite(sim)])) if np.isfinite(sim).any() else 0.0
        for row, others in enumerate(near_sets):
            for j in others:
                a, b = pi[persons[row]], pi[persons[j]]
                if a != b:
                    sim[a, b] = sim[b, a] = max(sim[a, b], top_sim)
    if len(ids) < 3:
        return pd.DataFrame({"person_id": ids, "other": ids, "similarity": 0.0, "z": 0.0, "metadata": "",
                             "same_metadata": False, "score": 0.0})
    best = sim.argmax(1)
    top = sim[np.arange(len(ids)), best]
    z = robust_z(top)
    weighed = metadata is not None and agreement > 0
    # with a second evidence the photos' probability counts from z 0 up: in the band below the
    # mixture's cut it is 0.01-0.05, so only a pair whose metadata agrees rises there (seed 0 at
    # 6/3/4 %: two copies at z 2.1-2.2 -> 0.53 and 0.48; on seeds 0-2 no flag changes)
    score = fit_tail(z).posterior(z, cut=0.0 if weighed else None)
    meta = np.full(len(ids), "", dtype=object)
    if metadata is not None:
        meta = pd.Series(np.asarray(metadata).astype(str)).groupby(persons).first().reindex(ids).to_numpy()
        score = with_ratio(score, metadata_ratio(meta, meta[best], meta, agreement=agreement))
    return pd.DataFrame({"person_id": ids, "other": ids[best], "similarity": top, "z": z, "metadata": meta,
                         "same_metadata": (meta == meta[best]) & (metadata is not None), "score": score})


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
                   global_score: np.ndarray | None = None, usable: np.ndarray | None = None) -> pd.DataFrame:
    """Per image: how far it is from its person's other photos in the stem-centred embedding
    (1 - median cosine) and, when given, in the crop's colour layout (`grid`: `identity_grid`)
    and in the whole photo's (`scene`: `scene_grid`), each a median distance as a robust z within
    its stem; their sum / sqrt(count), minus the median of that over the person's photos;
    optionally the larger of that and Datalab's outlier score as a z (`global_score`, 1 = typical).
    P(outlier) from the tail mixture -> columns distance (the embedding's), z, score, and room:
    P(the room differs) from the scene's z alone (1 without `scene`). The crops
    are compared with the person's `usable` photos (default all; the caller leaves out
    face-detector fallbacks, whose crops are not comparable), the whole photos with all of them.
    Measured on seeds 0-2 (README): the embedding and `identity_grid` alone flagged 33-74 images
    a seed at precision 0.26-0.61; with `scene` (and `find_type_issues`' room rule) 21-24 at
    0.86-0.95, recall 0.90-1.00."""
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
    return pd.DataFrame({"distance": distance, "z": z, "score": tail_probability(z), "room": room})


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


def quality_scores(stats: pd.DataFrame, persons: np.ndarray) -> pd.DataFrame:
    """Per image P(unusable) and its reason, from `image_stats` against the same person's other
    photos: the larger of the three one-sided robust z-scores decides. With a `crop_sharpness`
    column in `stats`, a photo is blurred when either the whole photo or its face crop is (the
    larger z)."""
    rel = lambda v: robust_z(person_relative(v, persons))  # noqa: E731
    brightness = np.log(stats["brightness"].to_numpy() + 1)
    blurred = -rel(stats["sharpness"].to_numpy())
    crop = stats["crop_sharpness"].to_numpy(float) if "crop_sharpness" in stats else np.full(len(stats), np.nan)
    face = np.isfinite(crop)  # NaN: no face crop (a detector fallback), the whole photo decides
    if face.any():
        blurred[face] = np.maximum(blurred[face], -robust_z(person_relative(crop[face], np.asarray(persons)[face])))
    zs = pd.DataFrame({
        "dark": -rel(brightness),
        # most photos clip nothing: the clipped share counts in steps of 5 % of the image
        "overexposed": np.maximum(rel(brightness), robust_z(person_relative(stats["clipped"].to_numpy(), persons),
                                                             floor=0.05)),
        "blurred": blurred,
    })
    probs = pd.DataFrame({k: tail_probability(v.to_numpy()) for k, v in zs.items()})  # one mixture per reason
    reason = probs.to_numpy().argmax(1)
    return pd.DataFrame({"reason": probs.columns.to_numpy()[reason], "z": zs.to_numpy()[np.arange(len(zs)), reason],
                         "score": probs.to_numpy().max(1)})


def box_scores(face_width: np.ndarray, persons: np.ndarray) -> pd.DataFrame:
    """Per image how far its face box width (a share of the image width; NaN: no box) is from
    the person's other photos' -> columns ratio (this box / their median), z, score = P(the
    detector boxed something else). Such crops (a box around the mask alone, or around a poster
    on the wall) are wrong whatever the photo: on synthetic seeds 0-2 most boxes that differed
    were clean photos the detector framed badly, so they are listed for review like fallbacks,
    scored by the photo's quality (README, "Beyond wrong labels")."""
    log_w = np.log(np.clip(np.nan_to_num(np.asarray(face_width, float), nan=1.0), 1e-3, None))
    rel = person_relative(log_w, persons)
    z = np.abs(robust_z(rel))
    return pd.DataFrame({"ratio": np.exp(rel), "z": z, "score": tail_probability(z)})


# ----------------------------------------------------------------------------- the issue rows


def find_type_issues(frame: pd.DataFrame, features: np.ndarray, stats: pd.DataFrame, *,
                     grid: np.ndarray | None = None, outlier_grid: np.ndarray | None = None,
                     scene: np.ndarray | None = None, duplicate_features: np.ndarray | None = None,
                     threshold: float = 0.5, use_datalab: bool = True, agreement: float = 0.9) -> pd.DataFrame:
    """The issue rows (pipeline.noise.ISSUE_COLUMNS) of the three types for the train images in
    `frame` (image_id, person_id, method, face_width: face box width / image width, and the given
    `METADATA` columns it has: duplicate evidence with `agreement`, `duplicate_scores`), their
    `features` (unit rows), `stats` (`image_stats`), `grid` (`colour_grid`, optional: duplicates
    compare whole crops, masks included), `outlier_grid` (`identity_grid`, optional: outliers
    compare what stays the same around the masks; default `grid`), `scene` (`scene_grid` of
    the original photos, optional) and `duplicate_features` (unit rows the duplicates compare;
    default `features`), all in the same order.

    An image is an outlier or a quality issue, not both: the type with the larger probability
    takes it, and a photo that is unusable too is an outlier only when its room differs as well
    (`outlier_scores`' room): a blurred or tiny photo of the person is far from their others,
    but it was taken in the same place. A person flagged as a duplicate of another keeps
    image-level issues of its own.
    The face detector's failures are listed as quality rows whatever the photo's score: kind
    `fallback` (no face found) or `face_box` (`box_scores`), unless the photo itself is unusable
    (then the kind is the reason and the detail names the detector's failure too)."""
    from pipeline.noise import ISSUE_COLUMNS

    frame = frame.reset_index(drop=True)
    persons = frame["person_id"].astype(str).to_numpy()
    image_ids = frame["image_id"].astype(str).to_numpy()
    stems = _stems(image_ids)
    compared = features if duplicate_features is None else duplicate_features  # what persons are matched on
    lab = datalab_issues(compared) if use_datalab and len(frame) > 11 else None
    meta = [c for c in METADATA if c in frame]
    dup = duplicate_scores(compared, persons, stems,
                           grid=grid, near_sets=None if lab is None else lab["near_duplicate_sets"].tolist(),
                           metadata=frame[meta].astype(str).agg(", ".join, axis=1).to_numpy() if meta else None,
                           agreement=agreement)
    fallback = ~frame["method"].isin(("short", "full", "short_low", "full_low")).to_numpy() \
        if "method" in frame else np.zeros(len(frame), bool)
    # Datalab's outlier score is not used: alone it ranked the planted outliers at AP 0.30-0.31
    # (seeds 0, 1) and, as a second evidence, it lowered precision (README, "Beyond wrong labels")
    if "crop_sharpness" in stats:  # a fallback's crop is not a face: its sharpness says nothing of the face
        stats = stats.assign(crop_sharpness=stats["crop_sharpness"].where(~fallback))
    qual = quality_scores(stats, persons)
    out = outlier_scores(features, persons, stems, grid=grid if outlier_grid is None else outlier_grid,
                         scene=scene, usable=~fallback)
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
                     "kind": "duplicate", "detail": f"same person as {older} (similarity {r.similarity:.3f}{given})"})
    for i in range(len(frame)):
        o, q = float(out["score"][i]), float(qual["score"][i])
        if o >= threshold and o > q and (q < threshold or out["room"][i] >= threshold):
            rows.append({"issue_id": f"outlier:{image_ids[i]}", "person_id": persons[i], "image_id": image_ids[i],
                         "field": "outlier", "given": "keep", "suggested": EXCLUDE, "score": o, "kind": "outlier",
                         "detail": f"unlike the person's other photos (z {out['z'][i]:.1f})"})
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
           threshold: float = 0.5, use_datalab: bool = True, agreement: float = 0.9) -> pd.DataFrame:
    """The stage's work: the train crops' embeddings (`features`: the embed stage's, rows in
    manifest order like `crops`, train rows at least: they lead the manifest), statistics and the
    scene grid of the original files (`photo_evidence`), then `find_type_issues`. `agreement`:
    P(a person filed twice has the same given gender, race and age), the weight of that metadata
    as duplicate evidence (`metadata_ratio`; 0 = photos only)."""
    from pipeline.imageio import read_rgb

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
        from pipeline.noise import ISSUE_COLUMNS
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    # duplicates compare the last input size's head: at 192 px it ranked the planted copies of seeds 0-2
    # at AP 1.00 on each (128 px: 0.92 / 0.87 / 1.00); outliers stay on the first's (at 192 px seed 2's
    # precision fell to 0.83, though AP rose), README "Beyond wrong labels"
    features = np.asarray(features)[train]  # read once: both heads come from these rows
    duplicate_features, features = head_features(features, -1), head_features(features)
    mine = np.asarray(crops[train])
    stats, scene = photo_evidence(read_rgb(p) for p in rows["path"])
    return find_type_issues(frame, features, stats.assign(crop_sharpness=crop_sharpness(mine)),
                            grid=colour_grid(mine), outlier_grid=identity_grid(mine), scene=scene,
                            duplicate_features=duplicate_features,
                            threshold=threshold, use_datalab=use_datalab, agreement=agreement)


def unusable_images(issues: pd.DataFrame, *, threshold: float = 0.5) -> set[str]:
    """Image ids of the outlier and quality rows scored at least `threshold`, and of every
    face-detector failure listed (`DETECTOR_KINDS`: a crop that may not show the face). A
    stranger's photo, an empty room, a black frame or a crop of the wall says nothing about the
    person's mask, gender or age, so the noise stage leaves these images out of the label
    analysis: measured on seeds 0-2, they were most of the false mask flags (README). A person
    left with few photos gets a wider age uncertainty (`pipeline.age.pool`)."""
    if issues.empty:
        return set()
    bad = issues["field"].isin(("outlier", "quality")) & (issues["score"].astype(float) >= threshold)
    if "kind" in issues:
        bad |= issues["kind"].astype(str).isin(DETECTOR_KINDS)
    return set(issues.loc[bad, "image_id"].astype(str))
