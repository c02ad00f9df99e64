"""The rebalance stage: act on flagged label issues, then person-stratified folds and weights."""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.params import Action, Balance
from pipeline.curation.corrections import TYPE_FIELDS, apply_corrections, decided, plain_label
from pipeline.labels import DETECTOR_KINDS

ACTIONS = typing.get_args(Action)
BALANCING = typing.get_args(Balance)


def apply_review(labels: pd.DataFrame, issues: pd.DataFrame, decisions: pd.DataFrame, *,
                 age_edges: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply the reviewers' decisions after the OOF stage -> (labels with accepted corrections,
    the issues nobody decided, the decisions that match no person/image).

    Accepted fixes change the labels here, not before the OOF models, so an accept reruns only
    rebalance and what follows. Decided issues leave the automatic `noise.action`: an accepted
    fix is already applied and a rejected issue means the label is right. `corrected` lists the
    fields changed before OOF (relabel.corrections) and here."""
    before = labels["corrected"] if "corrected" in labels else pd.Series("", index=labels.index)
    out, unmatched = apply_corrections(labels, decisions, age_edges=age_edges)
    out["corrected"] = [",".join(dict.fromkeys(f for f in f"{a},{b}".split(",") if f))
                        for a, b in zip(before.to_numpy(), out["corrected"])]
    left = issues[~decided(issues, decisions)] if len(issues) else issues
    return out, left, unmatched


def apply_noise_action(labels: pd.DataFrame, issues: pd.DataFrame, *, action: str,
                       age_edges: Sequence[int], min_score: float = 0.0,
                       per_field: Mapping[str, str] | None = None, min_persons: int = 0) -> pd.DataFrame:
    """Relabel (to the suggestion) or drop the rows each issue names; `none` is the raw baseline.
    With fewer than `min_persons` persons in `labels` nothing is done: the out-of-fold models
    learnt from too few persons for their flags to be acted on unseen (they wait for review).

    `per_field` overrides the action for one field, e.g. {"age": "drop"}: age flags near a bin
    edge are often the model's doubt rather than a wrong label, and dropping an ambiguous person
    costs less than moving a right label into the wrong bin. `action="none"` turns all off.

    Person-level issues (image_id "*") act on all of the person's rows; the caller leaves out the
    issues a person rejected. Adds an `action` column naming what was done to each row.

    Beyond wrong labels (pipeline.curation.issues): `duplicate` relabel merges the copy into the
    other person id (one person for the folds), drop excludes the copy; `outlier` and `quality`
    exclude the image under relabel or drop (there is no label to fix). Rows of kind `fallback`
    or `face_box` (a face-detector failure on a photo the quality model does not call unusable)
    are for review only."""
    per_field = dict(per_field or {})
    for name, value in {"noise.action": action, **{f"noise.per_field.{k}": v for k, v in per_field.items()}}.items():
        if value not in ACTIONS:
            raise ValueError(f"{name} must be one of {ACTIONS}, got {value!r}")
    out = labels.copy()
    out["action"] = ""
    if action == "none" or issues.empty or too_few_persons(labels, min_persons):
        return out
    todo = issues[issues["score"] >= min_score]
    names = {"mask": L.MASKS, "gender": L.GENDERS, "age": L.age_bin_names(age_edges)}
    column = {"mask": "mask", "gender": "gender", "age": "age_bin"}
    if "kind" in todo:
        todo = todo[~todo["kind"].astype(str).isin(DETECTOR_KINDS)]
    for issue in todo.itertuples():
        act = per_field.get(issue.field, action)
        if act == "none":
            continue
        if issue.image_id == "*":
            rows = out["person_id"].astype(str) == str(issue.person_id)
        else:
            rows = out["image_id"] == issue.image_id
        if issue.field == "duplicate" and act == "relabel":
            out.loc[rows, "person_id"] = str(issue.suggested)
        elif act == "drop" or issue.field in TYPE_FIELDS:
            out.loc[rows, "excluded"] = True
        else:
            out.loc[rows, column[issue.field]] = names[issue.field].index(plain_label(issue.suggested))
        out.loc[rows, "action"] = out.loc[rows, "action"] + f"{act}:{issue.field};"
    out["label"] = L.encode(out["mask"], out["gender"], out["age_bin"])
    return out


def too_few_persons(labels: pd.DataFrame, min_persons: int) -> bool:
    """Whether `labels` holds fewer persons than `min_persons` (noise.min_persons)."""
    return labels["person_id"].nunique() < min_persons


def applied_actions(train_set: pd.DataFrame, noise: Mapping[str, object]) -> str:
    """One line saying what the automatic action did: `none` (the raw arm), or the action, the
    per-field overrides in force and how many rows each field's action touched."""
    if noise["action"] == "none":
        return "none (raw labels: review decisions only)"
    acted = train_set["action"].astype(str) != ""
    if not acted.any() and too_few_persons(train_set, noise.get("min_persons", 0)):  # merges lower the count
        return (f"none: {train_set['person_id'].nunique()} persons, fewer than noise.min_persons "
                f"({noise['min_persons']}): every flag waits for review")
    done = train_set["action"].astype(str).str.split(";").explode()
    counts = done[done != ""].value_counts().sort_index()
    per_field = ", ".join(f"{k}: {v}" for k, v in (noise.get("per_field") or {}).items())
    return (f"{noise['action']}" + (f" ({per_field})" if per_field else "") + ": "
            + (", ".join(f"{n} rows {k}" for k, n in counts.items()) or "no rows"))


def class_weights(label: np.ndarray, *, power: float = 1.0) -> np.ndarray:
    """Inverse class frequency ** power, normalised to mean 1 over the present classes;
    absent classes get 0."""
    counts = np.bincount(np.asarray(label), minlength=L.NUM_CLASSES).astype(float)
    w = np.zeros(L.NUM_CLASSES)
    present = counts > 0
    w[present] = (counts[present].sum() / counts[present]) ** power
    return w / w[present].mean()
