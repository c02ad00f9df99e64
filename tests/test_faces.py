import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage import data

from pipeline.faces.detect import (FACE_COLUMNS, contact_sheet, crop_box, detect, extract, face_in_crop, make_crop,
                            load_detectors, person_boxes, pick_samples, process, summarize)
from pipeline.data.imageio import write_rgb

ROOT = Path(__file__).resolve().parents[1]
FILL = (127, 127, 127)
# The astronaut's face read off the 512x512 photo: hairline/brow to chin, ear to ear.
ASTRO_FACE = (178, 80, 275, 185)
ASTRO_POINTS = [(205, 118), (245, 118), (224, 146)]  # eyes, mouth


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def detectors():
    return load_detectors("short", 0.2)


@pytest.mark.parametrize("model", ["short", "full"])
def test_detect_astronaut_face(model):
    box, method, score = detect(data.astronaut(), load_detectors(model, 0.2))
    assert method == model and score >= 0.5
    px = [box[0] * 512, box[1] * 512, box[2] * 512, box[3] * 512]
    assert all(px[0] < x < px[2] and px[1] < y < px[3] for x, y in ASTRO_POINTS)
    assert _iou(px, ASTRO_FACE) > 0.6


def test_detect_low_threshold_fallback(detectors):
    box, method, score = detect(data.astronaut(), detectors, min_score=0.99, fallback_score=0.2)
    assert method == "short_low" and 0.2 <= score < 0.99 and box is not None


def test_detect_misses_a_cat(detectors):
    box, method, score = detect(data.chelsea(), detectors)
    assert box is None and method == "miss" and math.isnan(score)


def test_crop_box_square_inside_and_contains_face():
    shape = (512, 384, 3)
    face = (0.4, 0.3, 0.6, 0.45)
    x0, y0, x1, y1 = crop_box(face, shape, margin=0.6)
    assert x1 - x0 == y1 - y0
    assert 0 <= x0 and 0 <= y0 and x1 <= 384 and y1 <= 512
    assert x0 <= 0.4 * 384 and y0 <= 0.3 * 512 and x1 >= 0.6 * 384 and y1 >= 0.45 * 512
    # more room below the face than above it
    assert y1 - 0.45 * 512 > 0.3 * 512 - y0


@pytest.mark.parametrize("margin", [0.4, 0.6, 0.8])
def test_face_in_crop_is_where_crop_box_puts_the_face(margin):
    shape = (1024, 768, 3)
    face = (0.4, 0.3, 0.6, 0.3 + 0.2 * 768 / 1024)  # square in pixels: 153.6 px
    x0, y0, x1, y1 = crop_box(face, shape, margin=margin)
    side = x1 - x0
    top, bottom, left, right = face_in_crop(margin)
    expect = ((face[1] * 1024 - y0) / side, (face[3] * 1024 - y0) / side,
              (face[0] * 768 - x0) / side, (face[2] * 768 - x0) / side)
    np.testing.assert_allclose((top, bottom, left, right), expect, atol=2 / side)


def test_crop_box_is_shifted_inside_and_padded_only_when_too_big():
    shape = (100, 100, 3)
    x0, y0, x1, y1 = crop_box((0.0, 0.0, 0.2, 0.2), shape, margin=0.5)  # face in the corner
    assert (x0, y0) == (0, 0) and x1 - x0 == 40
    big = crop_box((0.2, 0.2, 0.8, 0.8), shape, margin=0.5)  # 120 px square > image
    assert big[2] - big[0] == 120 and big[0] < 0
    image = np.zeros((100, 100, 3), np.uint8)
    crop = extract(image, big, FILL)
    assert crop.shape == (120, 120, 3)
    assert (crop[0, 0] == FILL).all() and (crop[60, 60] == 0).all()


def test_person_boxes_median_ignores_misses_and_eval_rows():
    boxes = np.array([[0.1, 0.2, 0.3, 0.4], [0.3, 0.2, 0.5, 0.6], [np.nan] * 4,
                      [0.5, 0.5, 0.6, 0.6], [0.0, 0.0, 1.0, 1.0]])
    got = person_boxes(["a", "a", "a", "b", ""], boxes)
    assert set(got) == {"a", "b"}
    np.testing.assert_allclose(got["a"], (0.2, 0.2, 0.4, 0.5))


def _tiny_manifest(root: Path) -> pd.DataFrame:
    """astronaut + cat of person 000001 (cat -> person fallback), cat of person 000002 (no
    detection in that person -> centre), an unreadable file, and an eval cat (no person)."""
    astro, cat = root / "astro.png", root / "cat.jpg"
    write_rgb(astro, data.astronaut())
    write_rgb(cat, data.chelsea())
    bad = root / "broken.jpg"
    bad.write_bytes(b"not an image")
    rows = [("000001_female_Asian_45/normal", "000001", astro, "train", 2),
            ("000001_female_Asian_45/mask1", "000001", cat, "train", 0),
            ("000002_male_Asian_20/mask1", "000002", cat, "train", 0),
            ("000002_male_Asian_20/mask2", "000002", bad, "train", 0),
            ("eval_0001.jpg", "", cat, "eval", -1)]
    return pd.DataFrame(rows, columns=["image_id", "person_id", "path", "split", "mask"]).assign(
        path=lambda d: d["path"].astype(str))


