"""issue_types: duplicated persons, outlier images and unusable photos (pipeline.curation.issues) ->
data/interim/issue_types.csv, merged into the one issue list by the noise stage."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.files import write_csv
from pipeline.curation.issues import detect
from pipeline.labels import DETECTOR_KINDS

params = stage.start()
manifest = pd.read_parquet("data/interim/manifest.parquet")
faces = pd.read_parquet("data/interim/faces.parquet")
crops = np.load("data/interim/crops.npy", mmap_mode="r")
features = np.load("data/interim/embeddings.npy", mmap_mode="r")
issues = detect(manifest, faces, crops, features, **params["noise"].get("types", {}),
                margin=params["faces"]["margin"], progress=True)
write_csv(issues, "data/interim/issue_types.csv")
kinds = issues["kind"].astype(str)
counts = issues.assign(kind=np.where(kinds.isin(DETECTOR_KINDS), kinds, issues["field"]))["kind"].value_counts()
print(f"issue_types: {len(issues)} rows ({', '.join(f'{k}: {v}' for k, v in counts.items()) or 'none'})")
