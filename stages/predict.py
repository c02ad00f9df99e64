"""predict: soft vote of the fold models (+ flip TTA) on eval/info.csv -> submission.csv"""

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.files import load_params, write_csv, write_parquet
from pipeline.predict import soft_vote, submission

params = load_params()
manifest = pd.read_parquet("data/interim/manifest.parquet")
info = pd.read_csv(Path(params["data"]["root"]) / "eval" / "info.csv", dtype={"ImageID": str})
rows = np.flatnonzero(manifest["split"] == "eval")
crops = np.load("data/interim/crops.npy", mmap_mode="r")
models = sorted(Path("models").glob("fold*.pt"))
probs = soft_vote(models, crops, rows, tta_flip=params["predict"]["tta_flip"])
train_labels = pd.read_parquet("data/processed/train_set.parquet")["label"]
sub, missing = submission(info, manifest["image_id"].to_numpy()[rows], probs.argmax(1),
                          fallback=int(train_labels.mode()[0]))
if missing:
    print(f"predict: {len(missing)} eval image(s) unreadable, given the most common class: {missing[:10]}")
write_csv(sub, "submission.csv")
write_parquet(pd.DataFrame({"image_id": manifest["image_id"].to_numpy()[rows], "pred": probs.argmax(1),
                            "confidence": probs.max(1)}), "data/processed/eval_predictions.parquet")
print(f"predict: {len(sub)} rows -> submission.csv ({len(models)} model(s), tta_flip="
      f"{params['predict']['tta_flip']})")
