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
Only rank 0 validates, logs to dvclive and writes files; see README "Several GPUs".
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any

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


# ---- out-of-fold folds side by side ----

def fold_devices(nproc: int) -> list[str]:
    """Device of each fold process: GPU i mod count, or the CPU."""
    n = torch.cuda.device_count()
    return [f"cuda:{i % n}" for i in range(nproc)] if n else ["cpu"] * nproc


def _fold_worker(task: dict[str, Any]) -> dict[str, np.ndarray]:
    from pipeline.train import out_of_fold

    os.environ["TTY_COMPATIBLE"] = "0"  # progress as lines: bars of several processes would interleave
    torch.set_num_threads(task.pop("threads"))
    crops = np.load(task.pop("crops_path"), mmap_mode="r")[: task.pop("rows")]
    return out_of_fold(crops, **task)


def out_of_fold_spread(crops_path: str, rows: int, labels: np.ndarray, person_id: np.ndarray,
                       strat: np.ndarray, *, k: int, cfg: Any, seed: int, ages: np.ndarray | None = None,
                       nproc: int = 1, threads: int | None = None,
                       together: Sequence[tuple[str, str]] = ()) -> dict[str, np.ndarray]:
    """`pipeline.train.out_of_fold` on the first `rows` crops of the .npy at `crops_path` (memory
    mapped in each process, never copied), its folds trained by `nproc` processes side by side:
    process i takes folds i, i + nproc, ... on `fold_devices(nproc)[i]`, with `threads` torch CPU
    threads each (default: this process's). Fold f trains with seed cfg.seed + f wherever it
    runs, so on the CPU the result equals one process's."""
    import multiprocessing as mp

    from pipeline.folds import person_folds
    from pipeline.workers import process_pool

    fold = person_folds(person_id, strat, k=k, seed=seed, together=together)
    nproc = max(1, min(nproc, k))
    devices = fold_devices(nproc)
    common = dict(crops_path=str(crops_path), rows=rows, labels=labels, person_id=person_id, strat=strat, k=k,
                  cfg=cfg, seed=seed, ages=ages, threads=threads or torch.get_num_threads(), together=list(together))
    tasks = [{**common, "only": list(range(i, k, nproc)), "device": devices[i]} for i in range(nproc)]
    with process_pool(nproc, mp_context=mp.get_context("spawn")) as pool:
        parts = list(pool.map(_fold_worker, tasks))
    out = {key: np.array(value, copy=True) for key, value in parts[0].items()}
    for task, part in zip(tasks[1:], parts[1:]):
        rows_of = np.isin(fold, task["only"])
        for key, value in part.items():
            if key != "fold":
                out[key][rows_of] = value[rows_of]
    return out
