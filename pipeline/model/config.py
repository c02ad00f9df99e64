"""The training configuration, shared by the train and oof stages (params.yaml `train` / `oof`):
each field's type, limits and default are declared here once, and `pipeline.params` builds those
sections' schema from them. Kept free of torch so that `curate check` reads it in milliseconds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

Heads = Literal["joint", "multi"]  # one 18-way head | mask / gender / age heads
Schedule = Literal["cosine", "step"]
Amp = Literal["auto", "bf16", "fp16", "off"]
LrScale = Literal["linear", "sqrt", "none"]
LOSSES = ("ce", "focal", "f1")  # mixed as "ce+f1", "0.7*ce+0.3*f1" or {ce: 0.7, f1: 0.3}

Positive = Field(gt=0)
AtLeast0 = Field(ge=0)
Below1 = Field(ge=0, lt=1)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Defaults are params.yaml's `train` section (the CPU profile)."""
    model: str = "resnet10t"              # any timm architecture
    heads: Heads = "multi"
    img_size: Annotated[int, Positive] = 64
    epochs: Annotated[int, Positive] = 6
    max_images: Annotated[int, AtLeast0] = 20000   # images seen in all epochs at most: over it each epoch is shorter
    batch_size: Annotated[int, Positive] = 64
    lr: Annotated[float, Positive] = 3e-3
    weight_decay: Annotated[float, AtLeast0] = 0.01
    loss: Any = "ce"                      # a LOSSES name, a mix "ce+f1", or {ce: 0.5, f1: 0.5}
    label_smoothing: Annotated[float, Below1] = 0.0
    drop_rate: Annotated[float, Below1] = 0.3
    schedule: Schedule = "cosine"
    warmup: Annotated[float, AtLeast0] = 0.0       # epochs of linear warm-up
    step_size: Annotated[int, AtLeast0] = 0        # step schedule: epochs per lr drop (0 = epochs // 3)
    step_gamma: Annotated[float, Positive] = 0.1
    amp: Amp = "auto"                     # auto (bf16 on CUDA) | bf16 | fp16 | off; CPU is always off
    channels_last: bool = True            # CUDA only
    num_workers: Annotated[int, AtLeast0] = 0      # DataLoader workers reading batches from the crop array
    seed: int = 0
    pretrained_file: str | None = None    # local timm checkpoint (used instead of the hub when set)
    pretrained: bool = False              # timm's hub weights (Hugging Face cache; one-line error offline)
    flip: bool = True                     # augmentation: horizontal flip
    rotate: Annotated[float, AtLeast0] = 10.0      # augmentation: max rotation in degrees (0 = off)
    color: Annotated[float, AtLeast0] = 0.2        # augmentation: brightness/contrast/saturation jitter (0 = off)
    age_weight: float = 0.0               # > 0: also learn age in years (smooth-L1 weight beside the heads)
    age_balance: float = 0.0              # age-in-years loss weight = smoothed age density ** -age_balance (0 = off)
    tta_flip: bool = False                # out-of-fold prediction also averages the mirrored image
    nproc: Annotated[int, Positive] = 1   # train: DDP processes under torchrun; oof: folds trained side by side
    sync_bn: bool = False                 # DDP: BatchNorm statistics over every process's batch
    lr_scale: LrScale = "linear"          # DDP: lr x world size (linear) | x sqrt(world size) | none

    def __post_init__(self) -> None:
        for name, kind in (("heads", Heads), ("schedule", Schedule), ("amp", Amp), ("lr_scale", LrScale)):
            allowed = kind.__args__
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
