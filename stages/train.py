"""train: the final model per chosen fold (held out for validation), dvclive curves, checkpoints.
`train.nproc` > 1: the script reruns itself under torchrun (DDP); rank 0 alone writes."""

import contextlib

import numpy as np
import pandas as pd
from dvclive import Live

from pipeline.model import distributed as D
from pipeline import stage
from pipeline.files import write_parquet
from pipeline.curation.rebalance import class_weights
from pipeline.model.config import TrainConfig
from pipeline.model.train import fit, predict_proba, save_checkpoint

params = stage.start(hub=True)
cfg_dict = dict(params["train"])
train_folds = cfg_dict.pop("train_folds")
seed = cfg_dict.pop("seed", None)  # empty: the project seed; another value reruns the same data with new training draws
cfg = TrainConfig.from_dict({**cfg_dict, "seed": params["seed"] if seed is None else seed})
D.launch(cfg.nproc)  # nproc > 1: this script again under torchrun, one process per device
device = D.init()  # under torchrun: this process's device, in the process group
main = D.is_main()
balance, power = params["rebalance"]["balance"], params["rebalance"]["power"]

ts = pd.read_parquet("data/processed/train_set.parquet")
crops = np.load("data/interim/crops.npy", mmap_mode="r")[: len(ts)]  # train rows lead the manifest
curated, reviewed = ts["label"].to_numpy(), ts["reviewed_label"].to_numpy()
used = ~ts["excluded"].to_numpy()
val_rows = []
for k in train_folds:
    held = (ts["fold"] == k).to_numpy()
    train_idx = np.flatnonzero(used & ~held)
    # held-out persons: scored on the reviewed labels, the same in every noise.action arm
    val_idx = np.flatnonzero(held & ~ts["reviewed_excluded"].to_numpy())
    labels = np.where(held, reviewed, curated)
    with (Live(f"reports/train/fold{k}", dvcyaml=None, save_dvc_exp=False, report=None) if main
          else contextlib.nullcontext()) as live:
        model, history = fit(
            crops, labels, train_idx, val_idx, cfg=cfg,
            sample_weight=ts["weight"].to_numpy()[train_idx] if balance == "weighted" else None,
            class_weight=class_weights(labels[train_idx], power=power) if balance == "loss" else None,
            live=live, device=device, progress=f"train fold {k}" if main else False)
    if not main:
        continue
    save_checkpoint(model, cfg, f"models/fold{k}.pt")
    probs = predict_proba(model, crops, val_idx, batch_size=cfg.batch_size)
    val_rows.append(pd.DataFrame({"image_id": ts["image_id"].to_numpy()[val_idx],
                                  "person_id": ts["reviewed_person_id"].to_numpy()[val_idx], "fold": k,
                                  "label": labels[val_idx], "pred": probs.argmax(1)}))
    print(f"train: fold {k}: best val macro F1 {max(h['val_f1_macro'] for h in history):.3f}")
if main:
    write_parquet(pd.concat(val_rows, ignore_index=True), "models/val_predictions.parquet")
D.finish()
