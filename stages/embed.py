"""embed: crops cache -> frozen ImageNet features of every train image (data/interim/embeddings.npy,
rows = the manifest's train rows, which lead it), the input of the out-of-fold probe and of the
issue types, and of the crops' top half for the probe's age regression (data/interim/age_band.npy).
Eval images are not embedded: nothing reads them."""

import numpy as np
import pandas as pd

from pipeline import stage
from pipeline.features.embed import age_band, extract
from pipeline.files import write_npy

params = stage.start()
train = (pd.read_parquet("data/interim/manifest.parquet", columns=["split"])["split"] == "train").to_numpy()
n = int(train.sum())
assert train[:n].all(), "train rows must lead the manifest (ingest order)"
crops = np.load("data/interim/crops.npy", mmap_mode="r")[:n]  # a view, not a copy
sizes, band_width = params["embed"]["sizes"], params["embed"].get("age_band", 0)
features = extract(crops, sizes=sizes, progress=True)
band = age_band(crops, width=band_width, progress=True) if band_width else np.zeros((n, 0), np.float32)
write_npy(features, "data/interim/embeddings.npy")
write_npy(band, "data/interim/age_band.npy")  # no columns when off: the age regression reads embeddings.npy
print(f"embed: {features.shape[0]} train images x {features.shape[1]} features (EfficientNet-Lite0, ImageNet, "
      f"frozen; input sizes {', '.join(map(str, sizes))}"
      + (f"; the crops' top half {band_width} px wide for age" if band_width else "") + ")")
