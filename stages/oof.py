"""oof: K person-grouped folds -> out-of-fold probabilities for every train image."""

import numpy as np
import pandas as pd

from pipeline import distributed as D
from pipeline import stage
from pipeline.files import write_npz
from pipeline.train import TrainConfig, out_of_fold

params = stage.start(hub=True)
cfg = dict(params["oof"])
k = cfg.pop("folds")
labels = pd.read_parquet("data/processed/labels.parquet")
rows = labels["row"].to_numpy()
assert (rows == np.arange(len(rows))).all(), "train rows must lead the manifest (ingest order)"
tcfg = TrainConfig.from_dict({**cfg, "seed": params["seed"]})
args = (labels["label"].to_numpy(), labels["person_id"].to_numpy(),
        (labels["gender"] * 3 + labels["age_bin"]).to_numpy())
kw = dict(k=k, cfg=tcfg, seed=params["seed"], ages=labels["age"].to_numpy(dtype=float))
if tcfg.nproc > 1:  # folds side by side, one process each (GPU i mod count); same result on CPU
    oof = D.out_of_fold_spread("data/interim/crops.npy", len(rows), *args, nproc=tcfg.nproc, **kw)
else:
    crops = np.load("data/interim/crops.npy", mmap_mode="r")[: len(rows)]  # a view, not a copy
    oof = out_of_fold(crops, *args, **kw)
write_npz("data/processed/oof.npz", image_id=labels["image_id"].to_numpy().astype(str), **oof)
acc = float((oof["probs"].argmax(1) == labels["label"].to_numpy()).mean())
print(f"oof: {len(labels)} images, {k} folds, out-of-fold accuracy vs given labels {acc:.3f}")
