"""Out-of-fold networks: one model per person fold, trained on the other folds, predicts its
held-out fold (`out_of_fold`); the folds, being independent, can be spread over processes and
devices (`out_of_fold_spread`)."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pipeline import labels as L
from pipeline.curation.folds import person_folds
from pipeline.model.config import TrainConfig
from pipeline.model.train import _check_inputs, fit, predict
from pipeline.workers import process_pool


def out_of_fold(crops: np.ndarray, labels: np.ndarray, person_id: np.ndarray, strat: np.ndarray, *,
                k: int, cfg: TrainConfig, seed: int, ages: np.ndarray | None = None, progress: bool = True,
                device: str | torch.device | None = None, only: list[int] | None = None,
                together: Sequence[tuple[str, str]] = ()) -> dict[str, np.ndarray]:
    """One model per person fold, trained on the other folds, predicts its held-out fold:
    {probs [N, 18], mask [N, 3], gender [N, 2], age [N, 3], fold [N]}, plus age_years [N] when
    `cfg.age_weight` > 0 (then `ages` in years is needed). Fold f trains with seed cfg.seed + f;
    no held-out label is used for model selection; `cfg.tta_flip` averages with mirrored images.
    `only` trains those folds alone (their rows filled, the rest 0): see pipeline.model.distributed.
    `together`: person id pairs kept in one fold (`pipeline.curation.folds.person_folds`)."""
    _check_inputs(crops, np.asarray(labels))
    fold = person_folds(person_id, strat, k=k, seed=seed, together=together)
    sizes = {"probs": L.NUM_CLASSES, **{h: len(v) for h, v in L.HEADS.items()}}
    out = {key: np.zeros((len(labels), n)) for key, n in sizes.items()}
    if cfg.age_weight > 0:
        out["age_years"] = np.zeros(len(labels))
    for f in range(k) if only is None else only:
        held = np.flatnonzero(fold == f)
        model, _ = fit(crops, labels, np.flatnonzero(fold != f), cfg=dataclasses.replace(cfg, seed=cfg.seed + f),
                       ages=ages, device=device, progress=f"oof fold {f + 1}/{k}" if progress else False)
        pred = predict(model, crops, held, batch_size=cfg.batch_size, tta_flip=cfg.tta_flip, device=device)
        for key in out:
            out[key][held] = pred[key]
    return {**out, "fold": fold}


# ---- out-of-fold folds side by side ----

def fold_devices(nproc: int) -> list[str]:
    """Device of each fold process: GPU i mod count, or the CPU."""
    n = torch.cuda.device_count()
    return [f"cuda:{i % n}" for i in range(nproc)] if n else ["cpu"] * nproc


def _fold_worker(task: dict[str, Any]) -> dict[str, np.ndarray]:
    os.environ["TTY_COMPATIBLE"] = "0"  # progress as lines: bars of several processes would interleave
    torch.set_num_threads(task.pop("threads"))
    crops = np.load(task.pop("crops_path"), mmap_mode="r")[: task.pop("rows")]
    return out_of_fold(crops, **task)


def out_of_fold_spread(crops_path: str, rows: int, labels: np.ndarray, person_id: np.ndarray,
                       strat: np.ndarray, *, k: int, cfg: Any, seed: int, ages: np.ndarray | None = None,
                       nproc: int = 1, threads: int | None = None,
                       together: Sequence[tuple[str, str]] = ()) -> dict[str, np.ndarray]:
    """`pipeline.model.train.out_of_fold` on the first `rows` crops of the .npy at `crops_path` (memory
    mapped in each process, never copied), its folds trained by `nproc` processes side by side:
    process i takes folds i, i + nproc, ... on `fold_devices(nproc)[i]`, with `threads` torch CPU
    threads each (default: this process's). Fold f trains with seed cfg.seed + f wherever it
    runs, so on the CPU the result equals one process's."""
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
