"""Benchmark the synthetic generator: images/s, and how often mediapipe BlazeFace finds the face
(short and full range) on unmasked, masked and incorrectly masked photos, and on the hard persons.

    python benchmarks/synth.py --persons 60 [--size 192 256] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.imageio import read_rgb
from pipeline.data.synth import generate, sample_persons


def detection_rates(root: Path, seed: int, persons: int, min_confidence: float = 0.5) -> pd.DataFrame:
    """Share of images with a detection, per range and photo group."""
    import mediapipe as mp

    truth = pd.read_csv(root / "truth.csv", dtype={"person_id": str})
    truth = truth[truth["split"] == "train"]
    hard = {p.person_id: p.hard for p in sample_persons(persons, seed=seed)}
    stems = truth["image_id"].str.rsplit("/", n=1).str[1]
    group = np.where(truth["person_id"].map(hard).astype(bool), "hard",
                     stems.map(lambda s: {"normal": "unmasked", "incorrect_mask": "incorrect"}
                               .get(s, "masked")))
    rows = []
    for model, name in ((0, "short"), (1, "full")):
        with mp.solutions.face_detection.FaceDetection(
                model_selection=model, min_detection_confidence=min_confidence) as detector:
            found = []
            for image_id in truth["image_id"]:
                folder, stem = image_id.split("/")
                path = next((root / "train" / "images" / folder).glob(f"{stem}.*"))
                found.append(bool(detector.process(read_rgb(path)).detections))
        rows.append(pd.Series(found).groupby(group).mean().rename(name))
    table = pd.concat(rows, axis=1)
    table["images"] = pd.Series(group).value_counts()
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--persons", type=int, default=60)
    ap.add_argument("--size", type=int, nargs=2, default=(192, 256), metavar=("W", "H"))
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        start = time.perf_counter()
        stats = generate(root, persons=args.persons, eval_persons=0, seed=args.seed,
                         image_size=tuple(args.size), workers=args.workers, progress=False)
        wall = time.perf_counter() - start
        print(f"generate: {stats['images']} images at {args.size[0]}x{args.size[1]} in {wall:.1f}s "
              f"= {stats['images'] / wall:.0f} img/s with {stats['workers']} workers "
              f"({os.cpu_count()} cores)")
        print(f"hard persons: {stats['hard_persons']} of {args.persons}")
        print("mediapipe BlazeFace detection rate (min confidence 0.5):")
        print(detection_rates(root, args.seed, args.persons).round(3).to_string())


if __name__ == "__main__":
    main()
