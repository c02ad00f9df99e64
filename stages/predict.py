"""predict: soft vote of the fold models (+ flip TTA) on eval/info.csv -> submission.csv"""

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.files import write_csv, write_parquet
from pipeline.model.predict import predict_eval

params = stage.start()
info = pd.read_csv(Path(params["data"]["root"]) / "eval" / "info.csv", dtype={"ImageID": str})
models = sorted(Path("models").glob("fold*.pt"))
sub, preds, missing = predict_eval(
    pd.read_parquet("data/interim/manifest.parquet"), np.load("data/interim/crops.npy", mmap_mode="r"),
    info, models, age_edges=params["relabel"]["age_edges"], tta_flip=params["predict"]["tta_flip"],
    progress=True)
if missing:
    print(f"predict: {len(missing)} eval image(s) unreadable, given the most common class: {missing[:10]}")
write_csv(sub, "submission.csv")
write_parquet(preds, "data/processed/eval_predictions.parquet")
print(f"predict: {len(sub)} rows -> submission.csv ({len(models)} model(s), "
      f"tta_flip={params['predict']['tta_flip']})")
