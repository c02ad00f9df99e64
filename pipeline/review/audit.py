"""Audit items: persons no label flag names, drawn at random to count the label errors the flags
miss. The draw is seeded and stratified on the given labels (gender x age bin): each stratum's
persons are spread evenly over [0, 1) with a random offset and shuffled inside, and the first N of
the merged order are the sample, so any N takes each stratum in proportion (a self-weighting
sample: its error rate estimates the rate among all unflagged persons) and a larger N extends a
smaller one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.labels import AUDIT, FIELDS, PERSON

COLUMNS = ["issue_id", "person_id", "image_id", "field", "given", "suggested", "score", "kind", "estimate", "detail"]


def persons(labels: pd.DataFrame) -> pd.DataFrame:
    """One row per train person: person_id, gender, age (years), images (count), in id order."""
    rows = labels[labels["split"] == "train"] if "split" in labels else labels
    first = rows.assign(person_id=rows["person_id"].astype(str)).groupby("person_id", sort=True)
    out = first[["gender", "age"]].first()
    out["images"] = first.size()
    out["gender"] = [g if isinstance(g, str) else L.GENDERS[int(g)] for g in out["gender"]]
    return out.reset_index()


def eligible(labels: pd.DataFrame, flagged: Iterable[str]) -> pd.DataFrame:
    """`persons` that no label flag names (`flagged`: the person ids of the mask/gender/age items)."""
    people = persons(labels)
    return people[~people["person_id"].isin(set(map(str, flagged)))].reset_index(drop=True)


def draw_order(people: pd.DataFrame, *, seed: int, age_edges: Sequence[int] = L.DEFAULT_AGE_EDGES) -> list[str]:
    """Every person of `people` in the seeded, stratified order whose first N is the audit sample."""
    rng = np.random.default_rng(seed)
    stratum = people["gender"].astype(str) + "/" + pd.Series(
        L.age_bin(people["age"].to_numpy(dtype=int), age_edges), index=people.index).astype(str)
    position = np.empty(len(people))
    for _, idx in people.groupby(stratum, sort=True).indices.items():
        position[idx] = (rng.permutation(len(idx)) + rng.uniform()) / len(idx)
    tiebreak = rng.permutation(len(people))
    return people["person_id"].to_numpy()[np.lexsort((tiebreak, position))].tolist()


def audit_issues(labels: pd.DataFrame, flagged: Iterable[str], *, n: int, seed: int = 0,
                 age_edges: Sequence[int] = L.DEFAULT_AGE_EDGES, include: Iterable[str] = ()) -> pd.DataFrame:
    """Issue-list rows (ISSUE_COLUMNS) of field `audit` for the first `n` persons of the draw, and
    for the persons of `include` (audited before: their decisions stay items) that are eligible;
    id `audit:<person_id>`, person level, `given` the person's labels, no score (nothing flags them)."""
    people = eligible(labels, flagged)
    order = draw_order(people, seed=seed, age_edges=age_edges)
    wanted = set(order[:max(n, 0)]) | (set(map(str, include)) & set(order))
    chosen = [p for p in order if p in wanted]
    info = people.set_index("person_id")
    names = L.age_bin_names(age_edges)
    rows = []
    for rank, pid in enumerate(chosen, 1):
        r = info.loc[pid]
        age = int(r["age"])
        rows.append((f"{AUDIT}:{pid}", pid, PERSON, AUDIT, f"{r['gender']}, {age} y ({names[L.age_bin(age, age_edges)]})",
                     "all labels right?", np.nan, AUDIT, "",
                     f"random audit {rank} of {len(chosen)} (seed {seed}; {len(people)} persons no label flag "
                     f"names): check all {int(r['images'])} photos and the given labels"))
    return pd.DataFrame(rows, columns=COLUMNS)


def flagged_persons(issues: pd.DataFrame) -> set[str]:
    """Person ids a mask, gender or age flag names."""
    return set(issues.loc[issues["field"].isin(FIELDS), "person_id"].astype(str))
