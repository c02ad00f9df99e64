"""Person-grouped, stratified folds: a person's images never sit in two folds."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


def person_folds(person_id: np.ndarray, strat: np.ndarray, *, k: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) per row. Groups are persons; folds are stratified on `strat`
    (per row, e.g. the person's gender*3 + age_bin) via sklearn's StratifiedGroupKFold."""
    person_id, strat = np.asarray(person_id), np.asarray(strat)
    if len(person_id) != len(strat):
        raise ValueError(f"person_id and strat differ in length: {len(person_id)} vs {len(strat)}")
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    persons = len(np.unique(person_id))
    if persons < k:
        raise ValueError(f"cannot make {k} person folds from {persons} persons: need at least k persons")
    fold = np.full(len(person_id), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for i, (_, held_out) in enumerate(splitter.split(np.zeros(len(strat)), strat, groups=person_id)):
        fold[held_out] = i
    return fold
