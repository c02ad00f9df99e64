"""noise: cleanlab on the out-of-fold probabilities -> ranked label issues + health summary; the
issue types (duplicates, outliers, unusable photos) join the same list, and the images they call
unusable are left out of the label analysis."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.files import write_csv, write_json
from pipeline.curation.noise import find_issues, health_summary, sort_issues, unusable_images

params = stage.start()
edges = params["relabel"]["age_edges"]
labels = pd.read_parquet("data/processed/labels.parquet")
oof = dict(np.load("data/processed/oof.npz", allow_pickle=False))
types = pd.read_csv("data/interim/issue_types.csv", dtype={"person_id": str, "image_id": str, "given": str,
                                                             "suggested": str}, keep_default_na=False)
unusable = unusable_images(types, threshold=params["noise"].get("types", {}).get("threshold", 0.5))
labels = labels.assign(excluded=labels["excluded"] | labels["image_id"].astype(str).isin(unusable))
issues = find_issues(labels, oof, age_edges=edges, **params["noise"].get("find", {}))
issues = sort_issues(pd.concat([issues, types.astype({"score": float})], ignore_index=True))  # one list
write_csv(issues, "reports/noise/issues.csv")
summary = health_summary(labels, oof, age_edges=edges)
summary["issues"] = issues["field"].value_counts().to_dict()
summary["unusable_images"] = len(unusable)
write_json(summary, "reports/noise/summary.json")
print(f"noise: {len(issues)} issue rows "
      f"({', '.join(f'{k}: {v}' for k, v in summary['issues'].items()) or 'none'}); "
      f"{len(unusable)} unusable images left out of the label analysis; review with `curate inspect-noise`")
