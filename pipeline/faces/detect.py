"""Face detection, crop boxes and the crop cache: every manifest row becomes one model-ready crop.

Fallback chain per image: chosen BlazeFace range at `min_score` -> other range -> both ranges at
`fallback_score` -> the median box of the same person's detected photos (one session, 7 photos)
-> a fixed centre box. Boxes are normalised (x0, y0, x1, y1) in [0, 1] until they are cropped.
"""

from __future__ import annotations

import math
import multiprocessing as mp_
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.faces.background import Segmenter, check_background, composite, load_segmenter
from pipeline.files import atomic_path
from pipeline.data.imageio import ImageReadError, read_rgb
from pipeline.labels import MASKS
from pipeline.workers import process_pool

Box = tuple[float, float, float, float]
# name -> callable(image) -> best (score, normalised box) or None
Detector = Callable[[np.ndarray], "tuple[float, Box] | None"]
RANGES = {"short": 0, "full": 1}
DETECTED = ("short", "full", "short_low", "full_low")
METHODS = DETECTED + ("person", "centre", "unreadable")
FACE_COLUMNS = ["image_id", "method", "score", "x0", "y0", "x1", "y1", "flagged", "stripped"]
KEEP_FACE = 0.5  # min mean foreground over the face box for the background to be removed


def blazeface(model_selection: int, min_score: float) -> Detector:
    """mediapipe BlazeFace (0 = short range, 1 = full range); returns its best detection."""
    import mediapipe as mp

    det = mp.solutions.face_detection.FaceDetection(model_selection=model_selection,
                                                    min_detection_confidence=min_score)

    def run(image: np.ndarray) -> tuple[float, Box] | None:
        found = det.process(np.ascontiguousarray(image)).detections or []
        best = None
        for d in found:
            r = d.location_data.relative_bounding_box
            box = _clip_box((r.xmin, r.ymin, r.xmin + r.width, r.ymin + r.height))
            if box is not None and (best is None or d.score[0] > best[0]):
                best = (float(d.score[0]), box)
        return best

    return run


def load_detectors(model: str = "short", threshold: float = 0.2) -> dict[str, Detector]:
    """Both BlazeFace ranges at the lowest threshold used, the chosen range first."""
    if model not in RANGES:
        raise ValueError(f"model must be one of {tuple(RANGES)}, got {model!r}")
    order = [model] + [m for m in RANGES if m != model]
    return {name: blazeface(RANGES[name], threshold) for name in order}


def _clip_box(box: Sequence[float]) -> Box | None:
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def detect(image: np.ndarray, detectors: Mapping[str, Detector], *, min_score: float = 0.5,
           fallback_score: float = 0.2) -> tuple[Box | None, str, float]:
    """Run the detector chain: (normalised box, method, score), or (None, "miss", nan).

    `detectors` is ordered, chosen range first, and must report detections down to
    `fallback_score`; one call per range serves both thresholds. A range is only run when the
    ones before it found nothing at `min_score`.
    """
    low: list[tuple[float, Box, str]] = []
    for name, run in detectors.items():
        best = run(image)
        if best is None:
            continue
        score, box = best
        if score >= min_score:
            return box, name, score
        if score >= fallback_score:
            low.append((score, box, f"{name}_low"))
    if low:
        score, box, method = max(low, key=lambda t: t[0])
        return box, method, score
    return None, "miss", math.nan


def centre_box(image_shape: Sequence[int]) -> Box:
    """Fixed fallback face box: a square of 0.4 x the short side, centred a little above middle
    (where the competition's 384x512 portraits have the face)."""
    h, w = image_shape[:2]
    side = 0.4 * min(h, w)
    cx, cy = w / 2, 0.45 * h
    return ((cx - side / 2) / w, (cy - side / 2) / h, (cx + side / 2) / w, (cy + side / 2) / h)


def crop_box(box: Box, image_shape: Sequence[int], margin: float = 0.6) -> tuple[int, int, int, int]:
    """Square pixel box around a normalised face box, grown by `margin` face sizes on each side
    and shifted down by a quarter margin (shoulders carry age/gender cues, sky does not).

    The square is moved inside the image when it fits (the face stays inside); otherwise it
    overhangs and `extract` pads it.
    """
    h, w = image_shape[:2]
    fx0, fy0, fx1, fy1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    face = max(fx1 - fx0, fy1 - fy0, 1.0)
    side = max(int(round(face * (1 + 2 * margin))), 1)
    cx = (fx0 + fx1) / 2
    cy = (fy0 + fy1) / 2 + 0.25 * margin * face
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    if side <= w:
        x0 = min(max(x0, 0), w - side)
    if side <= h:
        y0 = min(max(y0, 0), h - side)
    return x0, y0, x0 + side, y0 + side


