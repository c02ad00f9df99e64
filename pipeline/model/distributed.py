"""Several processes: the train stage under `torchrun` with DistributedDataParallel (nccl on GPUs,
gloo on CPU), and the out-of-fold folds, being independent, spread over processes and devices.

Under DDP `batch_size` is per process, so a step sees `world size x batch_size` rows. Each epoch
every process draws the same global batches (weighted sampling with replacement, or a shuffle)
from the shared seed, exactly as one process drawing batches of `world x batch_size` would, and
takes its own share of each batch: the weighted DistributedSampler of this project. DDP averages
the gradients, so with per-sample normalisation (GroupNorm, LayerNorm) N processes follow the
single process that uses the global batch; BatchNorm sees each process's share only unless
`sync_bn` (GPU only: torch's SyncBatchNorm has no CPU kernel). The learning rate is scaled by
`lr_scale`: `linear` (lr x world size, Goyal et al. 2017, the default), `sqrt`, or `none`.
Only rank 0 validates, logs to dvclive and writes files; see docs/gpu-and-scale.md.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

LAUNCHED = "LOCAL_RANK"  # set by torchrun in every process it starts


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def launch(nproc: int, argv: Sequence[str] | None = None) -> None:
    """Re-run this script under torchrun with `nproc` processes on this machine (`--standalone`),
    unless it already runs under torchrun (a multi-machine launch starts it with its own
    rendezvous flags) or `nproc` is 1. Does not return when it launches: torchrun takes over
    this process (same pid, so DVC and signals see it) and exits with the workers' status."""
    if nproc <= 1 or LAUNCHED in os.environ:
        return
    argv = list(sys.argv if argv is None else argv)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc-per-node={nproc}", *argv])


def init() -> torch.device | None:
    """Under torchrun: join the process group (nccl when CUDA is there, else gloo) and return this
    process's device (cuda:LOCAL_RANK or cpu); None when not launched by torchrun. A worker dies
    with torchrun (no orphans if torchrun is killed)."""
    if LAUNCHED not in os.environ:
        return None
    from pipeline.workers import die_with_parent

    die_with_parent(os.getppid())
    local = int(os.environ[LAUNCHED])
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, **({"device_id": device} if backend == "nccl" else {}))
    return device


def finish() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shard(batches: list[np.ndarray]) -> list[np.ndarray]:
    """This process's share of each global batch (rows r, r + world, ...: sorted stays sorted)."""
    w, r = world_size(), rank()
    return batches if w == 1 else [b[r::w] for b in batches]


def scaled_lr(lr: float, mode: str) -> float:
    """lr for the global batch of world size x batch_size: x world (linear), x sqrt(world), as is (none)."""
    w = world_size()
    return {"linear": lr * w, "sqrt": lr * math.sqrt(w), "none": lr}[mode]


def wrap(model: nn.Module, *, sync_bn: bool = False) -> nn.Module:
    """DistributedDataParallel around `model` (already on its device) when several processes run;
    `sync_bn` first turns BatchNorm layers (timm's BatchNormAct2d included) into SyncBatchNorm."""
    if world_size() == 1:
        return model
    cuda = next(model.parameters()).device.type == "cuda"
    if sync_bn:
        if not cuda:
            raise ValueError("train.sync_bn: true needs GPUs (torch's SyncBatchNorm has no CPU kernel); "
                             "set train.sync_bn: false on CPU")
        from timm.layers import convert_sync_batchnorm

        model = convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if cuda else None)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum of `value` over all processes (itself with one process)."""
    if dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value)
    return value
