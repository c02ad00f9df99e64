"""Training and prediction straight from the uint8 crop array (CPU or CUDA, AMP, channels_last),
out-of-fold probabilities over person folds, and checkpoints."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.metrics import f1_score

from pipeline.model import distributed as D
from pipeline import labels as L
from pipeline import progress as P
from pipeline.files import atomic_path
from pipeline.model.config import TrainConfig
from pipeline.model.factory import Classifier, age_density_weights, create_model, make_loss, to_probs

def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """None -> CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype, or None for full precision (always on CPU)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def build_model(cfg: TrainConfig, *, pretrained: bool = True) -> Classifier:
    return create_model(cfg.model, heads=cfg.heads, img_size=cfg.img_size, drop_rate=cfg.drop_rate,
                        pretrained_file=cfg.pretrained_file if pretrained else None,
                        pretrained=cfg.pretrained and pretrained,
                        age_years=cfg.age_weight > 0)


# ---- data: batches of rows from the (memmapped) crop array, preprocessing on tensors ----

class _Batches(torch.utils.data.Dataset):
    """Item i = (uint8 [B, S, S, 3], int64 [B], float32 [B] ages in years or empty) for the i-th
    list of rows (sorted: fast memmap reads)."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, batches: list[np.ndarray],
                 ages: np.ndarray | None = None):
        self.crops, self.labels, self.batches, self.ages = crops, labels, batches, ages

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = self.batches[i]
        x = torch.from_numpy(np.ascontiguousarray(self.crops[rows]))
        ages = torch.empty(0) if self.ages is None else torch.from_numpy(self.ages[rows].astype(np.float32))
        return x, torch.from_numpy(self.labels[rows].astype(np.int64)), ages


def _loader(crops: np.ndarray, labels: np.ndarray, batches: list[np.ndarray], *, num_workers: int,
            device: torch.device, ages: np.ndarray | None = None) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(_Batches(crops, labels, batches, ages), batch_size=None, shuffle=False,
                                       num_workers=num_workers, pin_memory=device.type == "cuda")


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [0, 1] on `device` (NHWC memory is already channels_last)."""
    x = x.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    return x if channels_last else x.contiguous()


