"""embed: crops cache -> frozen ImageNet features of every train image (data/interim/embeddings.npy,
rows = the manifest's train rows, which lead it), the input of the out-of-fold probe and of the
issue types. Eval images are not embedded: nothing reads them."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.embed import extract
from pipeline.files import write_npy

params = stage.start()
train = (pd.read_parquet("data/interim/manifest.parquet", columns=["split"])["split"] == "train").to_numpy()
n = int(train.sum())
assert train[:n].all(), "train rows must lead the manifest (ingest order)"
crops = np.load("data/interim/crops.npy", mmap_mode="r")[:n]  # a view, not a copy
sizes = params["embed"]["sizes"]
features = extract(crops, sizes=sizes, progress=True)
write_npy(features, "data/interim/embeddings.npy")
print(f"embed: {features.shape[0]} train images x {features.shape[1]} features (EfficientNet-Lite0, ImageNet, "
      f"frozen; input sizes {', '.join(map(str, sizes))})")
