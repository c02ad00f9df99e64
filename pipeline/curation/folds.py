"""Person-grouped, stratified folds: a person's images never sit in two folds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold


def person_folds(person_id: np.ndarray, strat: np.ndarray, *, k: int, seed: int,
                 together: "Sequence[tuple[str, str]]" = ()) -> np.ndarray:
    """Fold index (0..k-1) per row. Groups are persons; folds are stratified on `strat`
    (per row, e.g. the person's gender*3 + age_bin) via sklearn's StratifiedGroupKFold.
    Persons joined by `together` (flagged duplicates: two ids, one person) then all take the fold
    of the first row among them, and every other person keeps the fold it has without them:
    grouping them before the split instead would let the greedy split reshuffle many persons."""
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
    if len(together):
        groups = same_person_groups(person_id, list(together))
        fold = pd.Series(fold).groupby(groups, sort=False).transform("first").to_numpy()
    return fold


def same_person_groups(person_id: np.ndarray, pairs: "list[tuple[str, str]]") -> np.ndarray:
    """A group id per row: `person_id`, except that persons joined by `pairs` (e.g. flagged
    duplicates: two ids, one person) share the smallest id among them, so `person_folds` on the
    result keeps them on the same side of every split. scipy's connected components do the union."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    person_id = np.asarray(person_id).astype(str)
    ids = np.unique(np.concatenate([person_id, np.asarray(pairs, dtype=str).reshape(-1)]))
    index = {p: i for i, p in enumerate(ids)}
    a = [index[str(x)] for x, _ in pairs]
    b = [index[str(y)] for _, y in pairs]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(ids), len(ids)))
    _, component = connected_components(graph, directed=False)
    smallest = {}
    for p, c in zip(ids, component):
        smallest.setdefault(c, p)  # ids are sorted: the first seen is the smallest
    return np.array([smallest[component[index[p]]] for p in person_id])


def duplicate_pairs(issues: pd.DataFrame) -> list[tuple[str, str]]:
    """(copy, original) person ids of the `duplicate` rows of an issue list (`person_id`,
    `suggested`): what `same_person_groups` joins."""
    if issues.empty or "field" not in issues:
        return []
    dup = issues[issues["field"] == "duplicate"]
    return list(zip(dup["person_id"].astype(str), dup["suggested"].astype(str)))


def person_strata(labels: pd.DataFrame) -> np.ndarray:
    """The stratum each row's person is balanced on across folds: gender * 3 + age_bin (the OOF
    folds and the rebalance folds alike)."""
    return labels["gender"].to_numpy(dtype=int) * 3 + labels["age_bin"].to_numpy(dtype=int)


def curation_folds(given: pd.DataFrame, curated: pd.DataFrame, pairs: "list[tuple[str, str]]", *,
                   k: int, seed: int) -> np.ndarray:
    """The rebalance stage's folds: persons grouped as `curated` files them (merged duplicates) and
    by the flagged duplicate `pairs`, stratified on the **given** labels (`given`: the same rows,
    before review and noise action; `person_strata`).

    Stratifying on the curated labels would let every fix reshuffle the folds (StratifiedGroupKFold
    is greedy: one person's new stratum moves many others), so a curated and a raw run would train
    and validate on different persons and the difference would mix the labels' effect with the draw
    of persons. On the given labels, every noise action and review round splits the same persons."""
    if len(given) != len(curated) or not np.array_equal(given["image_id"].astype(str).to_numpy(),
                                                        curated["image_id"].astype(str).to_numpy()):
        raise ValueError("given and curated labels must hold the same images in the same order")
    groups = same_person_groups(curated["person_id"].to_numpy(), pairs)
    return person_folds(groups, person_strata(given), k=k, seed=seed)
