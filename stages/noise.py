"""noise: cleanlab on the out-of-fold probabilities -> ranked label issues + health summary."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.age import probe_oof
from pipeline.files import write_csv, write_json
from pipeline.noise import find_issues, health_summary, sort_issues

params = stage.start()
edges = params["relabel"]["age_edges"]
labels = pd.read_parquet("data/processed/labels.parquet")
oof = dict(np.load("data/processed/oof.npz", allow_pickle=False))
if params["noise"].get("age_probe", True) and "age_years" in oof:  # a second age estimate, from frozen features
    oof["age_probe"] = probe_oof(labels, oof, np.load("data/interim/embeddings.npy", mmap_mode="r"))
issues = find_issues(labels, oof, age_edges=edges, **params["noise"].get("find", {}))
types = pd.read_csv("data/interim/issue_types.csv", dtype={"person_id": str, "image_id": str, "given": str,
                                                             "suggested": str}, keep_default_na=False)
issues = sort_issues(pd.concat([issues, types.astype({"score": float})], ignore_index=True))  # one list
write_csv(issues, "reports/noise/issues.csv")
summary = health_summary(labels, oof, age_edges=edges)
summary["issues"] = issues["field"].value_counts().to_dict()
write_json(summary, "reports/noise/summary.json")
print(f"noise: {len(issues)} issue rows "
      f"({', '.join(f'{k}: {v}' for k, v in summary['issues'].items()) or 'none'}); "
      "review with `curate inspect-noise`")