def augment(x: torch.Tensor, *, size: int, flip: bool, rotate: float, color: float,
            generator: torch.Generator) -> torch.Tensor:
    """Batched random flip + rotation (one affine resample that also resizes to `size`) and
    brightness/contrast/saturation jitter; x is float NCHW in [0, 1]."""
    b = x.shape[0]
    u = torch.rand(b, 5, generator=generator, device=x.device)
    if flip or rotate > 0:
        angle = (u[:, 0] * 2 - 1) * math.radians(rotate)
        sx = torch.where((u[:, 1] < 0.5) & flip, -1.0, 1.0)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        theta = torch.stack([torch.stack([cos * sx, -sin, zero], 1),
                             torch.stack([sin * sx, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    elif x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if color > 0:
        bright, contrast, sat = (1 + (u[:, 2:5] * 2 - 1) * color).T[:, :, None, None, None]
        x = x * bright
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean
        gray = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = ((x - gray) * sat + gray).clamp(0, 1)
    return x


def epoch_rows(n: int, *, epochs: int, max_images: int, batch_size: int) -> int:
    """Rows one epoch draws from `n` training rows: all of them, or fewer so that `epochs` epochs
    see at most `max_images` images (0 = no budget), never below one batch."""
    if not max_images or epochs * n <= max_images:
        return n
    return min(n, max(batch_size, max_images // epochs))


def epoch_batches(train_idx: np.ndarray, sample_weight: np.ndarray | None, batch_size: int,
                   rng: np.random.Generator, *, size: int | None = None) -> list[np.ndarray]:
    """Shuffled (or weight-sampled, with replacement) rows in sorted batches; the last partial
    batch is dropped unless it is the only one (BatchNorm needs more than one row). `size` rows
    (default: as many as `train_idx` has): the first `size` of the shuffle, or `size` draws."""
    size = len(train_idx) if size is None else min(size, len(train_idx))
    if sample_weight is None:
        order = rng.permutation(train_idx)[:size]
    else:
        p = np.asarray(sample_weight, dtype=float)
        order = rng.choice(train_idx, size=size, replace=True, p=p / p.sum())
    batches = [np.sort(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def _lr_factor(cfg: TrainConfig, steps_per_epoch: int) -> Any:
    total, warm = cfg.epochs * steps_per_epoch, round(cfg.warmup * steps_per_epoch)
    step_size = cfg.step_size or max(1, cfg.epochs // 3)

    def factor(step: int) -> float:
        w = (step + 1) / warm if step < warm else 1.0
        if cfg.schedule == "step":
            return w * cfg.step_gamma ** ((step // steps_per_epoch) // step_size)
        t = (step - warm) / max(1, total - warm) if step >= warm else 0.0
        return w * 0.5 * (1 + math.cos(math.pi * t))

    return factor


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on or before)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _check_inputs(crops: np.ndarray, labels: np.ndarray) -> None:
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 [N, S, S, 3], got {crops.dtype} {crops.shape}")
    if len(labels) != len(crops):
        raise ValueError(f"labels ({len(labels)}) and crops ({len(crops)}) differ in length")


# ---- prediction ----

def _forward_batches(model: Classifier, crops: np.ndarray, idx: np.ndarray, *, batch_size: int,
                     device: torch.device, tta_flip: bool = False
                     ) -> Iterator[tuple[np.ndarray, list[torch.Tensor]]]:
    """(positions into idx, logits per view) per batch; rows are read in sorted order."""
    order = np.argsort(idx, kind="stable")
    cuda = device.type == "cuda"
    dtype = amp_dtype("auto", device)
    for start in range(0, len(order), batch_size):
        pos = order[start:start + batch_size]
        xb = torch.from_numpy(np.ascontiguousarray(crops[idx[pos]]))
        x = _to_device(xb.pin_memory() if cuda else xb, device, channels_last=cuda)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            views = [model(x)] + ([model(x.flip(3))] if tta_flip else [])
        yield pos, views


@torch.inference_mode()
def predict(model: Classifier, crops: np.ndarray, idx: np.ndarray, *, batch_size: int = 128,
            tta_flip: bool = False, device: str | torch.device | None = None,
            advance: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """{probs: [len(idx), 18], mask: [.., 3], gender: [.., 2], age: [.., 3]} for crops[idx], plus
    age_years [len(idx)] from a model that learnt it; `tta_flip` averages with the mirrored image.
    `advance(n)` is called with each batch's size (progress)."""
    device = resolve_device(device if device is not None else next(model.parameters()).device)
    model = model.to(device).eval()
    idx = np.asarray(idx)
    sizes = {"probs": L.NUM_CLASSES, **{k: len(v) for k, v in L.HEADS.items()}}
    out = {k: np.zeros((len(idx), n)) for k, n in sizes.items()}
    if model.age_years:
        out["age_years"] = np.zeros(len(idx))
    for pos, views in _forward_batches(model, crops, idx, batch_size=batch_size, device=device,
                                          tta_flip=tta_flip):
        per_view = [to_probs(v, model.heads, with_years=model.age_years) for v in views]
        for k in out:
            out[k][pos] = np.mean([p[k] for p in per_view], axis=0)
        if advance:
            advance(len(pos))
    return out


def predict_proba(model: Classifier, crops: np.ndarray, idx: np.ndarray, *, batch_size: int = 128,
                  tta_flip: bool = False, device: str | torch.device | None = None,
                  advance: Callable[[int], None] | None = None) -> np.ndarray:
    """18-class probabilities [len(idx), 18] for crops[idx]."""
    return predict(model, crops, idx, batch_size=batch_size, tta_flip=tta_flip, device=device,
                   advance=advance)["probs"]


def _validate(model: Classifier, crops: np.ndarray, labels: np.ndarray, idx: np.ndarray, *,
              batch_size: int, device: torch.device, loss_fn: Any, ages: np.ndarray | None = None
              ) -> dict[str, float]:
    model.eval()
    total, preds = 0.0, {k: np.zeros(len(idx), dtype=np.int64) for k in ("probs", *L.HEADS)}
    errors = []
    with torch.inference_mode():
        for pos, (logits,) in _forward_batches(model, crops, idx, batch_size=batch_size, device=device):
            y = torch.from_numpy(labels[idx[pos]].astype(np.int64)).to(device)
            target = y if ages is None else (y, torch.from_numpy(ages[idx[pos]].astype(np.float32)).to(device))
            total += float(loss_fn(logits, target)) * len(pos)
            out = to_probs(logits, model.heads, with_years=model.age_years)
            if "age_years" in out and ages is not None:
                errors.append(np.abs(out.pop("age_years") - ages[idx[pos]]))
            for k, p in out.items():
                preds[k][pos] = p.argmax(1)
    y = labels[idx]
    truth = dict(zip(L.HEADS, L.decode(y)))
    out = {"val_loss": total / len(idx),
           "val_f1_macro": f1_score(y, preds["probs"], average="macro", zero_division=0)}
    if errors:
        out["val_age_mae"] = float(np.concatenate(errors).mean())
    for head in L.HEADS:
        out[f"val_f1_{head}"] = f1_score(truth[head], preds[head], average="macro", zero_division=0)
    return {k: float(v) for k, v in out.items()}


# ---- training ----

def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss_fn: Any, opt: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler, dtype: torch.dtype | None) -> torch.Tensor:
    """One optimiser step (autocast when `dtype` is set); the loss, not synced to the host."""
    with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = loss_fn(model(x), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return loss


def fit(crops: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray | None = None,
        *, cfg: TrainConfig, sample_weight: np.ndarray | None = None, class_weight: np.ndarray | None = None,
        ages: np.ndarray | None = None, live: Any = None, device: str | torch.device | None = None,
        progress: bool | str = True) -> tuple[Classifier, list[dict[str, float]]]:
    """Train on crops[train_idx]; returns the model (best val macro F1 state when `val_idx` is
    given, else the last) and per-epoch history. `sample_weight` is aligned with `train_idx` and
    drives a weighted sampler; `class_weight` ([18]) weights the loss; `ages` (years, aligned with
    `labels`) is the target of the age-in-years output when `cfg.age_weight` > 0. Same seed on
    CPU -> the same loss sequence. `progress`: a bar on a terminal, a line per epoch in a log; a
    string names the run in both (e.g. "oof fold 2/4")."""
    _check_inputs(crops, labels)
    if cfg.age_weight > 0 and (ages is None or len(ages) != len(labels)):
        raise ValueError("age_weight > 0 needs `ages` in years, one per label row")
    ages = np.asarray(ages, dtype=np.float32) if cfg.age_weight > 0 else None
    labels, train_idx = np.asarray(labels), np.asarray(train_idx)
    if sample_weight is not None and len(sample_weight) != len(train_idx):
        raise ValueError(f"sample_weight must align with train_idx ({len(train_idx)}), got {len(sample_weight)}")
    device = resolve_device(device)
    cuda = device.type == "cuda"
    dtype = amp_dtype(cfg.amp, device)
    channels_last = cfg.channels_last and cuda
    if cuda:
        torch.backends.cudnn.benchmark = True

    with _deterministic(not cuda):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator(device=device).manual_seed(cfg.seed + D.rank())  # own augmentations per process
        model = build_model(cfg).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model = D.wrap(model, sync_bn=cfg.sync_bn)  # DDP under torchrun, else as is
        world = D.world_size()
        year_weight = (age_density_weights(ages[train_idx], power=cfg.age_balance)
                       if ages is not None and cfg.age_balance > 0 else None)
        loss_fn = make_loss(cfg.loss, heads=cfg.heads, class_weight=class_weight,
                            label_smoothing=cfg.label_smoothing, age_weight=cfg.age_weight,
                            age_year_weight=year_weight)
        val_loss_fn = make_loss(cfg.loss, heads=cfg.heads, class_weight=class_weight, age_weight=cfg.age_weight)
        opt = torch.optim.AdamW(model.parameters(), lr=D.scaled_lr(cfg.lr, cfg.lr_scale),
                                weight_decay=cfg.weight_decay, fused=cuda)
        rows = epoch_rows(len(train_idx), epochs=cfg.epochs, max_images=cfg.max_images, batch_size=cfg.batch_size * world)
        steps = len(epoch_batches(train_idx, None, cfg.batch_size * world, np.random.default_rng(0), size=rows))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg, steps))
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

        history: list[dict[str, float]] = []
        best_f1, best_state = -1.0, None
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[info]}")]
        label = progress if isinstance(progress, str) else ""
        with Progress(*columns, disable=not (progress and P.tty())) as bar:
            for epoch in range(cfg.epochs):
                model.train()
                # every process draws the same global batches, then takes its share of each
                batches = D.shard(epoch_batches(train_idx, sample_weight, cfg.batch_size * world, rng, size=rows))
                task = bar.add_task(f"{label} epoch {epoch + 1}/{cfg.epochs}".lstrip(), total=len(batches), info="")
                total, seen, t0 = torch.zeros((), device=device), 0, time.perf_counter()
                for step, (xb, yb, ab) in enumerate(_loader(crops, labels, batches, num_workers=cfg.num_workers,
                                                            device=device, ages=ages)):
                    x = augment(_to_device(xb, device, channels_last), size=cfg.img_size, flip=cfg.flip,
                                rotate=cfg.rotate, color=cfg.color, generator=gen)
                    if channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    y = yb.to(device, non_blocking=True)
                    if ages is not None:
                        y = (y, ab.to(device, non_blocking=True))
                    loss = train_step(model, x, y, loss_fn=loss_fn, opt=opt, scaler=scaler, dtype=dtype)
                    lr = opt.param_groups[0]["lr"]  # the rate this step used
                    sched.step()
                    total += loss.detach() * len(xb)
                    seen += len(xb)
                    # reading the loss syncs CUDA: only now and then
                    info = f"loss {float(total) / seen:.4f}" if progress and step % 10 == 0 else None
                    bar.update(task, advance=1, **({"info": info} if info else {}))
                total, seen = D.all_sum(total), int(D.all_sum(torch.tensor(seen, device=device)))
                train_loss = float(total) / seen  # syncs before timing
                seconds = time.perf_counter() - t0
                row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": lr,
                       "imgs_per_s": seen / seconds}
                if val_idx is not None and len(val_idx) and D.is_main():  # rank 0 validates, the others wait
                    row.update(_validate(D.unwrap(model), crops, labels, np.asarray(val_idx),
                                         batch_size=cfg.batch_size, device=device, loss_fn=val_loss_fn, ages=ages))
                    if row["val_f1_macro"] > best_f1:
                        best_f1 = row["val_f1_macro"]
                        best_state = {k: v.detach().clone() for k, v in D.unwrap(model).state_dict().items()}
                D.barrier()
                bar.update(task, info=" ".join(f"{k} {v:.3f}" for k, v in row.items()
                                               if k.startswith(("train_loss", "val_loss", "val_f1_macro"))))
                history.append(row)
                if progress and not P.tty():
                    P.log(P.epoch_line(label, epoch + 1, cfg.epochs, row, time.perf_counter() - t0))
                if live is not None:  # throughput is timing, not a result: kept out of the tracked curves
                    for k, v in row.items():
                        if k not in ("epoch", "imgs_per_s"):
                            live.log_metric(k, v)
                    live.next_step()
        model = D.unwrap(model)
        if best_state is not None:
            model.load_state_dict(best_state)
    return model.eval(), history


# ---- checkpoints ----

def save_checkpoint(model: Classifier, cfg: TrainConfig, path: str | Path) -> None:
    """Weights plus the config dict that rebuilds the model (written atomically)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "config": cfg.to_dict()}, tmp)


def load_checkpoint(path: str | Path, *, device: str | torch.device | None = None) -> Classifier:
    """Rebuild the model from its saved config (no pretrained file needed) and load the weights."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(TrainConfig.from_dict(saved["config"]), pretrained=False)
    model.load_state_dict(saved["state_dict"])
    return model.to(resolve_device(device)).eval()
