"""Soft vote over the trained fold models and the competition submission file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.train import load_checkpoint, predict_proba


def soft_vote(model_paths: Sequence[Path], crops: np.ndarray, idx: np.ndarray, *,
              batch_size: int = 128, tta_flip: bool = False, device: str | None = None) -> np.ndarray:
    """Mean of the fold models' 18-class probabilities on crops[idx]."""
    if not model_paths:
        raise FileNotFoundError("no trained models found: run `dvc repro train` first")
    probs = np.zeros((len(idx), 18))
    for path in model_paths:
        model = load_checkpoint(path, device=device)
        probs += predict_proba(model, crops, idx, batch_size=batch_size, tta_flip=tta_flip, device=device)
    return probs / len(model_paths)


def submission(info: pd.DataFrame, image_ids: Sequence[str], predicted: np.ndarray,
               *, fallback: int) -> tuple[pd.DataFrame, list[str]]:
    """`ImageID,ans` in info.csv order. Images that could not be read (not in `image_ids`) get the
    `fallback` class and are returned by name so the caller can report them."""
    by_id = dict(zip(image_ids, np.asarray(predicted).tolist()))
    missing = [i for i in info["ImageID"] if i not in by_id]
    ans = [by_id.get(i, fallback) for i in info["ImageID"]]
    return pd.DataFrame({"ImageID": info["ImageID"], "ans": ans}), missing
