"""One review session's queue, built the same way for `curate inspect-noise` and the web page: the
issue rows without the detector notes, the audit items, the items in queue order with their
outcome and refitted P(real), and the statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.labels import AUDIT
from pipeline.review import audit as A
from pipeline.review import queue as Q
from pipeline.review.stats import Summary, outcomes, summarize


@dataclass
class Queue:
    rows: pd.DataFrame          # issue rows that are items (notes left out) and audit rows
    notes: pd.DataFrame         # detector notes: information on a person, not items
    table: pd.DataFrame         # items in queue order, with `outcome` (1/0/NaN) and `p` (P(real))
    summary: Summary
    population: int | None      # persons no label flag names (None without a labels file)

    @property
    def decided(self) -> np.ndarray:
        return self.table["outcome"].notna().to_numpy()


def audited(corrections: pd.DataFrame) -> list[str]:
    """Person ids with an audit decision in the corrections file."""
    return corrections.loc[corrections["field"] == AUDIT, "person_id"].astype(str).tolist()


def build(issues: pd.DataFrame, corrections: pd.DataFrame, *, labels: pd.DataFrame | None = None, audit: int = 0,
          seed: int = 0, age_edges: Sequence[int] = L.DEFAULT_AGE_EDGES, threshold: float = Q.DEFAULT_THRESHOLD,
          include: Iterable[str] = ()) -> Queue:
    """The queue over `issues` and the decisions in `corrections`; `audit` persons drawn with `seed`
    (plus those audited before and `include`) when `labels` is given."""
    note = Q.is_note(issues, threshold=threshold)
    rows, notes = issues[~note], issues[note]
    population = None
    if labels is not None:
        flagged = A.flagged_persons(rows)
        population = len(A.eligible(labels, flagged))
        extra = A.audit_issues(labels, flagged, n=audit, seed=seed, age_edges=age_edges,
                               include=[*audited(corrections), *include])
        rows = pd.concat([rows, extra.astype({"score": float})], ignore_index=True) if len(extra) else rows
    rows = rows.reset_index(drop=True)
    table = Q.items(rows)
    summary = summarize(table, corrections, population=population)
    table = table.assign(outcome=outcomes(table, corrections))
    table = table.assign(p=table["item_id"].map(summary.probability))
    ordered = Q.order(table, probability=summary.probability, decided=table.loc[table["outcome"].notna(), "item_id"])
    return Queue(rows=rows, notes=notes.reset_index(drop=True), table=ordered, summary=summary,
                 population=population)
