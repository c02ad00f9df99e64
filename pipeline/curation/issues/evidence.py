"""What the detectors compare, per train image: embeddings of the face crop (the head of the
frozen ImageNet EfficientNet-Lite0 of `pipeline.features.embed`), the age and gender a linear probe
perceives on them, coarse colour grids of the crop and of the whole photo, and plain statistics of
the original file (brightness, clipped share, sharpness)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from pipeline.features import embed

Embedder = Literal["efficientnet_lite0", "pixels"]
CLIPPED = 250  # grey level (0-255) from which a pixel counts as clipped white
PERCEIVER_FOLDS = 5  # person folds of `perceived`'s probe


# ----------------------------------------------------------------------------- features


def embed_crops(crops: np.ndarray, *, embedder: Embedder = "efficientnet_lite0", size: int = 128) -> np.ndarray:
    """One L2-normalised feature vector per crop (uint8 [N, H, W, 3]): the pooled head of ImageNet
    EfficientNet-Lite0 (`pipeline.features.embed`, frozen, crops resized to `size`), or the crop itself at
    16 x 16 (`pixels`, for tests without weights)."""
    import cv2

    if embedder == "pixels":
        x = np.stack([cv2.resize(np.asarray(c), (16, 16), interpolation=cv2.INTER_AREA) for c in crops])
        return unit(x.reshape(len(x), -1).astype(np.float64))
    if embedder != "efficientnet_lite0":
        raise ValueError(f"embedder must be efficientnet_lite0 or pixels, got {embedder!r}")
    return head_features(embed.extract(np.asarray(crops), sizes=(size,)))


def head_features(features: np.ndarray, part: int = 0) -> np.ndarray:
    """The unit-length head part of `pipeline.features.embed` features (`part`: which input size's):
    what photos are compared on."""
    return unit(embed.head(features, part).astype(np.float64))


def perceived(features: np.ndarray, persons: np.ndarray, gender: np.ndarray, age: np.ndarray, *,
              seed: int = 0, progress: bool = False) -> np.ndarray:
    """Per photo [N, 2]: the age in years and the gender log-odds (`pipeline.labels.GENDERS`' second
    over its first) that the linear probe perceives in its embed stage `features` (the probe of
    `pipeline.curation.probe.out_of_fold`, fitted on the given `gender` codes and `age` of the
    other persons' photos, PERCEIVER_FOLDS person folds drawn with `seed`). A photo filed under the
    wrong person is usually of someone of another age or gender than that person's other photos,
    whatever the camera (`outlier_scores`' attributes); a face API compares the same. Columns that
    cannot be fitted are left out: none with fewer persons than folds, no gender with one gender.
    A progress bar (ETA) per fold fit when `progress`."""
    from pipeline.curation.folds import person_folds
    from pipeline.curation.probe import out_of_fold

    persons, gender = np.asarray(persons).astype(str), np.asarray(gender, int)
    if len(np.unique(persons)) < PERCEIVER_FOLDS:
        return np.zeros((len(persons), 0))
    folds = person_folds(persons, gender, k=PERCEIVER_FOLDS, seed=seed)
    heads = {"gender": gender} if len(np.unique(gender)) > 1 else {}
    out = out_of_fold(np.asarray(features, np.float32), heads, np.asarray(age, float), folds, progress=progress)
    columns = [out["age_years"]]
    if heads:
        p = np.clip(out["gender"], 1e-6, 1.0)
        columns.append(np.log(p[:, 1] / p[:, 0]))
    return np.column_stack(columns)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def colour_grid(crops: Iterable[np.ndarray], n: int = 4, *, brightness: bool = True, mirror: bool = False) -> np.ndarray:
    """Per image an n x n grid of mean colours as chromaticity and (with `brightness`) log
    brightness (exposure moves the brightness, not the hue): the same person in the same masks
    gives the same grid. `mirror`: each cell averaged with its mirror image across the vertical
    axis, so a front-camera selfie (mirrored) gives the same grid as the photo the other way round."""
    import cv2

    g = np.stack([cv2.resize(np.asarray(c), (n, n), interpolation=cv2.INTER_AREA) for c in crops]).astype(np.float64)
    if mirror:
        g = (g + g[:, :, ::-1]) / 2
    total = g.sum(-1, keepdims=True) + 1
    parts = [3 * g / total, 0.3 * np.log(total / 3 + 1)] if brightness else [3 * g / total]
    return np.concatenate(parts, -1).reshape(len(g), -1)


def scene_grid(images: Iterable[np.ndarray], n: int = 5) -> np.ndarray:
    """The chromaticity of the outer ring of an n x n grid over the whole original photo: the room
    around the person. A person's seven photos are taken in one place (a stranger's photo or an
    empty room brings its own), while exposure changes from photo to photo and the inner cells
    hold the face and its mask (the whole grid, mask included, would take a swapped mask photo
    for an outlier, and out of the label analysis). Mirror-symmetric (`colour_grid`'s `mirror`):
    a selfie shows the same room the other way round."""
    ring = np.ones((n, n), bool)
    ring[1:-1, 1:-1] = False
    g = colour_grid(images, n, brightness=False, mirror=True).reshape(-1, n, n, 3)
    return g[:, ring].reshape(len(g), -1)


def identity_grid(crops: np.ndarray, n: int = 4, *, top: float = 0.45, bottom: float = 0.8) -> np.ndarray:
    """`colour_grid` of the band above the mask (the crop's top `top` share: hair, eyes, forehead)
    and of the band below it (from `bottom` down: neck, clothes), side by side: what a person's
    photos share while the masks change from photo to photo. Mirror-symmetric like `scene_grid`."""
    crops = np.asarray(crops)
    h = crops.shape[1]
    return np.concatenate([colour_grid(crops[:, : max(1, int(h * top))], n, mirror=True),
                           colour_grid(crops[:, min(h - 1, int(h * bottom)):], n, mirror=True)], 1)


def _sharpness(gray: np.ndarray) -> float:
    """Log variance of the Laplacian of a grey image: low when it is soft."""
    import cv2

    return float(np.log(cv2.Laplacian(gray, cv2.CV_64F).var() + 1e-6))


def tile_sharpness(gray: np.ndarray, n: int = 4) -> float:
    """Log of the median over an n x n grid of tiles of the Laplacian's variance: a photo soft
    almost everywhere stays soft when a small part of it is sharp (synth's `tiny`: a small sharp
    figure pasted on a blurred copy of the scene, whose whole-photo variance the figure's edges
    keep high)."""
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
    return {"brightness": float(gray.mean()), "clipped": float((gray >= CLIPPED).mean()), "sharpness": tile_sharpness(g)}


def image_stats(images: Iterable[np.ndarray]) -> pd.DataFrame:
    """`photo_stats` of each RGB image."""
    return pd.DataFrame([photo_stats(img) for img in images], columns=["brightness", "clipped", "sharpness"])


def photo_evidence(images: Iterable[np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    """`image_stats` and `scene_grid` in one pass over the photos (each read once, none kept)."""
    return _evidence_table([_one_photo(img) for img in images])


def photo_evidence_files(paths: Sequence[str], *, workers: int = 0, progress: bool = False
                         ) -> tuple[pd.DataFrame, np.ndarray]:
    """`photo_evidence` of the image files at `paths`, decoded by `workers` processes (0 = all cores),
    with a progress bar (ETA) when `progress`."""
    from pipeline.progress import track
    from pipeline.workers import pool_map

    with track("issue_types: reading photos", len(paths), enabled=progress) as advance:
        return _evidence_table(pool_map(_file_evidence, list(paths), workers=workers, advance=advance))


def person_share(paths: Sequence[str]) -> np.ndarray:
    """Per image file the share of its pixels that mediapipe's person segmenter (the bundled
    selfie model, as `faces.background: selfie` uses) calls a person (mask >= 0.5): about 0 for a
    photo with nobody in it. Read for the photos where the face detector found no face, so that
    an empty room can be told from a face the detector missed."""
    from pipeline.data.imageio import read_rgb
    from pipeline.faces.background import selfie_segmenter

    if not len(paths):
        return np.zeros(0)
    segment = selfie_segmenter()
    return np.array([float((segment(read_rgb(p)) >= 0.5).mean()) for p in paths])


def _one_photo(img: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    return photo_stats(img), scene_grid([img])[0]


def _file_evidence(path: str) -> tuple[dict[str, float], np.ndarray]:
    from pipeline.data.imageio import read_rgb

    return _one_photo(read_rgb(path))


def _evidence_table(rows: list[tuple[dict[str, float], np.ndarray]]) -> tuple[pd.DataFrame, np.ndarray]:
    stats = pd.DataFrame([r[0] for r in rows], columns=["brightness", "clipped", "sharpness"])
    return stats, np.array([r[1] for r in rows]).reshape(len(rows), -1)


def crop_exposure(crops: np.ndarray, *, margin: float | None = None) -> pd.DataFrame:
    """Per uint8 crop [N, H, W, 3]: its mean luminance and share of clipped-white pixels (as
    `photo_stats`), columns crop_brightness and crop_clipped. With the background stripped the
    crop is the face and shoulders: a photo whose wall clips but whose face is well exposed is
    usable, one whose face is washed out (or lost in the dark) is not. Given the crops'
    `margin` (faces.margin), also face_brightness and face_clipped: the same over the face box
    alone (`face_in_crop`), which a crop whose background was kept (not removed, or missed by the
    segmenter) needs, since its wall fills the rest."""
    import cv2

    crops = np.asarray(crops)
    n, h, w = crops.shape[:3] if crops.ndim == 4 else (len(crops), 0, 0)
    gray = np.array([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in crops], np.uint8).reshape(n, h, w)
    out = _exposure(gray.reshape(n, h * w), "crop")
    if margin is None:
        return out
    from pipeline.faces.detect import face_in_crop

    top, bottom, left, right = face_in_crop(margin)
    face = gray[:, int(top * h):max(int(bottom * h), int(top * h) + 1), int(left * w):max(int(right * w), int(left * w) + 1)]
    return pd.concat([out, _exposure(face.reshape(n, -1), "face")], axis=1)


def _exposure(gray: np.ndarray, prefix: str) -> pd.DataFrame:
    """Per row of grey pixels [N, P]: columns <prefix>_brightness (mean) and <prefix>_clipped."""
    empty = gray.size == 0
    return pd.DataFrame({f"{prefix}_brightness": np.zeros(len(gray)) if empty else gray.mean(1),
                         f"{prefix}_clipped": np.zeros(len(gray)) if empty else (gray >= CLIPPED).mean(1)})


def crop_sharpness(crops: np.ndarray) -> np.ndarray:
    """Per uint8 crop [N, H, W, 3]: the sharpness (as `image_stats`) of the face crop itself. The
    whole photo's sharpness misses a blurred face when something else in the frame is sharp (a
    small sharp figure pasted on a blurred scene: synth's `tiny`, whose face box the detector may
    still find at full size); a soft face crop is what makes a photo useless to the classifier."""
    import cv2

    return np.array([_sharpness(cv2.cvtColor(np.asarray(c), cv2.COLOR_RGB2GRAY)) for c in crops], dtype=float)


# ----------------------------------------------------------------------------- scores
