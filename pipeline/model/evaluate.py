"""Metrics and plots: macro F1 (18-class and per head), confusion matrix, per-class F1."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from pipeline import labels as L


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics.json keys: f1_macro and accuracy over the 18 classes, macro F1 per head.

    Macro F1 averages over the classes present in truth or prediction, as the competition did."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {"f1_macro": f1_score(y_true, y_pred, average="macro", zero_division=0)}
    for head, t, p in zip(L.HEADS, L.decode(y_true), L.decode(y_pred)):
        out[f"f1_{head}"] = f1_score(t, p, average="macro", zero_division=0)
    out["accuracy"] = accuracy_score(y_true, y_pred)
    return {k: round(float(v), 4) for k, v in out.items()}


def holdout_record(val: pd.DataFrame) -> dict[str, object]:
    """What the held-out score was measured on: the persons (sorted ids), the image count and an md5
    of the (image_id, label) pairs. Two arms of an experiment compare like with like only when
    these are equal."""
    rows = sorted(f"{i},{int(c)}" for i, c in zip(val["image_id"].astype(str), val["label"]))
    return {"persons": sorted(set(val["person_id"].astype(str))), "images": len(rows),
            "labels_md5": hashlib.md5("\n".join(rows).encode()).hexdigest()}


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, *, age_edges: Sequence[int]) -> pd.DataFrame:
    """One row per class: name, support, F1 (for `dvc plots` bar charts)."""
    classes = np.arange(L.NUM_CLASSES)
    f1 = f1_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    support = np.bincount(np.asarray(y_true), minlength=L.NUM_CLASSES)
    return pd.DataFrame({"class": L.class_names(age_edges), "support": support, "f1": f1.round(4)})


def confusion_table(y_true: np.ndarray, y_pred: np.ndarray, *, age_edges: Sequence[int]) -> pd.DataFrame:
    """`actual,predicted` rows, the format of DVC's confusion-matrix plot template."""
    names = np.array(L.class_names(age_edges))
    return pd.DataFrame({"actual": names[np.asarray(y_true)], "predicted": names[np.asarray(y_pred)]})


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, path: Path, *, age_edges: Sequence[int],
                   title: str = "") -> None:
    """18x18 row-normalised confusion matrix as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(y_true, y_pred, labels=np.arange(L.NUM_CLASSES))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    names = L.class_names(age_edges)
    fig, ax = plt.subplots(figsize=(10, 9))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(cm)):
        ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7,
                color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title or "confusion matrix (row-normalised colour, counts in cells)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training_curves(plots_dir: Path, path: Path) -> None:
    """The dvclive per-epoch curves of each trained fold (`<fold>/plots/metrics/*.tsv`) as one PNG:
    loss and validation F1 per head, for people who would rather look than read tables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"loss": ("train_loss", "val_loss"),
              "validation macro F1": ("val_f1_macro", "val_f1_mask", "val_f1_gender", "val_f1_age")}
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 4))
    for fold_dir in sorted(p for p in Path(plots_dir).iterdir() if p.is_dir()):
        for ax, (title, names) in zip(axes, panels.items()):
            for name in names:
                tsv = fold_dir / "plots" / "metrics" / f"{name}.tsv"
                if tsv.exists():
                    curve = pd.read_csv(tsv, sep="\t")
                    ax.plot(curve["step"] + 1, curve[name], marker="o", label=f"{fold_dir.name} {name}")
            ax.set_title(title)
            ax.set_xlabel("epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