def test_process_fallback_chain_and_cache_order(tmp_path):
    manifest = _tiny_manifest(tmp_path)
    out = tmp_path / "crops.npy"
    faces = process(manifest, out_crops=out, size=32, background="none", workers=1,
                    show_progress=False)
    assert list(faces.columns) == FACE_COLUMNS
    assert faces["image_id"].tolist() == manifest["image_id"].tolist()
    assert faces["method"].tolist() == ["short", "person", "centre", "unreadable", "centre"]
    assert faces["flagged"].tolist() == [False, True, True, True, True]
    assert faces["score"].notna().tolist() == [True, False, False, False, False]
    # the person fallback reuses the astronaut's normalised box on the 451x300 cat photo
    a, p = faces.iloc[0], faces.iloc[1]
    np.testing.assert_allclose([p.x0 / 451, p.y1 / 300], [a.x0 / 512, a.y1 / 512])
    assert faces.iloc[3][["x0", "y0", "x1", "y1"]].isna().all()

    crops = np.load(out, mmap_mode="r")
    assert crops.shape == (5, 32, 32, 3) and crops.dtype == np.uint8
    assert (crops[3] == FILL).all()  # unreadable -> fill colour
    np.testing.assert_array_equal(crops[2], crops[4])  # same photo, same centre crop
    assert not np.array_equal(crops[0], crops[2])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_summary_and_contact_sheet(tmp_path):
    faces = pd.DataFrame({"image_id": list("abcd"), "method": ["short", "full_low", "person", "centre"],
                          "score": [0.9, 0.3, np.nan, np.nan], "x0": 0.0, "y0": 0.0, "x1": 1.0,
                          "y1": 1.0, "flagged": [False, False, True, True],
                          "stripped": [True, False, False, False]})
    manifest = pd.DataFrame({"mask": [0, 0, 1, 2], "split": ["train"] * 3 + ["eval"]})
    s = summarize(faces, manifest)
    assert s["detection_rate"] == 0.5 and s["flagged"] == 2 and s["stripped"] == 1
    assert s["detection_rate_by_mask"] == {"wear": 1.0, "incorrect": 0.0, "normal": 0.0}
    assert s["method_share"]["person"] == 0.25 and sum(s["methods"].values()) == 4
    rows = pick_samples(faces, n_worst=2, n_random=5)
    assert rows[:2] == [2, 3] and sorted(rows[2:]) == [0, 1]
    sheet = contact_sheet(np.zeros((4, 16, 16, 3), np.uint8), faces, rows, tile=32, cols=3)
    assert sheet.shape == (2 * (32 + 14), 3 * 32, 3) and sheet.dtype == np.uint8


def test_stage_writes_complete_outputs(tmp_path, write_params):
    manifest = _tiny_manifest(tmp_path)
    (tmp_path / "data/interim").mkdir(parents=True)
    manifest.to_parquet(tmp_path / "data/interim/manifest.parquet")
    params = {"seed": 0, "faces": {"size": 24, "model": "full", "min_score": 0.5,
                                   "fallback_score": 0.2, "margin": 0.6, "background": "selfie",
                                   "rembg_model": "models/u2net.onnx", "fill": [0, 0, 0],
                                   "workers": 2}}
    write_params(tmp_path, params)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(ROOT / "stages/faces.py")], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    crops = np.load(tmp_path / "data/interim/crops.npy", mmap_mode="r")
    faces = pd.read_parquet(tmp_path / "data/interim/faces.parquet")
    assert crops.shape == (5, 24, 24, 3)
    assert faces["image_id"].tolist() == manifest["image_id"].tolist()
    assert faces["method"].tolist() == ["full", "person", "centre", "unreadable", "centre"]
    assert faces["stripped"].iloc[0] and not faces["stripped"].iloc[3]
    assert (tmp_path / "reports/faces/contact_sheet.png").stat().st_size > 0
    summary = json.loads((tmp_path / "reports/faces/summary.json").read_text())
    assert summary["images"] == 5 and summary["methods"]["unreadable"] == 1
    # same crops as the in-process path: worker count does not change results
    solo = process(manifest, out_crops=tmp_path / "solo.npy", size=24, model="full",
                   background="selfie", fill=(0, 0, 0), workers=1, show_progress=False)
    pd.testing.assert_frame_equal(solo, faces)
    np.testing.assert_array_equal(np.load(tmp_path / "solo.npy"), crops)


def test_process_rembg_without_model_fails_before_work(tmp_path):
    manifest = _tiny_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match="faces.rembg_model"):
        process(manifest, out_crops=tmp_path / "crops.npy", background="rembg",
                rembg_model=tmp_path / "u2net.onnx", workers=1, show_progress=False)
    assert not (tmp_path / "crops.npy").exists()


def test_make_crop_keeps_background_when_segmenter_misses_the_face():
    image = data.astronaut()
    box = tuple(v / 512 for v in ASTRO_FACE)
    plain, stripped = make_crop(image, box, size=48, margin=0.6, segmenter=None, fill=FILL)
    assert not stripped
    missed, stripped = make_crop(image, box, size=48, margin=0.6, fill=FILL,
                                 segmenter=lambda im: np.zeros(im.shape[:2], np.float32))
    assert not stripped and np.array_equal(missed, plain)

    def face_only(im):
        m = np.zeros(im.shape[:2], np.float32)
        m[ASTRO_FACE[1]:ASTRO_FACE[3], ASTRO_FACE[0]:ASTRO_FACE[2]] = 1.0
        return m

    kept, stripped = make_crop(image, box, size=48, margin=0.6, segmenter=face_only, fill=FILL)
    assert stripped and (kept[0, 0] == FILL).all() and (kept[-1, -1] == FILL).all()
    np.testing.assert_array_equal(kept[20, 24], plain[20, 24])  # face centre untouched
