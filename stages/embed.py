"""embed: crops cache -> frozen ImageNet features of every image (data/interim/embeddings.npy), the
input of the out-of-fold probe and of the issue types."""

import numpy as np

from pipeline import stage
from pipeline.embed import extract
from pipeline.files import write_npy

params = stage.start()
crops = np.load("data/interim/crops.npy", mmap_mode="r")
sizes = params["embed"]["sizes"]
features = extract(crops, sizes=sizes, progress=True)
write_npy(features, "data/interim/embeddings.npy")
print(f"embed: {features.shape[0]} images x {features.shape[1]} features (EfficientNet-Lite0, ImageNet, frozen; "
      f"input sizes {', '.join(map(str, sizes))})")
