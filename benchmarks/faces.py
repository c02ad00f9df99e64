"""Throughput of the faces stage against the bare BlazeFace call on the same images.

    python benchmarks/faces.py [--manifest data/interim/manifest.parquet] [--limit 1400]
                               [--workers 0] [--background selfie|rembg|none] [--size 64]

Without --manifest a small synthetic set is generated into a temporary folder. Prints images/s
of `pipeline.faces.detect.process` (all workers, decoding and cropping included) and of the bare
mediapipe detection call (one process, images already decoded), and
ratio = stage / (workers x bare); the target is >= 0.8. Also the stage in one process
(workers=1, no pool) and the parallel efficiency stage / (workers x one-process stage), which
separates scaling from the per-image work the stage does beyond detection (decode, crop,
segmentation). Pool start-up (spawned workers load mediapipe) is inside the stage timing.
CPU milliseconds per image (parent + workers, from getrusage) are printed too: on a machine
whose cores are busy with other work they show the cost that wall-clock rates cannot.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline.faces.detect import blazeface, process
from pipeline.data.imageio import ImageReadError, read_rgb


def synthetic_manifest(folder: Path, persons: int) -> pd.DataFrame:
    from pipeline.data.ingest import ingest
    from pipeline.data.synth import generate

    generate(folder, persons=persons, eval_persons=0, seed=0, progress=False)
    return ingest(folder, progress=False).manifest


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bare_rate(paths: list[str], repeats: int = 2) -> tuple[float, float]:
    """(images/s, CPU ms/image) of one short-range BlazeFace call per decoded image, one
    process."""
    import cv2

    cv2.setNumThreads(1)
    images = []
    for p in paths:
        try:
            images.append(read_rgb(p))
        except ImageReadError:
            pass
    detector = blazeface(0, 0.5)
    detector(images[0])  # warm-up: graph start, delegate set-up
    start, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(repeats):
        for image in images:
            detector(image)
    n = repeats * len(images)
    return n / (time.perf_counter() - start), 1000 * (cpu_seconds() - cpu) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--limit", type=int, default=1400, help="rows used (first N)")
    ap.add_argument("--workers", type=int, default=0, help="0 = all cores")
    ap.add_argument("--background", default="selfie")
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.manifest:
            manifest = pd.read_parquet(args.manifest)
        else:
            manifest = synthetic_manifest(Path(tmp) / "synth", persons=-(-args.limit // 7))
        manifest = manifest.iloc[:args.limit].reset_index(drop=True)
        workers = args.workers or os.cpu_count() or 1
        load = os.getloadavg()[0]
        bare, bare_ms = bare_rate(manifest["path"].tolist())

        rates, ms = {}, {}
        for w in (1, workers):
            start, cpu = time.perf_counter(), cpu_seconds()
            faces = process(manifest, out_crops=Path(tmp) / "crops.npy", size=args.size,
                            background=args.background, workers=w, show_progress=False)
            rates[w] = len(manifest) / (time.perf_counter() - start)
            ms[w] = 1000 * (cpu_seconds() - cpu) / len(manifest)
        solo, stage = rates[1], rates[workers]

    detected = faces["flagged"].eq(False).mean()
    print(f"images {len(manifest)}  cores {os.cpu_count()}  workers {workers}  "
          f"background {args.background}  size {args.size}  detected {detected:.3f}  "
          f"load average before {load:.2f}")
    print(f"bare BlazeFace (1 process, decoded) : {bare:8.1f} img/s  {bare_ms:6.2f} CPU ms/img")
    print(f"stage process() (1 process)         : {solo:8.1f} img/s  {ms[1]:6.2f} CPU ms/img")
    print(f"stage process() ({workers} workers)         : {stage:8.1f} img/s  "
          f"{ms[workers]:6.2f} CPU ms/img (start-up included)")
    print(f"ratio stage / (workers x bare)      : {stage / (workers * bare):8.3f}  (target >= 0.8)")
    print(f"parallel efficiency stage / (workers x 1-process stage): {stage / (workers * solo):.3f}")


if __name__ == "__main__":
    main()
