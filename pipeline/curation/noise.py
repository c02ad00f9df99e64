"""Label-noise detection on out-of-fold probabilities with cleanlab.

Gender and age belong to a person: the person's images' probabilities are aggregated and the
decision is taken once per person. Mask belongs to an image; an incorrect_mask <-> normal swap is
looked for as a pair inside one person, other mask issues are single images."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from cleanlab import dataset as cl_dataset
from cleanlab.filter import find_label_issues

from pipeline.curation import age as age_years
from pipeline.curation.mixture import fit_mirror
from pipeline.params import Aggregate, AgeMethod, FilterBy, PersonRule
from pipeline.labels import (head_labels, DETECTOR_KINDS, DEFAULT_AGE_EDGES, GENDERS, HEADS, ISSUE_COLUMNS, MASKS, PERSON, age_bin, age_bin_names)

INCORRECT, NORMAL = MASKS.index("incorrect"), MASKS.index("normal")



def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-12, None)
    return p / p.sum(1, keepdims=True)


def _aligned_heads(labels: pd.DataFrame, oof: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-head OOF probabilities in `labels` row order (reordered by image_id when oof has it)."""
    order = np.arange(len(labels))
    if "image_id" in oof:
        ids = pd.Index(np.asarray(oof["image_id"]).astype(str))
        wanted = labels["image_id"].astype(str)
        if not ids.equals(pd.Index(wanted)):
            order = ids.get_indexer(wanted)
            if (order < 0).any():
                raise ValueError(f"{int((order < 0).sum())} labels rows have no out-of-fold probabilities")
    elif len(oof["mask"]) != len(labels):
        raise ValueError("oof and labels differ in length and oof has no image_id to align on")
    return {h: _normalise(np.asarray(oof[h])[order]) for h in HEADS}


def _aligned_years(labels: pd.DataFrame, oof: Mapping[str, np.ndarray], key: str = "age_years") -> np.ndarray:
    """The out-of-fold age in years (`age_years`; `age_views`: per view, [N, V]) per labels row."""
    years = np.asarray(oof[key], float)
    if "image_id" not in oof:
        return years
    where = pd.Index(np.asarray(oof["image_id"]).astype(str)).get_indexer(labels["image_id"].astype(str))
    return years[where]


