"""The training configuration, shared by the train and oof stages (params.yaml `train` / `oof`).
Kept free of torch so that `curate check` can read it in milliseconds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


SCHEDULES = ("cosine", "step")
AMP_MODES = ("auto", "bf16", "fp16", "off")
LR_SCALES = ("linear", "sqrt", "none")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: str = "efficientnet_b0"
    heads: str = "joint"                  # joint (18-way) | multi (mask / gender / age)
    img_size: int = 64
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    loss: Any = "ce"                      # "ce" | "focal" | "f1" | mixes: "ce+f1", {ce: 0.5, f1: 0.5}
    label_smoothing: float = 0.0
    drop_rate: float = 0.0
    schedule: str = "cosine"              # cosine | step
    warmup: float = 0.0                   # epochs of linear warm-up
    step_size: int = 0                    # step schedule: epochs per lr drop (0 = epochs // 3)
    step_gamma: float = 0.1
    amp: str = "auto"                     # auto (bf16 on CUDA) | bf16 | fp16 | off; CPU is always off
    channels_last: bool = True            # CUDA only
    num_workers: int = 0                  # DataLoader workers reading batches from the crop array
    seed: int = 0
    pretrained_file: str | None = None    # local timm checkpoint (used instead of the hub when set)
    pretrained: bool = False              # timm's hub weights (Hugging Face cache; one-line error offline)
    flip: bool = True                     # augmentation: horizontal flip
    rotate: float = 10.0                  # augmentation: max rotation in degrees (0 = off)
    color: float = 0.2                    # augmentation: brightness/contrast/saturation jitter (0 = off)
    age_weight: float = 0.0               # > 0: also learn age in years (smooth-L1 weight beside the heads)
    age_balance: float = 0.0              # age-in-years loss weight = smoothed age density ** -age_balance (0 = off)
    tta_flip: bool = False                # out-of-fold prediction also averages the mirrored image
    nproc: int = 1                        # train: DDP processes under torchrun; oof: folds trained side by side
    sync_bn: bool = False                 # DDP: BatchNorm statistics over every process's batch
    lr_scale: str = "linear"              # DDP: lr x world size (linear) | x sqrt(world size) | none

    def __post_init__(self) -> None:
        for name, allowed in (("heads", ("joint", "multi")), ("schedule", SCHEDULES), ("amp", AMP_MODES),
                              ("lr_scale", LR_SCALES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"train config {name} must be one of {allowed}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Config from plain data (params.yaml); unknown keys are an error, numbers are coerced
        (YAML reads `3e-3` as a string)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown train config keys {unknown}; valid keys: {sorted(fields)}")
        out = {}
        for key, value in d.items():
            default = fields[key].default
            if isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, (int, float)) and value is not None:
                value = type(default)(float(value)) if isinstance(default, int) else float(value)
            out[key] = value
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
