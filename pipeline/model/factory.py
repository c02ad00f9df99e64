"""timm model factory with a joint 18-way head or mask/gender/age heads, the losses, and the
model output -> probabilities mapping."""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from pipeline import labels as L
from pipeline.features import hub
from pipeline.features import weights
from pipeline.model.config import LOSSES, Heads

HEAD_KINDS = typing.get_args(Heads)
HEAD_SIZES = {name: len(values) for name, values in L.HEADS.items()}  # mask 3, gender 2, age 3

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# Age in years is learnt standardised: output * AGE_SCALE + AGE_MEAN (the 18-60 range maps to about +-1).
AGE_MEAN, AGE_SCALE = 39.0, 21.0


class Classifier(nn.Module):
    """A timm network plus what prediction needs: head kind, input size, normalisation.

    Input is float RGB in [0, 1], NCHW; it is resized to `img_size` when it differs and
    normalised with the network's timm default mean/std. Output logits are [B, 18] (joint) or
    [B, 8] = mask 3 | gender 2 | age 3 (multi: one linear layer is three heads side by side), plus
    one last column, the standardised age in years, when `age_years`."""

    def __init__(self, net: nn.Module, *, heads: str, img_size: int, age_years: bool = False):
        super().__init__()
        self.net, self.heads, self.img_size, self.age_years = net, heads, img_size, age_years
        data_cfg = timm.data.resolve_model_data_config(net)
        self.register_buffer("mean", torch.tensor(data_cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(data_cfg["std"]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
        return self.net((x - self.mean) / self.std)


def num_outputs(heads: str, *, age_years: bool = False) -> int:
    """Width of the class logits (18 joint, 8 multi), plus one column for age in years."""
    if heads not in HEAD_KINDS:
        raise ValueError(f"heads must be one of {HEAD_KINDS}, got {heads!r}")
    return (L.NUM_CLASSES if heads == "joint" else sum(HEAD_SIZES.values())) + int(age_years)


def create_model(name: str, *, heads: str = "joint", img_size: int = 224, drop_rate: float = 0.0,
                 pretrained_file: str | None = None, pretrained: bool = False,
                 age_years: bool = False) -> Classifier:
    """Any timm architecture by name. `pretrained_file` loads local weights through timm's own
    pretrained path (the classifier is dropped when its size differs), or, for a file in another
    naming such as the bundled EfficientNet-Lite0, through `pipeline.features.weights`. Otherwise
    `pretrained` takes timm's hub weights: from the Hugging Face cache with no network call, else
    downloaded by timm, else `hub.HubWeightsUnavailable` at once. `age_years` adds an output for
    age in years (see `AGE_MEAN`, `AGE_SCALE`)."""
    n = num_outputs(heads, age_years=age_years)
    if pretrained_file is None and pretrained:
        cached = hub.require(name)
        net = timm.create_model(name, pretrained=True, num_classes=n, drop_rate=drop_rate,
                                pretrained_cfg_overlay=dict(file=str(cached)) if cached else None)
    elif pretrained_file is None:
        net = timm.create_model(name, pretrained=False, num_classes=n, drop_rate=drop_rate)
    else:
        path = weights.resolve(pretrained_file)
        if weights.is_timm_state_dict(name, path):
            net = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
                                    num_classes=n, drop_rate=drop_rate)
            _check_loaded(net, str(path))
        else:
            net = timm.create_model(name, pretrained=False, num_classes=n, drop_rate=drop_rate)
            weights.load_by_order(net, path)
    return Classifier(net, heads=heads, img_size=img_size, age_years=age_years)


def _check_loaded(net: nn.Module, path: str) -> None:
    """timm loads non-strictly once the classifier is adapted; fail loudly if the file did not
    cover the backbone (wrong architecture) instead of training from a silent random init."""
    file_keys = set(timm.models.load_state_dict(path).keys())
    classifier = net.pretrained_cfg.get("classifier") or ()
    classifier = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    missing = [k for k in net.state_dict() if k not in file_keys and not k.startswith(classifier)]
    if missing:
        raise ValueError(f"pretrained_file {path} does not match {type(net).__name__}: "
                         f"{len(missing)} backbone tensors missing, e.g. {missing[:3]}")


def split_heads(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Multi-head logits [B, 8] (a 9th column, age in years, is left out) -> {mask: [B, 3],
    gender: [B, 2], age: [B, 3]}."""
    sizes = list(HEAD_SIZES.values())
    parts = torch.split(logits[:, :sum(sizes)], sizes, dim=1)
    return dict(zip(HEAD_SIZES, parts))


def age_years(logits: torch.Tensor) -> torch.Tensor:
    """The age-in-years column of a model built with `age_years`, in years."""
    return logits[:, -1].float() * AGE_SCALE + AGE_MEAN


def head_targets(target: torch.Tensor) -> dict[str, torch.Tensor]:
    """18-class targets -> per-head targets (class = mask*6 + gender*3 + age)."""
    return {"mask": target // 6, "gender": (target // 3) % 2, "age": target % 3}


def to_probs(logits: torch.Tensor, heads: str, *, with_years: bool = False) -> dict[str, np.ndarray]:
    """Model output -> {probs: [B, 18], mask: [B, 3], gender: [B, 2], age: [B, 3]} as numpy, plus
    age_years [B] when `with_years` (the model's last column)."""
    logits = logits.detach().float()
    years = {"age_years": age_years(logits).cpu().numpy()} if with_years else {}
    if with_years:
        logits = logits[:, :-1]
    if heads == "joint":
        probs = logits.softmax(1).cpu().numpy()
        return {"probs": probs, **L.head_probs(probs), **years}
    per_head = {k: v.softmax(1).cpu().numpy() for k, v in split_heads(logits).items()}
    return {"probs": L.joint_probs(per_head["mask"], per_head["gender"], per_head["age"]), **per_head, **years}


# ---- losses: each maps (logits [B, C], target [B], sample weight [B] | None) -> scalar ----

def _weighted_mean(x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    return x.mean() if w is None else (x * w).sum() / w.sum().clamp_min(1e-12)


def _soft_targets(target: torch.Tensor, n: int, smoothing: float) -> torch.Tensor:
    return F.one_hot(target, n).float() * (1 - smoothing) + smoothing / n


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None = None, *,
                  label_smoothing: float = 0.0) -> torch.Tensor:
    per = F.cross_entropy(logits.float(), target, reduction="none", label_smoothing=label_smoothing)
    return _weighted_mean(per, w)


def focal(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None = None, *,
          label_smoothing: float = 0.0, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true) ** gamma."""
    logp = logits.float().log_softmax(1)
    p_true = logp.gather(1, target[:, None]).squeeze(1).exp()
    ce = -(_soft_targets(target, logits.shape[1], label_smoothing) * logp).sum(1)
    return _weighted_mean((1 - p_true) ** gamma * ce, w)


def soft_f1(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None = None, *,
            label_smoothing: float = 0.0, eps: float = 1e-7) -> torch.Tensor:
    """1 - macro F1 computed on softmax probabilities (differentiable), sample-weighted."""
    p = logits.float().softmax(1)
    y = F.one_hot(target, logits.shape[1]).float()
    w = torch.ones_like(p[:, 0]) if w is None else w
    tp = (w[:, None] * p * y).sum(0)
    fp = (w[:, None] * p * (1 - y)).sum(0)
    fn = (w[:, None] * (1 - p) * y).sum(0)
    return 1 - (2 * tp / (2 * tp + fp + fn + eps)).mean()


_LOSS_FNS = {"ce": cross_entropy, "focal": focal, "f1": soft_f1}


def parse_loss(spec: str | Mapping[str, float]) -> dict[str, float]:
    """`"ce"`, `"ce+f1"` (weights 1 each), `"0.7*ce+0.3*f1"` or {ce: 0.7, f1: 0.3} -> {name: weight}."""
    if isinstance(spec, Mapping):
        terms = {str(k): float(v) for k, v in spec.items()}
    else:
        terms = {}
        for part in str(spec).replace(" ", "").split("+"):
            m = re.fullmatch(r"(?:([0-9.eE-]+)\*)?([a-z0-9_]+)", part)
            if not m:
                raise ValueError(f"cannot parse loss term {part!r} in {spec!r} (use e.g. 'ce+f1' or '0.5*ce+0.5*f1')")
            terms[m.group(2)] = terms.get(m.group(2), 0.0) + float(m.group(1) or 1.0)
    unknown = sorted(set(terms) - set(_LOSS_FNS))
    if unknown or not terms:
        raise ValueError(f"unknown loss {unknown or spec!r}; choose from {LOSSES}, mixed like 'ce+f1'")
    return terms


def age_density_weights(train_ages: np.ndarray, *, power: float, bandwidth: float = 2.0,
                        lo: int = 0, hi: int = 120) -> np.ndarray:
    """Loss weight per whole year `lo..hi`: the training ages' density, smoothed with a Gaussian
    kernel of `bandwidth` years, to the power `-power` (label distribution smoothing, Yang et al.
    2021, "Delving into Deep Imbalanced Regression"), scaled to mean 1 over the training ages.
    Rare ages (the thin 30s-40s of this task) then pull the age output as much as the crowded
    20s and 50s instead of being drawn toward them."""
    years = np.arange(lo, hi + 1, dtype=float)
    ages = np.clip(np.asarray(train_ages, float), lo, hi)
    density = np.exp(-0.5 * ((years[:, None] - ages[None, :]) / bandwidth) ** 2).sum(1)
    weight = np.maximum(density, density.max() * 1e-3) ** -power
    return weight / weight[np.rint(ages).astype(int) - lo].mean()


def make_loss(spec: str | Mapping[str, float], *, heads: str = "joint", class_weight=None,
              label_smoothing: float = 0.0, age_weight: float = 0.0,
              age_year_weight: np.ndarray | None = None) -> LossFn:
    """(logits, 18-class target) -> scalar loss. `class_weight` ([18]) weights each sample by its
    class (weighted CE, weighted focal, weighted soft F1); multi-head losses are summed over heads.

    With `age_weight` > 0 the target is (18-class target, age in years) and the logits carry the
    age-in-years column last: `age_weight` x smooth-L1 on the standardised age (robust to the few
    wrong ages) is added."""
    terms = parse_loss(spec)
    num_outputs(heads)
    cw = None if class_weight is None else torch.as_tensor(np.asarray(class_weight), dtype=torch.float32)
    if cw is not None and cw.shape != (L.NUM_CLASSES,):
        raise ValueError(f"class_weight must have {L.NUM_CLASSES} entries, got shape {tuple(cw.shape)}")

    def mixed(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        return sum(weight * _LOSS_FNS[name](logits, target, w, label_smoothing=label_smoothing)
                   for name, weight in terms.items())

    def classes(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = None if cw is None else cw.to(logits.device)[target]
        if heads == "joint":
            return mixed(logits[:, :L.NUM_CLASSES], target, w)
        targets = head_targets(target)
        return sum(mixed(part, targets[name], w) for name, part in split_heads(logits).items())

    if age_weight <= 0:
        return classes

    yw = None if age_year_weight is None else torch.as_tensor(np.asarray(age_year_weight), dtype=torch.float32)

    def with_years(logits: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        y, years = target
        z = (years.float() - AGE_MEAN) / AGE_SCALE
        err = F.smooth_l1_loss(logits[:, -1].float(), z, beta=0.1, reduction="none")
        if yw is not None:
            err = err * yw.to(err.device)[years.round().long().clamp(0, len(yw) - 1)]
        return classes(logits, y) + age_weight * err.mean()

    return with_years