def aggregate_probs(probs: np.ndarray, groups: Sequence[str], *, aggregate: Aggregate = "mean"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-group probabilities, returned as (sorted group ids, probs):
      - "mean": mean of the images' probabilities (robust to one wild image);
      - "geometric": normalised geometric mean (the images' log-probabilities averaged);
      - "product": normalised product, naive Bayes over images treated as independent evidence
        (7 photos saying "male" at 0.8 each give ~1.0; overconfident when errors are correlated)."""
    if aggregate not in ("mean", "geometric", "product"):
        raise ValueError(f"aggregate must be mean, geometric or product, got {aggregate!r}")
    log = aggregate != "mean"
    frame = pd.DataFrame(np.log(_normalise(probs)) if log else probs)
    grouped = frame.groupby(np.asarray(groups), sort=True)
    agg = grouped.sum() if aggregate == "product" else grouped.mean()
    p = agg.to_numpy()
    if log:
        p = np.exp(p - p.max(1, keepdims=True))
    return agg.index.to_numpy(), _normalise(p)


def _evidence(p: np.ndarray, groups: np.ndarray, given: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per group (sorted ids): mean over its rows of log p(other) - log p(given)."""
    logp = np.log(_normalise(p))
    e = logp[np.arange(len(p)), other] - logp[np.arange(len(p)), given]
    return pd.Series(e).groupby(groups, sort=True).mean().to_numpy()


def _person_issues(field: str, y: np.ndarray, p: np.ndarray, persons: np.ndarray, image_flags: np.ndarray,
                   names: Sequence[str], *, rule: PersonRule, aggregate: Aggregate, filter_by: FilterBy,
                   min_votes: float, threshold: float) -> pd.DataFrame:
    ids, pp = aggregate_probs(p, persons, aggregate=aggregate)
    frame = pd.DataFrame({"person": persons, "y": y, "flag": image_flags})
    by_person = frame.groupby("person", sort=True)
    yp = by_person["y"].agg(lambda s: s.mode().iloc[0]).loc[ids].to_numpy()
    votes = by_person["flag"].mean().loc[ids].to_numpy()
    masked = pp.copy()
    masked[np.arange(len(yp)), yp] = -1
    suggested = masked.argmax(1)  # the most likely label other than the given one
    row_of = pd.Series(np.arange(len(ids)), index=ids)[persons].to_numpy()
    score = fit_mirror(evidence := _evidence(p, persons, yp[row_of], suggested[row_of])).posterior(evidence)
    if rule == "probability":
        flagged = score >= threshold
    else:
        flagged = pp.argmax(1) != yp
        if rule == "cleanlab":
            flagged &= find_label_issues(yp, pp, filter_by=filter_by)
        elif rule == "vote":
            flagged &= votes >= min_votes
        elif rule != "argmax":
            raise ValueError(f"person_rule must be probability, cleanlab, argmax or vote, got {rule!r}")
    k = np.flatnonzero(flagged)
    return pd.DataFrame({
        "issue_id": [f"{field}:{ids[i]}" for i in k], "person_id": ids[k], "image_id": PERSON,
        "field": field, "given": [names[yp[i]] for i in k], "suggested": [names[suggested[i]] for i in k],
        "score": score[k], "kind": field,
    })


def _age_issues(labels: pd.DataFrame, years: np.ndarray, *, age_edges: Sequence[int], threshold: float,
                prior_wrong: float, views: np.ndarray | None = None) -> pd.DataFrame:
    """One row per person whose given age and estimated age (in years, pooled over its images,
    de-biased) fall in different bins and whose probability of a wrong label (`pipeline.curation.age`) is
    at least `threshold`. `estimate` holds the estimate in years, `detail` says it in words;
    `views` (the estimates `years` averages) widen the uncertainty where they disagree."""
    persons = labels["person_id"].astype(str).to_numpy()
    table = age_years.person_ages(years, labels["age"].to_numpy(dtype=float), persons, edges=age_edges,
                                  prior_wrong=prior_wrong, views=views)
    names = age_bin_names(age_edges)
    given_bin = age_bin(table["given"].round().to_numpy(dtype=int), age_edges)
    est_bin = age_bin(np.clip(table["estimate"].round().to_numpy(), 0, 200).astype(int), age_edges)
    k = np.flatnonzero((given_bin != est_bin) & (table["p_wrong"].to_numpy() >= threshold))
    hit = table.iloc[k]
    return pd.DataFrame({
        "issue_id": [f"age:{p}" for p in hit.index], "person_id": hit.index.to_numpy(), "image_id": PERSON,
        "field": "age", "given": [names[given_bin[i]] for i in k], "suggested": [names[est_bin[i]] for i in k],
        "score": hit["p_wrong"].to_numpy(), "kind": "age", "estimate": hit["estimate"].round(1).to_numpy(),
        "detail": [f"given {g:.0f} y, estimated {e:.1f} ± {se:.1f} y"
                   for g, e, se in zip(hit["given"], hit["estimate"], hit["se"])],
    })


def _swap_pairs(y: np.ndarray, p: np.ndarray, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(incorrect row, normal row, swap probability) for every person with exactly one image of each.

    Evidence = log-likelihood ratio of the pair swapped against as given, images independent:
    log p_inc[normal] + log p_norm[incorrect] - log p_inc[incorrect] - log p_norm[normal]; the
    probability comes from the mirror mixture over all pairs (`pipeline.curation.mixture`)."""
    frame = pd.DataFrame({"person": persons, "y": y, "row": np.arange(len(y))})
    frame = frame[np.isin(y, (INCORRECT, NORMAL))]
    counts = frame.groupby(["person", "y"]).size().unstack(fill_value=0)
    ok = counts.index[(counts.get(INCORRECT, 0) == 1) & (counts.get(NORMAL, 0) == 1)]
    pairs = frame[frame["person"].isin(ok)].pivot(index="person", columns="y", values="row")
    pairs = pairs.reindex(columns=[INCORRECT, NORMAL])
    inc, nor = pairs[INCORRECT].to_numpy(dtype=int), pairs[NORMAL].to_numpy(dtype=int)
    logp = np.log(_normalise(p))
    evidence = logp[inc, NORMAL] + logp[nor, INCORRECT] - logp[inc, INCORRECT] - logp[nor, NORMAL]
    return inc, nor, fit_mirror(evidence).posterior(evidence)


def label_posterior(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(given label wrong | the image, its given label) by Bayes' rule with the dataset's noise
    matrix, P(given i | true j), estimated by cleanlab's confident joint on the same out-of-fold
    probabilities: P(true j | x, given i) ~ P(given i | true j) p_j(x). Where 1 - p_i(x) reads only
    the image, this also weighs how often annotators give the label i to a true j at all: labels
    are mostly right, so a photo that looks like a j but carries the label i is wrong only as often
    as j photos get that label. 1 - p_i(x) where cleanlab cannot estimate the matrix (a class
    absent from the labels)."""
    from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities

    p = _normalise(p)
    rows = np.arange(len(y))
    if len(np.unique(y)) < p.shape[1]:
        return 1.0 - p[rows, y]
    _, noise_matrix, _, _ = estimate_py_and_noise_matrices_from_probabilities(y, p)
    joint = noise_matrix[y] * p
    return 1.0 - joint[rows, y] / np.clip(joint.sum(1), 1e-300, None)


def _mask_issues(labels: pd.DataFrame, y: np.ndarray, p: np.ndarray, image_flags: np.ndarray, *,
                 threshold: float, mask_singles: bool, single_threshold: float) -> pd.DataFrame:
    """Swap pairs with P(swapped) >= `threshold`; with `mask_singles`, other images that cleanlab
    flags, whose given mask has out-of-fold probability <= 1 - `single_threshold` and whose
    `label_posterior` (their score) is >= `threshold`."""
    persons = labels["person_id"].astype(str).to_numpy()
    image_ids = labels["image_id"].astype(str).to_numpy()
    image_score = 1.0 - _normalise(p)[np.arange(len(y)), y]
    inc, nor, swap_score = _swap_pairs(y, p, persons)
    hit = swap_score >= threshold
    rows = np.concatenate([inc[hit], nor[hit]])
    suggested = np.concatenate([np.full(hit.sum(), NORMAL), np.full(hit.sum(), INCORRECT)])
    scores = np.concatenate([swap_score[hit], swap_score[hit]])
    kinds = ["swap"] * len(rows)
    if mask_singles:
        posterior = label_posterior(y, p)
        single = image_flags & (p.argmax(1) != y) & (image_score >= single_threshold) & (posterior >= threshold)
        single[rows] = False
        k = np.flatnonzero(single)
        rows = np.concatenate([rows, k])
        suggested = np.concatenate([suggested, p[k].argmax(1)])
        scores = np.concatenate([scores, posterior[k]])
        kinds += ["mask"] * len(k)
    rows = rows.astype(int)
    return pd.DataFrame({
        "issue_id": [f"mask:{image_ids[i]}" for i in rows], "person_id": persons[rows],
        "image_id": image_ids[rows], "field": "mask", "given": [MASKS[y[i]] for i in rows],
        "suggested": [MASKS[s] for s in suggested.astype(int)], "score": scores, "kind": kinds,
    })


def find_issues(labels: pd.DataFrame, oof: Mapping[str, np.ndarray], *,
                age_edges: Sequence[int] = DEFAULT_AGE_EDGES,
                threshold: float = 0.5,
                thresholds: Mapping[str, float] | None = None,
                age_method: AgeMethod = "years",
                person_rule: PersonRule = "probability",
                aggregate: Aggregate = "geometric",
                filter_by: FilterBy = "both",
                min_votes: float = 0.5,
                mask_singles: bool = True,
                single_threshold: float = 0.95,
                age_prior: float = 0.2,
                include_excluded: bool = False) -> pd.DataFrame:
    """Ranked label issues (ISSUE_COLUMNS, score descending). Every score is the probability that
    the given label is wrong, so one `threshold` (per field overrides in `thresholds`, e.g.
    {"age": 0.7}) decides what is flagged, and the list sorts across fields.

    Gender (one decision per person, image_id "*"): evidence = mean over the person's images of
    log p(other) - log p(given), turned into a probability by the mirror mixture fitted over all
    persons (`pipeline.curation.mixture`); flagged when it is >= the threshold (`person_rule`
    "probability"). The older rules are kept for comparison: "cleanlab" (find_label_issues with
    `filter_by` on the `aggregate`d person probabilities), "vote" (at least `min_votes` of the
    person's images flagged by cleanlab) and "argmax"; under them the score is still the probability.
    Age with `age_method="years"` (needs oof["age_years"], the out-of-fold age in years): one
    estimate per person and the probability that the given age bin is wrong (`pipeline.curation.age`, with
    `age_prior` the expected share of wrong bins); flagged when the estimate's bin differs and that
    probability is >= the threshold. `age_method="bins"`
    treats age like gender, on the age-bin probabilities.
    Mask: an incorrect/normal pair whose swap probability (mirror mixture over all pairs) is >= the
    threshold gives two rows of kind "swap"; with `mask_singles`, other images flagged by
    cleanlab.find_label_issues whose given mask has out-of-fold probability <= 1 -
    `single_threshold` give kind "mask" rows (the layout fixes 5/1/1 masks per person, so a lone
    wrong mask image needs strong evidence), scored and thresholded by `label_posterior`.
    Rows marked `excluded` are skipped unless `include_excluded`."""
    heads = _aligned_heads(labels, oof)
    if age_method == "years":
        if "age_years" not in oof:
            raise ValueError("age_method 'years' needs the out-of-fold age in years (oof.age_weight > 0); "
                             "or set noise.find.age_method: bins")
        heads["years"] = _aligned_years(labels, oof)
        if "age_views" in oof:
            heads["views"] = _aligned_years(labels, oof, "age_views")
    keep = np.ones(len(labels), bool)
    if not include_excluded and "excluded" in labels:
        keep = ~labels["excluded"].fillna(False).to_numpy(dtype=bool)
    labels = labels[keep].reset_index(drop=True)
    heads = {h: p[keep] for h, p in heads.items()}
    if labels.empty:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    given = head_labels(labels, age_edges=age_edges)
    persons = labels["person_id"].astype(str).to_numpy()
    names = {"mask": MASKS, "gender": GENDERS, "age": age_bin_names(age_edges)}
    frames = []
    for field in HEADS:
        y, p = given[field], heads[field]
        cut = (thresholds or {}).get(field, threshold)
        if field == "age" and age_method == "years":
            frames.append(_age_issues(labels, heads["years"], age_edges=age_edges, threshold=cut,
                                      prior_wrong=age_prior, views=heads.get("views")))
            continue
        flags = find_label_issues(y, p, filter_by=filter_by)
        if field == "mask":
            frames.append(_mask_issues(labels, y, p, flags, threshold=cut, mask_singles=mask_singles,
                                       single_threshold=single_threshold))
        else:
            frames.append(_person_issues(field, y, p, persons, flags, names[field], rule=person_rule,
                                         aggregate=aggregate, filter_by=filter_by, min_votes=min_votes,
                                         threshold=cut))
    issues = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) \
        else pd.DataFrame(columns=ISSUE_COLUMNS)
    return sort_issues(issues)


def sort_issues(issues: pd.DataFrame) -> pd.DataFrame:
    """Score descending; ties by person, field, image so the two rows of a swap stay together."""
    issues = issues.astype({"score": float}).reindex(columns=ISSUE_COLUMNS)
    return issues.sort_values(["score", "person_id", "field", "image_id"], ascending=[False, True, True, True],
                              kind="stable")[ISSUE_COLUMNS].reset_index(drop=True)


def top_issues(issues: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first `n` rows of ranked issues, plus the partner row of a swap cut in half."""
    head = issues.head(n)
    cut = head[head["kind"] == "swap"]
    partners = issues.iloc[n:]
    partners = partners[(partners["kind"] == "swap") & partners["person_id"].isin(cut["person_id"])]
    return pd.concat([head, partners]).reset_index(drop=True)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


def health_summary(labels: pd.DataFrame, oof: Mapping[str, np.ndarray], *,
                   age_edges: Sequence[int] = DEFAULT_AGE_EDGES, top_pairs: int = 5) -> dict[str, Any]:
    """Per head, in the spirit of cleanlab.dataset.health_summary: overall label health score,
    per-class noise rates (rank_classes_by_label_quality) and the most confused class pairs
    (find_overlapping_classes). JSON-serialisable."""
    heads = _aligned_heads(labels, oof)
    given = head_labels(labels, age_edges=age_edges)
    names = {"mask": MASKS, "gender": GENDERS, "age": age_bin_names(age_edges)}
    out: dict[str, Any] = {}
    for h in HEADS:
        y, p, cls = given[h], heads[h], list(names[h])
        out[h] = {
            "examples": int(len(y)),
            "overall_label_health_score": float(cl_dataset.overall_label_health_score(y, p, verbose=False)),
            "classes": _records(cl_dataset.rank_classes_by_label_quality(y, p, class_names=cls)),
            "overlapping": _records(cl_dataset.find_overlapping_classes(y, p, class_names=cls).head(top_pairs)),
        }
    return out


def compare_known(issues: pd.DataFrame, known: pd.DataFrame, *,
                  age_edges: Sequence[int] = DEFAULT_AGE_EDGES) -> pd.DataFrame:
    """Which known fixes (public list person_id,field,fix or corrections format with value and
    decision) are flagged: one row per fix with `flagged`, our `suggested`, and `agrees`."""
    known = known.copy()
    if "fix" not in known:
        if "decision" in known:
            known = known[known["decision"].astype(str).str.lower() == "accept"]
        known = known.rename(columns={"value": "fix"})
    known["person_id"] = known["person_id"].astype(str)
    known["fix"] = known["fix"].astype(str)
    suggestion = issues.assign(suggested=issues["suggested"].where(issues["kind"] != "swap",
                                                                  "swap_incorrect_normal"))
    best = suggestion.drop_duplicates(["person_id", "field"]).set_index(["person_id", "field"])["suggested"]
    keys = pd.MultiIndex.from_frame(known[["person_id", "field"]])
    ours = best.reindex(keys).to_numpy()
    fix_as_label = [_age_name(f, age_edges) if fld == "age" else f for fld, f in zip(known["field"], known["fix"])]
    return pd.DataFrame({
        "person_id": known["person_id"].to_numpy(), "field": known["field"].to_numpy(),
        "fix": known["fix"].to_numpy(), "flagged": pd.notna(ours),
        "suggested": pd.Series(ours, dtype=object).fillna("").to_numpy(),
        "agrees": [pd.notna(o) and o == f for o, f in zip(ours, fix_as_label)],
    })


def _age_name(value: str, edges: Sequence[int]) -> str:
    return age_bin_names(edges)[age_bin(int(value), edges)] if value.lstrip("-").isdigit() else value


def unusable_images(issues: pd.DataFrame, *, threshold: float = 0.5) -> set[str]:
    """Image ids of the outlier and quality rows scored at least `threshold`, and of every
    face-detector failure listed (`DETECTOR_KINDS`: a crop that may not show the face). A
    stranger's photo, an empty room, a black frame or a crop of the wall says nothing about the
    person's mask, gender or age, so the noise stage leaves these images out of the label
    analysis: kept in, they make false mask flags. A person
    left with few photos gets a wider age uncertainty (`pipeline.curation.age.pool`)."""
    if issues.empty:
        return set()
    bad = issues["field"].isin(("outlier", "quality")) & (issues["score"].astype(float) >= threshold)
    if "kind" in issues:
        bad |= issues["kind"].astype(str).isin(DETECTOR_KINDS)
    return set(issues.loc[bad, "image_id"].astype(str))
