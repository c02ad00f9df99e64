"""How good the flags are, against a synthetic truth.csv: person-level precision, recall and F1 at
the operating point, average precision of the ranked list, precision at k = number of true errors,
and for age the oracle AP (the ranking a perfect perceiver of the drawn age would give)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.labels import DEFAULT_AGE_EDGES, GENDERS, HEADS, MASKS, PERSON, age_bin, codes


def person_truth(truth: pd.DataFrame, *, age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> pd.DataFrame:
    """Per train person: is each field truly wrong (any image's given label differs from the true one)."""
    t = truth[truth["split"] == "train"] if "split" in truth else truth
    t = t.assign(person_id=t["person_id"].astype(str))
    noisy = pd.DataFrame({
        "person_id": t["person_id"],
        "mask": codes(t["mask_given"], MASKS) != codes(t["mask_true"], MASKS),
        "gender": codes(t["gender_given"], GENDERS) != codes(t["gender_true"], GENDERS),
        "age": age_bin(t["age_given"].to_numpy(dtype=int), age_edges)
        != age_bin(t["age_true"].to_numpy(dtype=int), age_edges),
    })
    return noisy.groupby("person_id").any()


def ranked_ap(ranked_hits: Sequence[bool], n_relevant: int) -> float:
    """Average precision of a ranked list against `n_relevant` true items in all (items missing
    from the list count as never retrieved): mean over true items of precision at their rank."""
    hits = np.asarray(ranked_hits, dtype=bool)
    if n_relevant == 0:
        return 1.0
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].sum() / n_relevant)


def list_scores(ranked_hits: Sequence[bool], n_relevant: int) -> dict[str, Any]:
    """precision, recall, F1 of the whole list; its AP; precision at k = n_relevant."""
    hits = np.asarray(ranked_hits, dtype=bool)
    tp = int(hits.sum())
    # Vacuous cases count as perfect: no flags means no false flags, no noise means nothing missed.
    precision = tp / len(hits) if len(hits) else 1.0
    recall = tp / n_relevant if n_relevant else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    p_at_k = float(hits[:n_relevant].sum() / n_relevant) if n_relevant else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "ap": ranked_ap(hits, n_relevant),
            "p_at_k": p_at_k, "flagged": len(hits), "noisy": n_relevant, "true_positives": tp}


