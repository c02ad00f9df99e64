"""How sensitive the face crops are to the last bits of the segmentation mask: the cross-machine
difference of `crops.npy` (faces.parquet identical) is the segmenter's float output differing in
its low bits between CPU instruction sets. This perturbs the mask by a relative `--eps` and counts
the crop bytes that change, for the blend as it is and for a matte quantised to `--levels` steps
before blending. Prints one line per variant.

    python benchmarks/crop_bits.py --images 200 --eps 1e-6 1e-4 1e-2
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline.data.imageio import read_rgb
from pipeline.faces import detect as F
from pipeline.faces.background import selfie_segmenter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--eps", type=float, nargs="+", default=[1e-6, 1e-4, 1e-2])
    ap.add_argument("--levels", type=int, nargs="+", default=[255, 16])
    args = ap.parse_args()
    manifest = pd.read_parquet("data/interim/manifest.parquet").head(args.images)
    faces = pd.read_parquet("data/interim/faces.parquet").set_index("image_id")
    seg = selfie_segmenter()
    rng = np.random.default_rng(0)
    images = [read_rgb(p) for p in manifest["path"]]
    masks = [seg(im) for im in images]
    boxes = [tuple(np.asarray(faces.loc[i, ["x0", "y0", "x1", "y1"]], float) / [w, h, w, h])  # normalised
             for i, w, h in zip(manifest["image_id"], manifest["width"], manifest["height"])]
    for eps in args.eps:
        noise = [1 + eps * rng.standard_normal(m.shape).astype(np.float32) for m in masks]
        for levels in [0, *args.levels]:
            def quant(m: np.ndarray) -> np.ndarray:
                return m if not levels else np.round(np.clip(m, 0, 1) * levels) / levels
            changed = total = 0
            for im, m, n, box in zip(images, masks, noise, boxes):
                if any(np.isnan(box)):
                    continue
                a, _ = F.make_crop(im, box, size=64, margin=0.6, segmenter=lambda _: quant(m), fill=(127,) * 3)
                b, _ = F.make_crop(im, box, size=64, margin=0.6, segmenter=lambda _: quant(m * n), fill=(127,) * 3)
                changed += int((a != b).sum())
                total += a.size
            name = "blend as is" if not levels else f"matte quantised to {levels} levels"
            print(f"eps {eps:g}: {name}: {changed} of {total} crop bytes differ ({changed / total:.2e}); "
                  f"crops identical: {changed == 0}")


if __name__ == "__main__":
    main()
