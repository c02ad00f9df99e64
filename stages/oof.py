"""oof: K person-grouped folds -> out-of-fold probabilities (and age in years) for every train image,
from fine-tuned networks, a linear probe on the frozen embeddings, or the mean of both (oof.method)."""

import numpy as np
import pandas as pd

from pipeline import probe, stage
from pipeline.files import write_npz
from pipeline.folds import duplicate_pairs, person_folds, person_strata
from pipeline.noise import head_labels

params = stage.start(hub=True)
cfg = dict(params["oof"])
k, method, probe_c = cfg.pop("folds"), cfg.pop("method", "network"), cfg.pop("probe_c", 1e-3)
labels = pd.read_parquet("data/processed/labels.parquet")
rows = labels["row"].to_numpy()
assert (rows == np.arange(len(rows))).all(), "train rows must lead the manifest (ingest order)"
# a flagged duplicate (two ids, one person) joins its original's fold: on the training side the copy
# would vouch for the original's labels, right or wrong
pairs = duplicate_pairs(pd.read_csv("data/interim/issue_types.csv", dtype=str, keep_default_na=False))
args = (labels["label"].to_numpy(), labels["person_id"].to_numpy(), person_strata(labels))
ages = labels["age"].to_numpy(dtype=float)
parts = []
if method in ("network", "ensemble"):
    from pipeline import distributed as D  # torch and timm: imported only when networks train (~7 s here)
    from pipeline.train import TrainConfig, out_of_fold

    stage.pin_threads(params)
    tcfg = TrainConfig.from_dict({**cfg, "seed": params["seed"]})
    kw = dict(k=k, cfg=tcfg, seed=params["seed"], ages=ages, together=pairs)
    if tcfg.nproc > 1:  # folds side by side, one process each (GPU i mod count); same result on CPU
        parts.append(D.out_of_fold_spread("data/interim/crops.npy", len(rows), *args, nproc=tcfg.nproc, **kw))
    else:
        crops = np.load("data/interim/crops.npy", mmap_mode="r")[: len(rows)]  # a view, not a copy
        parts.append(out_of_fold(crops, *args, **kw))
if method in ("probe", "ensemble"):
    folds = person_folds(args[1], args[2], k=k, seed=params["seed"], together=pairs)  # the networks' folds
    features = np.load("data/interim/embeddings.npy", mmap_mode="r")[rows]
    band = np.load("data/interim/age_band.npy", mmap_mode="r")[rows]  # no columns when embed.age_band is 0
    parts.append({**probe.out_of_fold(features, head_labels(labels), ages, folds, c=probe_c, age_features=band),
                  "fold": folds})
oof = probe.ensemble(*parts)
write_npz("data/processed/oof.npz", image_id=labels["image_id"].to_numpy().astype(str), **oof)
acc = float((oof["probs"].argmax(1) == labels["label"].to_numpy()).mean())
print(f"oof ({method}): {len(labels)} images, {k} folds ({len(pairs)} flagged duplicate pairs kept together), "
      f"out-of-fold accuracy vs given labels {acc:.3f}")
