"""rebalance: reviewers' decisions, action on the remaining flagged issues, person-stratified folds,
sample weights -> train_set. Review decisions are applied here, after OOF: an accept reruns only
rebalance, train, predict and evaluate."""

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.curation.corrections import read_all
from pipeline.curation.metrics import action_effects
from pipeline.files import write_json, write_parquet
from pipeline.curation.folds import curation_folds, duplicate_pairs
from pipeline.curation.rebalance import applied_actions, apply_noise_action, apply_review, class_weights

params = stage.start()
p, noise, edges = params["rebalance"], params["noise"], params["relabel"]["age_edges"]
labels = pd.read_parquet("data/processed/labels.parquet")
issues = pd.read_csv("reports/noise/issues.csv", dtype={"person_id": str, "image_id": str, "given": str, "suggested": str},
                     keep_default_na=False).astype({"score": float})
reviewed, issues, unmatched = apply_review(labels, issues, read_all(p["corrections"]), age_edges=edges)
if len(unmatched):
    print(f"rebalance: {len(unmatched)} decision(s) match no image or person:")
    print(unmatched.to_string(index=False))
train_set = apply_noise_action(reviewed, issues, action=noise["action"], age_edges=edges,
                               min_score=noise["min_score"], per_field=noise.get("per_field"),
                               min_persons=noise.get("min_persons", 0))
# flagged duplicates (undecided or accepted; a rejected one left `issues`) never straddle folds, and the
# folds follow the given labels, so every action and review round trains on the same persons
train_set["fold"] = curation_folds(labels, train_set, duplicate_pairs(issues), k=p["folds"], seed=params["seed"])
# what a held-out person is scored on, the same in every arm: the given labels with the reviewers'
# decisions, never the automatic action (else an arm that relabels is scored on its own labels)
for column in ("label", "person_id", "excluded"):
    train_set[f"reviewed_{column}"] = reviewed[column].to_numpy()
used = ~train_set["excluded"].to_numpy()
weights = class_weights(train_set["label"].to_numpy()[used], power=p["power"])
train_set["weight"] = np.where(used, weights[train_set["label"]], 0.0)
write_parquet(train_set, "data/processed/train_set.parquet")
reviewed_rows = int((reviewed["label"] != labels["label"]).sum())
changed = int((train_set["label"] != labels["label"]).sum())
summary = {"reviewed": reviewed_rows, "changed": changed, "excluded": int((~used).sum())}
truth = Path(params["data"]["root"]) / "truth.csv"
if truth.exists():  # synthetic data: how many right labels the action removed, how many wrong ones it fixed
    summary.update(action_effects(train_set, pd.read_csv(truth, dtype={"person_id": str, "image_id": str}),
                                  age_edges=edges))
write_json(summary, "reports/rebalance.json")
print(f"rebalance: {reviewed_rows} labels changed by review; automatic action: {applied_actions(train_set, noise)}; "
      f"{changed} labels changed in all, {int((~used).sum())} rows excluded, {p['folds']} person folds, "
      f"balance={p['balance']}"
      + (f"; vs truth: {summary['removed_right']} right labels removed, {summary['fixed']} fixed, "
         f"{summary['broken']} broken" if truth.exists() else ""))
