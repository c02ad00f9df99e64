"""relabel: age bins at params edges, drop band, accepted corrections -> data/processed/labels.parquet"""

import pandas as pd

from pipeline import stage
from pipeline.corrections import read_corrections
from pipeline.files import write_json, write_parquet
from pipeline.relabel import relabel

params = stage.start()["relabel"]
manifest = pd.read_parquet("data/interim/manifest.parquet")
corrections = pd.concat([read_corrections(p) for p in params["corrections"]], ignore_index=True)
labels, unmatched = relabel(manifest, age_edges=params["age_edges"], drop_band=params["drop_band"],
                            corrections=corrections)
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
      f"{int(labels['excluded'].sum())} excluded, {int((labels['corrected'] != '').sum())} corrected")
