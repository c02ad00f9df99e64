"""relabel: age bins at params edges, drop band, corrections promoted for iterative cleaning
-> data/processed/labels.parquet. Review decisions (data/corrections.csv) are applied later, by
rebalance, so reviewing does not retrain the OOF models; files in `relabel.corrections` (inside
corrections/, a dependency of this stage) are applied before OOF, e.g. a finished review round
copied there to re-score the out-of-fold models on corrected labels."""

import sys
from pathlib import Path

import pandas as pd

from pipeline import stage
from pipeline.curation.corrections import read_all
from pipeline.files import write_json, write_parquet
from pipeline.curation.relabel import relabel

params = stage.start()["relabel"]
outside = [f for f in params["corrections"] if not Path(f).resolve().is_relative_to(Path("corrections").resolve())]
if outside:
    sys.exit(f"relabel.corrections: {outside} not inside corrections/, the folder this stage depends on. "
             "Review decisions are applied after OOF by rebalance; to re-score OOF on them, copy them in: "
             "cp data/corrections.csv corrections/round1.csv")
manifest = pd.read_parquet("data/interim/manifest.parquet")
labels, unmatched = relabel(manifest, age_edges=params["age_edges"], drop_band=params["drop_band"],
                            corrections=read_all(params["corrections"]))
if len(unmatched):
    print(f"relabel: {len(unmatched)} correction(s) match no image or person:")
    print(unmatched.to_string(index=False))
write_parquet(labels, "data/processed/labels.parquet")
write_json({
    "images": len(labels),
    "persons": int(labels["person_id"].nunique()),
    "excluded": int(labels["excluded"].sum()),
    "corrected": int((labels["corrected"] != "").sum()),
    "unmatched_corrections": len(unmatched),
    "age_bins": labels["age_bin"].value_counts().sort_index().to_dict(),
}, "reports/relabel.json")
print(f"relabel: {len(labels)} images, age edges {params['age_edges']}, "
      f"{int(labels['excluded'].sum())} excluded, {int((labels['corrected'] != '').sum())} corrected before OOF")
