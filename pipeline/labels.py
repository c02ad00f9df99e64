"""The shared vocabulary: the 18-class encoding (class = mask * 6 + gender * 3 + age_bin), the
competition's photo stems, and the names of the issue fields and columns every stage reads. The
only place any of them is defined."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

MASKS = ("wear", "incorrect", "normal")
GENDERS = ("male", "female")
AGE_BINS = ("young", "middle", "old")
HEADS = {"mask": MASKS, "gender": GENDERS, "age": AGE_BINS}
NUM_CLASSES = len(MASKS) * len(GENDERS) * len(AGE_BINS)  # 18
DEFAULT_AGE_EDGES = (30, 58)  # <30, 30-57, >=58: the cutoff strong teams moved to (params relabel.age_edges)

# Competition file stems -> mask state.
MASK_FILES = {
    "mask1": 0, "mask2": 0, "mask3": 0, "mask4": 0, "mask5": 0,
    "incorrect_mask": 1,
    "normal": 2,
}
STEMS = tuple(MASK_FILES)  # mask1..mask5, incorrect_mask, normal: the row order within a person

# The issue list (reports/noise/issues.csv) and the review decisions (data/corrections.csv).
ISSUE_COLUMNS = ["issue_id", "person_id", "image_id", "field", "given", "suggested", "score", "kind",
                 "estimate", "detail"]
FIELDS = ("mask", "gender", "age")  # wrong labels
TYPE_FIELDS = ("duplicate", "outlier", "quality")  # beyond wrong labels (pipeline.curation.issues)
PERSON = "*"  # image_id of person-level rows
EXCLUDE = "exclude"  # `suggested` of an image that should leave the training set
DETECTOR_KINDS = ("fallback", "face_box")  # quality rows listed for the crop, not for the photo
AUDIT = "audit"  # review items of persons no label flag names, drawn to measure what the flags miss
LABEL_FIXES = ("gender", "age", "mask", "duplicate")  # issues that change a label: reviewed first
PHOTO_ISSUES = ("outlier", "quality")  # issues with a photo, not a label


def mask_from_stem(stem: str) -> int:
    """`mask3` -> 0, `incorrect_mask` -> 1, `normal` -> 2; KeyError for anything else."""
    return MASK_FILES[stem]


def codes(values: Any, names: Sequence[str]) -> np.ndarray:
    """Integer codes from codes or (case-insensitive) names; ValueError on anything else."""
    s = pd.Series(values)
    if pd.api.types.is_numeric_dtype(s):
        out = s.to_numpy(dtype=int)
    else:
        lookup = {n.lower(): i for i, n in enumerate(names)}
        mapped = s.astype(str).str.strip().str.lower().map(lookup)
        if mapped.isna().any():
            bad = sorted(set(s[mapped.isna()].astype(str)))
            raise ValueError(f"unknown labels {bad[:5]}, expected one of {list(names)}")
        out = mapped.to_numpy(dtype=int)
    if len(out) and (out.min() < 0 or out.max() >= len(names)):
        raise ValueError(f"label codes must be in [0, {len(names)})")
    return out


def stem_of(image_id: str) -> str:
    """`000001_female_Asian_45/mask3` (or a path, with an extension) -> `mask3`."""
    return str(image_id).rsplit("/", 1)[-1].rsplit(".", 1)[0]


def gender_code(name: str) -> int:
    """`male`/`female` (any case) -> 0/1."""
    return GENDERS.index(name.strip().lower())


def age_bin(age, edges: Sequence[int] = DEFAULT_AGE_EDGES):
    """Age (scalar or array) -> bin 0/1/2 with `age < edges[0]`, `< edges[1]`, else 2."""
    if len(edges) != 2 or edges[0] >= edges[1]:
        raise ValueError(f"age edges must be two increasing numbers, got {list(edges)}")
    out = np.digitize(np.asarray(age), bins=np.asarray(edges), right=False)
    return int(out) if np.ndim(out) == 0 else out


def age_bin_names(edges: Sequence[int] = DEFAULT_AGE_EDGES) -> tuple[str, str, str]:
    lo, hi = edges
    return (f"<{lo}", f"{lo}-{hi - 1}", f">={hi}")


def encode(mask, gender, age):
    """(mask, gender, age_bin) -> class id in [0, 18). Works on scalars and arrays."""
    return np.asarray(mask) * 6 + np.asarray(gender) * 3 + np.asarray(age)


def decode(label):
    """Class id -> (mask, gender, age_bin)."""
    label = np.asarray(label)
    if np.any((label < 0) | (label >= NUM_CLASSES)):
        raise ValueError("class ids must be in [0, 18)")
    return label // 6, (label // 3) % 2, label % 3


def class_names(edges: Sequence[int] = DEFAULT_AGE_EDGES) -> list[str]:
    ages = age_bin_names(edges)
    return [f"{m}/{g}/{a}" for m in MASKS for g in GENDERS for a in ages]


def head_probs(probs: np.ndarray) -> dict[str, np.ndarray]:
    """Marginalise 18-class probabilities [N, 18] into per-head probabilities."""
    p = np.asarray(probs).reshape(-1, len(MASKS), len(GENDERS), len(AGE_BINS))
    return {"mask": p.sum((2, 3)), "gender": p.sum((1, 3)), "age": p.sum((1, 2))}


def joint_probs(mask: np.ndarray, gender: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Per-head probabilities -> 18-class probabilities (heads treated as independent)."""
    p = mask[:, :, None, None] * gender[:, None, :, None] * age[:, None, None, :]
    return p.reshape(len(mask), NUM_CLASSES)


def head_labels(labels: pd.DataFrame, *, age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> dict[str, np.ndarray]:
    """Given per-head class codes of every row; age is re-binned under `age_edges`."""
    return {
        "mask": codes(labels["mask"], MASKS),
        "gender": codes(labels["gender"], GENDERS),
        "age": np.asarray(age_bin(labels["age"].to_numpy(dtype=int), age_edges), dtype=int),
    }
