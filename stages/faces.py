"""faces: manifest -> face crops cache (data/interim/crops.npy), faces.parquet, contact sheet, summary"""

import numpy as np
import pandas as pd
from PIL import Image

from pipeline import stage
from pipeline.faces.detect import contact_sheet, pick_samples, process, summarize
from pipeline.files import atomic_path, write_json, write_parquet


def main() -> None:
    params = stage.start()
    cfg = params["faces"]
    manifest = pd.read_parquet("data/interim/manifest.parquet")
    faces = process(manifest, out_crops="data/interim/crops.npy", size=cfg["size"],
                    model=cfg["model"], min_score=cfg["min_score"],
                    fallback_score=cfg["fallback_score"], margin=cfg["margin"],
                    background=cfg["background"], rembg_model=cfg["rembg_model"],
                    fill=cfg["fill"], workers=cfg["workers"])
    write_parquet(faces, "data/interim/faces.parquet")

    crops = np.load("data/interim/crops.npy", mmap_mode="r")
    sheet = contact_sheet(crops, faces, pick_samples(faces, seed=params.get("seed", 0)))
    with atomic_path("reports/faces/contact_sheet.png") as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")
    summary = summarize(faces, manifest)
    write_json(summary, "reports/faces/summary.json")
    print(f"faces: {summary['images']} images, detection rate {summary['detection_rate']:.3f}, "
          f"{summary['flagged']} flagged, {summary['stripped']} backgrounds removed, "
          f"methods {summary['methods']}")


if __name__ == "__main__":  # workers are spawned and re-import this file
    main()