def face_in_crop(margin: float = 0.6) -> tuple[float, float, float, float]:
    """Where the face box lies in a `crop_box` crop grown by `margin`: (top, bottom, left, right)
    as shares of the crop's side. The face is 1 / (1 + 2 margin) of the side, centred across and
    a quarter margin above the crop's centre; a crop moved inside the photo at its edge shifts it."""
    side = 1 + 2 * margin
    top, left = 0.75 * margin / side, margin / side
    return top, top + 1 / side, left, left + 1 / side


def extract(image: np.ndarray, box: tuple[int, int, int, int],
            fill: Sequence[int] | float = (127, 127, 127)) -> np.ndarray:
    """Cut a pixel box out of `image` ([H, W, C] or a mask [H, W]), padding with `fill` where
    it leaves the image."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    out = np.empty((y1 - y0, x1 - x0) + image.shape[2:], image.dtype)
    out[:] = np.asarray(fill, image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def make_crop(image: np.ndarray, box: Box, *, size: int, margin: float,
              segmenter: Segmenter | None, fill: Sequence[int]) -> tuple[np.ndarray, bool]:
    """Face box -> square crop, background stripped -> (`size` x `size` uint8, stripped).

    The whole photo is segmented (more context than the crop). The background is kept when the
    mask says the face box itself is mostly background (mean < KEEP_FACE): the segmenter
    missed the person, and erasing the face would be worse than keeping the backdrop."""
    import cv2

    square = crop_box(box, image.shape, margin)
    interp = cv2.INTER_AREA if square[2] - square[0] > size else cv2.INTER_LINEAR
    crop = cv2.resize(extract(image, square, fill), (size, size), interpolation=interp)
    if segmenter is None:
        return crop, False
    mask = extract(segmenter(image), square, 0.0)
    h, w = image.shape[:2]
    fx0, fy0 = int(box[0] * w) - square[0], int(box[1] * h) - square[1]
    fx1, fy1 = int(np.ceil(box[2] * w)) - square[0], int(np.ceil(box[3] * h)) - square[1]
    if mask[max(fy0, 0):fy1, max(fx0, 0):fx1].mean() < KEEP_FACE:
        return crop, False
    # composite at output size: same result up to interpolation, a fraction of the work
    return composite(crop, cv2.resize(mask, (size, size), interpolation=interp), fill), True


def person_boxes(person_ids: Sequence[str], boxes: np.ndarray) -> dict[str, Box]:
    """Median normalised box per person over their detected rows (NaN rows = missed).
    Empty person ids (eval images) are never grouped."""
    df = pd.DataFrame(np.asarray(boxes, float), columns=["x0", "y0", "x1", "y1"])
    df["person_id"] = list(person_ids)
    df = df[(df["person_id"] != "") & df["x0"].notna()]
    med = df.groupby("person_id")[["x0", "y0", "x1", "y1"]].median()
    return {pid: tuple(map(float, row)) for pid, row in zip(med.index, med.to_numpy())}


# --- workers: models are loaded once per process by the pool initializer -------------------

_STATE: dict[str, Any] = {}  # set only inside pool workers


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send what native code writes to stderr (mediapipe's TFLite / absl start-up lines, once per
    process) to /dev/null; Python errors still raise."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _load_state(cfg: dict[str, Any]) -> dict[str, Any]:
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    with _native_stderr_silenced():
        detectors = load_detectors(cfg["model"], min(cfg["fallback_score"], cfg["min_score"]))
        segmenter = load_segmenter(cfg["background"], rembg_model=cfg["rembg_model"])
        blank = np.zeros((64, 64, 3), np.uint8)  # the first call prints the rest of the start-up lines
        for run in detectors.values():
            run(blank)
        if segmenter is not None:
            segmenter(blank)
    return {**cfg, "detectors": detectors, "segmenter": segmenter}


def _init_worker(cfg: dict[str, Any]) -> None:
    _STATE.update(_load_state(cfg))


def _pool_work(task: tuple) -> tuple:
    return _work(task, _STATE)


def _work(task: tuple[int, str, Box | None, str], s: dict[str, Any]) -> tuple:
    """(row, path, box, method) -> (row, crop, box, method, score, (h, w), stripped). Method "detect" runs
    the detector chain, and a miss returns no crop so the parent can apply the person fallback;
    "centre" asks for the centre box; anything else uses the given box."""
    i, path, box, method = task
    size, fill = s["size"], s["fill"]
    try:
        image = read_rgb(path)
    except ImageReadError:
        blank = np.empty((size, size, 3), np.uint8)
        blank[:] = np.asarray(fill, np.uint8)
        return i, blank, None, "unreadable", math.nan, (0, 0), False
    score = math.nan
    if method == "detect":
        box, method, score = detect(image, s["detectors"], min_score=s["min_score"],
                                    fallback_score=s["fallback_score"])
        if box is None:
            return i, None, None, method, score, image.shape[:2], False
    elif method == "centre":
        box = centre_box(image.shape)
    crop, stripped = make_crop(image, box, size=size, margin=s["margin"],
                               segmenter=s["segmenter"], fill=fill)
    return i, crop, box, method, score, image.shape[:2], stripped


@contextmanager
def _runner(cfg: dict[str, Any], workers: int) -> Iterator[Callable[[list], Iterable[tuple]]]:
    """Yield `run(tasks) -> results in task order`, in this process or on one pool of
    `workers` processes that lives for both passes (models load once per process)."""
    if workers == 1:
        state = _load_state(cfg)
        yield lambda tasks: (_work(t, state) for t in tasks)
        return
    # spawn, not fork: a child forked from a parent that has run mediapipe corrupts its heap.
    # An executor, not mp.Pool: a worker that dies raises BrokenProcessPool instead of hanging.
    with process_pool(workers, mp_context=mp_.get_context("spawn"), initializer=_init_worker,
                      initargs=(cfg,)) as pool:
        yield lambda tasks: pool.map(_pool_work, tasks,
                                     chunksize=max(1, min(16, len(tasks) // (workers * 8))))


def process(manifest: pd.DataFrame, *, out_crops: str | Path, size: int = 64,
            model: str = "short", min_score: float = 0.5, fallback_score: float = 0.2,
            margin: float = 0.6, background: str = "selfie", rembg_model: str | Path | None = None,
            fill: Sequence[int] = (127, 127, 127), workers: int = 0,
            show_progress: bool = True) -> pd.DataFrame:
    """Detect, crop and strip every manifest row; write crops uint8 [N, size, size, 3] to
    `out_crops` (.npy, atomically) in manifest order and return the faces table (same order):
    image_id, method, score, x0, y0, x1, y1 (face box in pixels of the source image; the
    normalised box for person/centre is scaled the same way; NaN when unreadable), flagged
    (person/centre/unreadable), stripped (background removed; see make_crop).

    Workers are spawned: a script calling this with workers != 1 needs the usual
    `if __name__ == "__main__":` guard."""
    from pipeline.progress import track

    check_background(background, rembg_model)  # fail here, with the how-to, not in workers
    workers = min(workers or os.cpu_count() or 1, max(len(manifest), 1))
    cfg = dict(size=int(size), model=model, min_score=float(min_score),
               fallback_score=float(fallback_score), margin=float(margin), background=background,
               rembg_model=None if rembg_model is None else str(rembg_model),
               fill=tuple(int(v) for v in fill))
    n = len(manifest)
    paths = manifest["path"].astype(str).tolist()
    persons = manifest["person_id"].astype(str).tolist()
    boxes = np.full((n, 4), np.nan)
    methods = ["" for _ in range(n)]
    scores = np.full(n, np.nan)
    hw = np.zeros((n, 2))
    stripped = np.zeros(n, bool)

    with (atomic_path(out_crops) as tmp, track("faces", n, enabled=show_progress) as advance,
          _runner(cfg, workers) as run):
        crops = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))

        def collect(results: Iterable[tuple]) -> list[int]:
            missed = []
            for i, crop, box, method, score, shape, was_stripped in results:
                methods[i], scores[i], hw[i], stripped[i] = method, score, shape, was_stripped
                advance()
                if crop is None:
                    missed.append(i)
                    continue
                crops[i] = crop
                if box is not None:
                    boxes[i] = box
            return missed

        missed = collect(run([(i, p, None, "detect") for i, p in enumerate(paths)]))
        if missed:
            by_person = person_boxes(persons, boxes)
            advance(0, total=n + len(missed), label="faces (fallback)")
            collect(run([(i, paths[i], by_person.get(persons[i]),
                          "person" if persons[i] in by_person else "centre") for i in missed]))
        crops.flush()
        del crops

    faces = pd.DataFrame({"image_id": manifest["image_id"].astype("str").reset_index(drop=True),
                          "method": pd.Series(methods, dtype="str"), "score": scores})
    faces["x0"], faces["x1"] = boxes[:, 0] * hw[:, 1], boxes[:, 2] * hw[:, 1]
    faces["y0"], faces["y1"] = boxes[:, 1] * hw[:, 0], boxes[:, 3] * hw[:, 0]
    faces["flagged"] = ~faces["method"].isin(DETECTED)
    faces["stripped"] = stripped
    return faces[FACE_COLUMNS]


# --- reports -------------------------------------------------------------------------------

def summarize(faces: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, Any]:
    """Detection rate overall, per split and per mask state; count and share per method."""
    detected = faces["method"].isin(DETECTED).to_numpy()
    n = len(faces)
    counts = faces["method"].value_counts()
    out: dict[str, Any] = {
        "images": n,
        "detected": int(detected.sum()),
        "detection_rate": float(detected.mean()) if n else None,
        "flagged": int(faces["flagged"].sum()),
        "stripped": int(faces["stripped"].sum()) if "stripped" in faces else 0,
        "methods": {m: int(counts.get(m, 0)) for m in METHODS},
        "method_share": {m: float(counts.get(m, 0) / n) if n else 0.0 for m in METHODS},
    }
    if "split" in manifest:
        split = manifest["split"].astype(str).to_numpy()
        out["detection_rate_by_split"] = {s: float(detected[split == s].mean())
                                          for s in sorted(set(split))}
    if "mask" in manifest:
        names = [_mask_name(v) for v in manifest["mask"]]
        out["detection_rate_by_mask"] = {
            m: float(detected[[k == m for k in names]].mean())
            for m in MASKS + ("unknown",) if m in names}
    return out


def _mask_name(value: Any) -> str:
    if isinstance(value, str) and value in MASKS:
        return value
    try:
        code = int(value)
    except (TypeError, ValueError):
        return "unknown"
    return MASKS[code] if 0 <= code < len(MASKS) else "unknown"


def pick_samples(faces: pd.DataFrame, *, n_worst: int = 24, n_random: int = 24,
                 seed: int = 0) -> list[int]:
    """Row indices for the contact sheet: fallbacks and lowest scores first, then random others."""
    order = faces.assign(_f=~faces["flagged"], _s=faces["score"].fillna(-1.0))
    worst = order.sort_values(["_f", "_s"], kind="stable").index[:n_worst].tolist()
    rest = np.setdiff1d(np.arange(len(faces)), worst)
    rng = np.random.default_rng(seed)
    picked = rng.choice(rest, size=min(n_random, len(rest)), replace=False) if len(rest) else []
    return [int(i) for i in worst] + sorted(int(i) for i in picked)


def contact_sheet(crops: np.ndarray, faces: pd.DataFrame, rows: Sequence[int], *,
                  tile: int = 128, cols: int = 8) -> np.ndarray:
    """Grid of crops (RGB uint8), each labelled with its method and score; flagged in red."""
    import cv2
    from PIL import Image, ImageDraw

    label_h = 14
    n_rows = max(1, math.ceil(len(rows) / cols))
    sheet = Image.new("RGB", (cols * tile, n_rows * (tile + label_h)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, i in enumerate(rows):
        x, y = (k % cols) * tile, (k // cols) * (tile + label_h)
        sheet.paste(Image.fromarray(cv2.resize(np.asarray(crops[i]), (tile, tile))), (x, y))
        method, score, flagged = faces.iloc[i][["method", "score", "flagged"]]
        text = method if math.isnan(score) else f"{method} {score:.2f}"
        draw.text((x + 2, y + tile + 1), text, fill=(200, 0, 0) if flagged else (0, 0, 0))
    return np.asarray(sheet)