def _ranked_persons(issues: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """(person_id, field, score) once per flagged person and field, best score first; image-level
    issues are mapped to their person through truth's image_id."""
    image_person = dict(zip(truth["image_id"].astype(str), truth["person_id"].astype(str)))
    ids = issues["image_id"].astype(str)
    person = ids.map(image_person).where(ids != PERSON).fillna(issues["person_id"].astype(str))
    frame = pd.DataFrame({"person_id": person.to_numpy(), "field": issues["field"].to_numpy(),
                          "score": issues["score"].astype(float).to_numpy()})
    frame = frame[frame["field"].isin(list(HEADS))]
    frame = frame.sort_values(["score", "person_id", "field"], ascending=[False, True, True], kind="stable")
    return frame.drop_duplicates(["person_id", "field"]).reset_index(drop=True)


def oracle_age_ap(truth: pd.DataFrame, *, age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> float:
    """AP of ranking every train person by |given age - apparent age|: what a perceiver who sees the
    drawn age exactly (with no model error) would reach; the ceiling for any age flagger."""
    t = truth[truth["split"] == "train"] if "split" in truth else truth
    per = t.groupby(t["person_id"].astype(str)).first()
    noisy = person_truth(truth, age_edges=age_edges)["age"].reindex(per.index).to_numpy()
    gap = (per["age_given"] - per["age_apparent"]).abs().to_numpy()
    order = np.argsort(-gap, kind="stable")
    return ranked_ap(noisy[order], int(noisy.sum()))


def label_hits(issues: pd.DataFrame, truth: pd.DataFrame, *,
               age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> pd.DataFrame:
    """The label flags (mask, gender, age) once per person and field, best score first -> columns
    person_id, field, score, hit (the field is truly wrong for that person)."""
    noisy = person_truth(truth, age_edges=age_edges)
    ranked = _ranked_persons(issues, truth)
    hit = [bool(noisy[f].get(p, False)) for p, f in zip(ranked["person_id"], ranked["field"])]
    return ranked.assign(hit=np.array(hit, dtype=bool))


def score_issues(issues: pd.DataFrame, truth: pd.DataFrame, *,
                 age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> dict[str, Any]:
    """Person-level flag quality per field (mask, gender, age) and overall (over person x field
    pairs, ranked by score): precision, recall, f1, ap, p_at_k, flagged, noisy, true_positives;
    age also gets oracle_ap when truth has `age_apparent`."""
    noisy = person_truth(truth, age_edges=age_edges)
    ranked = label_hits(issues, truth, age_edges=age_edges)
    hit = ranked["hit"].to_numpy()
    out: dict[str, Any] = list_scores(hit, int(noisy[list(HEADS)].to_numpy().sum()))
    for field in HEADS:
        mine = (ranked["field"] == field).to_numpy()
        out[field] = list_scores(hit[mine], int(noisy[field].sum()))
    if "age_apparent" in truth:
        out["age"]["oracle_ap"] = oracle_age_ap(truth, age_edges=age_edges)
    return out


TYPE_NOISE = {"duplicate": "duplicate_person", "outlier": "outlier_image", "quality": "low_quality"}


def type_hits(issues: pd.DataFrame, truth: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, int]]:
    """Per issue type beyond wrong labels: its rows, best score first, with a `hit` column (a
    duplicate row names the copy and its original, either way round; an outlier or quality row
    names a spoiled image), and the number of true cases in `truth`."""
    t = truth[truth["split"] == "train"] if "split" in truth else truth
    out: dict[str, tuple[pd.DataFrame, int]] = {}
    for field, noise in TYPE_NOISE.items():
        rows = issues[issues["field"] == field].astype({"score": float})
        rows = rows.sort_values("score", ascending=False, kind="stable")
        if field == "duplicate":
            copies = t[t["noise"] == noise]
            pairs = {frozenset((str(a), str(b))) for a, b in
                     zip(copies["person_id"], copies.get("duplicate_of", pd.Series("", index=copies.index)))}
            hits = np.array([frozenset((str(a), str(b))) in pairs
                             for a, b in zip(rows["person_id"], rows["suggested"])], dtype=bool)
            n_true = len(pairs)
        else:
            wrong = set(t.loc[t["noise"] == noise, "image_id"].astype(str))
            hits = rows["image_id"].astype(str).isin(wrong).to_numpy()
            n_true = len(wrong)
        out[field] = (rows.assign(hit=hits), n_true)
    return out


def score_types(issues: pd.DataFrame, truth: pd.DataFrame, *, threshold: float = 0.5) -> dict[str, Any]:
    """Flag quality of the issue types beyond wrong labels (`list_scores` per type, `type_hits`):
    duplicate at person level, outlier and quality at image level. Rows scored below `threshold`
    (face-detector failures listed for review) are ranked for the AP but not counted as flags."""
    out: dict[str, Any] = {}
    for field, (rows, n_true) in type_hits(issues, truth).items():
        hits = rows["hit"].to_numpy()
        flagged = (rows["score"] >= threshold).to_numpy()
        scores = list_scores(hits[flagged], n_true)
        scores["ap"] = ranked_ap(hits, n_true)
        out[field] = scores
    return out


def expected_calibration_error(scores: Sequence[float], hits: Sequence[bool], *, bins: int = 10) -> float:
    """Expected calibration error of scores read as P(the issue is real): over `bins` equal-width
    score bins in [0, 1], the count-weighted mean |share of hits - mean score| (NaN with no items)."""
    s, h = np.asarray(scores, float), np.asarray(hits, float)
    if len(s) == 0:
        return float("nan")
    which = np.clip((s * bins).astype(int), 0, bins - 1)
    gaps = [abs(h[which == b].mean() - s[which == b].mean()) * (which == b).sum() for b in np.unique(which)]
    return float(np.sum(gaps) / len(s))


def action_effects(train_set: pd.DataFrame, truth: pd.DataFrame, *,
                   age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> dict[str, int]:
    """What the rebalance stage did to the training rows, judged by the truth: rows it excluded
    whose label was right (`removed_right`) or wrong (`removed_wrong`), rows whose label it changed
    to the truth (`fixed`) or away from it (`broken`), and wrong labels it left (`left_wrong`);
    `by_field`: the same per head (mask, gender, age bin), counted on the head's own label, so a
    field's automatic action can be judged alone (fixed per broken)."""
    ids = train_set["image_id"].astype(str)
    clean = truth_labels(truth, ids, age_edges=age_edges)
    original = truth_labels(truth, ids, age_edges=age_edges, which="given")
    label = train_set["label"].to_numpy()
    excluded = train_set["excluded"].to_numpy(dtype=bool)

    def counts(label: np.ndarray, original: np.ndarray, clean: np.ndarray) -> dict[str, int]:
        right, changed = original == clean, label != original
        return {"removed_right": int((excluded & right).sum()), "removed_wrong": int((excluded & ~right).sum()),
                "fixed": int((~excluded & changed & (label == clean)).sum()),
                "broken": int((~excluded & changed & (label != clean)).sum()),
                "left_wrong": int((~excluded & (label != clean)).sum())}

    heads = [L.decode(x) for x in (label, original, clean)]
    return {**counts(label, original, clean),
            "by_field": {field: counts(*(h[i] for h in heads)) for i, field in enumerate(HEADS)}}


def truth_labels(truth: pd.DataFrame, image_ids: Sequence[str], *, age_edges: Sequence[int],
                 which: str = "true") -> np.ndarray:
    """Clean (`which="true"`) or as-given 18-class labels for `image_ids` from a synthetic truth.csv."""
    t = truth.set_index("image_id").loc[list(image_ids)]
    return L.encode(t[f"mask_{which}"].to_numpy(), t[f"gender_{which}"].to_numpy(),
                    L.age_bin(t[f"age_{which}"].to_numpy(), age_edges))


HEADLINE = ("precision", "recall", "ap", "p_at_k", "oracle_ap")  # what reports/metrics.json keeps per field
ORDER = ("mask", "gender", "age", "duplicate", "outlier", "quality")


def headline(scores: dict[str, Any]) -> dict[str, Any]:
    """The flag-quality figures a user reads first, in reading order: overall, then per field and
    type (`HEADLINE` keys); the counts stay in the full report."""
    out = {k: scores[k] for k in HEADLINE if k in scores}
    for field in ORDER:
        if field in scores:
            out[field] = {k: scores[field][k] for k in HEADLINE if k in scores[field]}
    return out
