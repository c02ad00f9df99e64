"""The review queue: issue rows grouped into items (one decision each), detector notes set aside,
field filters, and the one order every view shows (CLI, page, statistics).

An item is what one decision settles: one row of the issue list, or the two rows of a mask swap
(they share one corrections key). Rows of a face-detector fallback scored below the issue-type
threshold are notes on the person, not items. The order puts the label fixes first (gender, age,
mask, duplicate; each changes a label), then the audit items, then the photo issues (outlier,
quality); inside a group by P(real), the score recalibrated on the decisions when there are any,
ties broken by the raw score, the field and the id, so two runs list the same queue."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.curation.corrections import KEY, decision_keys
from pipeline.labels import AUDIT, DETECTOR_KINDS, FIELDS, LABEL_FIXES, PHOTO_ISSUES, TYPE_FIELDS

ALL_FIELDS = (*LABEL_FIXES, AUDIT, *PHOTO_ISSUES)
GROUPS = {"labels": LABEL_FIXES, "photos": PHOTO_ISSUES}
DEFAULT_THRESHOLD = 0.5  # noise.types.threshold: below it a detector row is listed only as a note
ID_FORMAT = ("<field>:<person_id> for a person (gender:000001, age:000001, duplicate:000452, audit:000007), "
             "<field>:<image_id> for a photo (mask:000002_female_Asian_22/normal, quality:000022_female_Asian_20/mask5)")


def is_note(issues: pd.DataFrame, *, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Bool per issue row: a face-detector fallback below `threshold`, information on the person."""
    kind = issues["kind"].astype(str) if "kind" in issues else pd.Series("", index=issues.index)
    return (kind.isin(DETECTOR_KINDS) & (issues["score"].astype(float) < threshold)).to_numpy()


def expand_fields(values: Iterable[str]) -> list[str]:
    """--field values (fields, `labels`, `photos`) -> fields, in ALL_FIELDS order; ValueError on others."""
    values = list(values)
    bad = sorted(set(values) - set(ALL_FIELDS) - set(GROUPS))
    if bad:
        raise ValueError(f"{', '.join(bad)}: should be one of {', '.join(ALL_FIELDS)}, or labels "
                         f"({', '.join(LABEL_FIXES)}) or photos ({', '.join(PHOTO_ISSUES)})")
    wanted = {f for v in values for f in GROUPS.get(v, (v,))}
    return [f for f in ALL_FIELDS if f in wanted]


def group_of(field: str) -> int:
    """0 label fixes, 1 audit, 2 photo issues (the queue's order of groups)."""
    return 0 if field in LABEL_FIXES else 1 if field == AUDIT else 2


def items(issues: pd.DataFrame) -> pd.DataFrame:
    """One row per review item, in first-appearance order: item_id (its first issue id), ids (all
    its issue ids), key (person_id, image_id, field of its decision), person_id, image_id (of the
    decision: "*" for a swap pair), field, kind, score (the highest of its rows)."""
    if issues.empty:
        return pd.DataFrame(columns=["item_id", "ids", "key", "person_id", "image_id", "field", "kind", "score"])
    keys = decision_keys(issues)
    frame = issues.assign(_key=list(zip(*(keys[k] for k in KEY))), _dimg=keys["image_id"])
    grouped = frame.groupby("_key", sort=False)
    out = pd.DataFrame({
        "item_id": grouped["issue_id"].first(), "ids": grouped["issue_id"].agg(list),
        "person_id": grouped["person_id"].first().astype(str), "image_id": grouped["_dimg"].first(),
        "field": grouped["field"].first().astype(str), "kind": grouped["kind"].first().astype(str),
        "score": grouped["score"].max().astype(float),
    })
    out.insert(2, "key", out.index.to_list())
    return out.reset_index(drop=True)


def order(table: pd.DataFrame, *, probability: Mapping[str, float] | pd.Series | None = None,
          decided: Iterable[str] = ()) -> pd.DataFrame:
    """`items` in queue order: the decided ones first (in the order they would have), then the
    undecided: label fixes, audits, photo issues, each by `probability` (item_id -> P(real) refitted
    on the decisions; the raw score where missing) to two decimals, then score, field and id."""
    if table.empty:
        return table
    p = pd.Series(probability if probability is not None else {}, dtype=float)
    prob = table["item_id"].map(p).astype(float).fillna(table["score"].astype(float))
    field_rank = {f: i for i, f in enumerate(ALL_FIELDS)}
    frame = table.assign(
        _done=~table["item_id"].isin(set(decided)), _group=table["field"].map(group_of),
        # P(real) to two decimals: closer estimates are not told apart (their posteriors overlap
        # far more), and the raw score decides between them
        _p=-prob.round(2).fillna(-1.0), _s=-table["score"].astype(float).fillna(-1.0),
        _f=table["field"].map(field_rank).fillna(len(field_rank)))
    frame = frame.sort_values(["_done", "_group", "_p", "_s", "_f", "item_id"], kind="stable")
    return frame.drop(columns=["_done", "_group", "_p", "_s", "_f"]).reset_index(drop=True)


def rows_in_order(issues: pd.DataFrame, ordered: pd.DataFrame) -> pd.DataFrame:
    """The issue rows of `ordered` items, item after item (the rows of a swap pair together)."""
    rank = {i: n for n, ids in enumerate(ordered["ids"]) for i in ids}
    rows = issues[issues["issue_id"].isin(rank)]
    return rows.iloc[np.argsort(rows["issue_id"].map(rank).to_numpy(), kind="stable")].reset_index(drop=True)


def unknown_ids_message(unknown: Sequence[str], known: Iterable[str]) -> str:
    """One line per unknown id with the closest known ids (difflib), and the id format."""
    known = list(known)
    lines = []
    for u in unknown:
        close = difflib.get_close_matches(u, known, n=3, cutoff=0.5)
        lines.append(f"unknown issue id {u!r}" + (f"; closest: {', '.join(close)}" if close else ""))
    return "\n".join(lines) + f"\nids are {ID_FORMAT}; `curate inspect-noise` lists them"


__all__ = ["ALL_FIELDS", "FIELDS", "GROUPS", "TYPE_FIELDS", "expand_fields", "group_of", "is_note", "items",
           "order", "rows_in_order", "unknown_ids_message"]
