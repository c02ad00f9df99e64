"""rebalance: act on the flagged issues, person-stratified folds, sample weights -> train_set."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.corrections import decided, read_corrections
from pipeline.files import write_parquet
from pipeline.folds import person_folds
from pipeline.rebalance import apply_noise_action, class_weights

params = stage.start()
p, noise = params["rebalance"], params["noise"]
labels = pd.read_parquet("data/processed/labels.parquet")
issues = pd.read_csv("reports/noise/issues.csv", dtype={"person_id": str, "image_id": str})
decisions = pd.concat([read_corrections(f) for f in params["relabel"]["corrections"]], ignore_index=True)
issues = issues[~decided(issues, decisions, decision="reject")]  # a person said "not an error"
train_set = apply_noise_action(labels, issues, action=noise["action"],
                               age_edges=params["relabel"]["age_edges"], min_score=noise["min_score"],
                               per_field=noise.get("per_field"))
train_set["fold"] = person_folds(train_set["person_id"].to_numpy(),
                                 (train_set["gender"] * 3 + train_set["age_bin"]).to_numpy(),
                                 k=p["folds"], seed=params["seed"])
used = ~train_set["excluded"].to_numpy()
weights = class_weights(train_set["label"].to_numpy()[used], power=p["power"])
train_set["weight"] = np.where(used, weights[train_set["label"]], 0.0)
write_parquet(train_set, "data/processed/train_set.parquet")
changed = (train_set["label"] != labels["label"]).sum()
print(f"rebalance: action={noise['action']} per_field={noise.get('per_field')}: {changed} labels changed, "
      f"{int((~used).sum())} rows excluded, {p['folds']} person folds, balance={p['balance']}")
