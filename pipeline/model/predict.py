"""Soft vote over the trained fold models and the competition submission file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.model.train import load_checkpoint, predict_proba
from pipeline.progress import track


def soft_vote(model_paths: Sequence[Path], crops: np.ndarray, idx: np.ndarray, *,
              batch_size: int = 128, tta_flip: bool = False, device: str | None = None,
              progress: bool = False) -> np.ndarray:
    """Mean of the fold models' 18-class probabilities on crops[idx] (a progress bar when `progress`)."""
    if not model_paths:
        raise FileNotFoundError("no trained models found: run `dvc repro train` first")
    probs = np.zeros((len(idx), L.NUM_CLASSES))
    with track("predict", len(model_paths) * len(idx), enabled=progress) as advance:
        for path in model_paths:
            model = load_checkpoint(path, device=device)
            probs += predict_proba(model, crops, idx, batch_size=batch_size, tta_flip=tta_flip, device=device,
                                   advance=advance)
    return probs / len(model_paths)


def submission(info: pd.DataFrame, image_ids: Sequence[str], predicted: np.ndarray,
               *, fallback: int) -> tuple[pd.DataFrame, list[str]]:
    """`ImageID,ans` in info.csv order. Images that could not be read (not in `image_ids`) get the
    `fallback` class and are returned by name so the caller can report them."""
    by_id = dict(zip(image_ids, np.asarray(predicted).tolist()))
    missing = [i for i in info["ImageID"] if i not in by_id]
    ans = [by_id.get(i, fallback) for i in info["ImageID"]]
    return pd.DataFrame({"ImageID": info["ImageID"], "ans": ans}), missing


def most_common_class(manifest: pd.DataFrame, *, age_edges: Sequence[int]) -> int:
    """The train split's most frequent class: the answer for an eval image that cannot be read."""
    train = manifest[manifest["split"] == "train"]
    if train.empty:
        return 0
    label = L.encode(train["mask"], train["gender"], L.age_bin(train["age"].to_numpy(), age_edges))
    return int(np.bincount(label, minlength=L.NUM_CLASSES).argmax())


def predict_eval(manifest: pd.DataFrame, crops: np.ndarray, info: pd.DataFrame, model_paths: Sequence[Path],
                 *, age_edges: Sequence[int], tta_flip: bool = True, device: str | None = None,
                 progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Soft-vote the eval rows of the manifest -> (submission in info.csv order, per-image
    predictions with confidence, ImageIDs that had no readable image)."""
    fallback = most_common_class(manifest, age_edges=age_edges)
    rows = np.flatnonzero(manifest["split"].to_numpy() == "eval")
    ids = manifest["image_id"].to_numpy()[rows]
    probs = soft_vote(model_paths, crops, rows, tta_flip=tta_flip, device=device, progress=progress)
    sub, missing = submission(info, ids, probs.argmax(1), fallback=fallback)
    preds = pd.DataFrame({"image_id": ids, "pred": probs.argmax(1), "confidence": probs.max(1)})
    return sub, preds, missing
