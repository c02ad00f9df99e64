"""`duplicate` (person level): two person ids whose photos show the same person.

Photos are compared stem by stem (mask1 with mask1, ..., normal with normal): embedding cosine
(features centred per stem) and colour-grid distance, median over stems, each standardised over
all pairs and summed; each person's best match is scored against all persons' best matches,
mutual best matches only. Datalab near-duplicate sets that join two persons make them a match.
The given metadata (gender, race, age: what the real data's folder names record) is evidence too
(`metadata_ratio`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.curation.issues.evidence import unit
from pipeline.curation.mixture import MAD_TO_SD, fit_tail, robust_z


def datalab_issues(features: np.ndarray, *, k: int = 10) -> pd.DataFrame:
    """cleanlab Datalab on the embeddings: near_duplicate (with its sets) and outlier, per image."""
    from cleanlab import Datalab

    from sklearn import config_context

    lab = Datalab(data={"row": np.arange(len(features))}, verbosity=0)
    with config_context(working_memory=128):  # its neighbour search in 128 MB chunks, not sklearn's 1 GB
        lab.find_issues(features=np.asarray(features, np.float32),
                        issue_types={"near_duplicate": {"k": k}, "outlier": {"k": k}})
    near, out = lab.get_issues("near_duplicate"), lab.get_issues("outlier")
    return pd.DataFrame({"near_duplicate_sets": near["near_duplicate_sets"].to_numpy(),
                         "is_near_duplicate": near["is_near_duplicate_issue"].to_numpy(bool),
                         "outlier_score": out["outlier_score"].to_numpy(float)})


def stem_centred(features: np.ndarray, stems: np.ndarray) -> np.ndarray:
    """Features minus their stem's mean, renormalised: what all photos of a stem share (no mask,
    a mask on the chin) is not identity."""
    out = np.asarray(features, float).copy()
    for s in np.unique(stems):
        out[stems == s] -= out[stems == s].mean(0)
    return unit(out)


def _stem_table(x: np.ndarray, persons: np.ndarray, stems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[persons, stems, dim] (NaN where a person lacks a stem) and the sorted person ids."""
    ids, stem_names = np.unique(persons), np.unique(stems)
    pi = {p: i for i, p in enumerate(ids)}
    si = {s: i for i, s in enumerate(stem_names)}
    table = np.full((len(ids), len(stem_names), x.shape[1]), np.nan)
    for row, (p, s) in enumerate(zip(persons, stems)):
        table[pi[p], si[s]] = x[row]
    return table, ids


def _stem_similarity(table: np.ndarray, *, cosine: bool, block: int = 256) -> np.ndarray:
    """Person x person: median over the stems both have of the photos' cosine (or minus their
    euclidean distance), standardised robustly over all pairs. Computed `block` persons at a
    time in float32: the (persons, persons, stems) pairs would be 0.2 GB at 2,700 persons and
    the NaN-median's copies of them several times that; a block's are a few MB."""
    n, k = table.shape[:2]
    filled = ~np.isnan(table[..., 0])
    t0 = np.nan_to_num(table).astype(np.float32)
    sq = (t0 ** 2).sum(-1)  # [n, k]
    sim = np.empty((n, n))
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        sims = np.empty((rows.stop - start, n, k), np.float32)
        for j in range(k):
            dot = t0[rows, j] @ t0[:, j].T
            sims[:, :, j] = dot if cosine else -np.sqrt(np.maximum(sq[rows, j][:, None] + sq[None, :, j] - 2 * dot, 0))
        sims[~(filled[rows][:, None, :] & filled[None, :, :])] = np.nan
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pairs (no stem in common): NaN
            sim[rows] = np.nanmedian(sims, axis=2)
    off = ~np.eye(n, dtype=bool) & np.isfinite(sim)
    if not off.any():
        return np.zeros((n, n))
    med = np.median(sim[off])
    mad = MAD_TO_SD * np.median(np.abs(sim[off] - med))
    return np.nan_to_num((sim - med) / max(mad, 1e-9), nan=-1e9)


def metadata_ratio(a: np.ndarray, b: np.ndarray, everyone: np.ndarray, *, agreement: float) -> np.ndarray:
    """The likelihood ratio P(metadata | same person) / P(metadata | two persons) of each pair
    (`a[i]`, `b[i]`) of persons' given metadata (one hashable value per person, e.g. gender, race
    and age joined). A person filed twice carries the same metadata with probability `agreement`;
    two persons share it as often as two persons of `everyone` (one value per person) do.
    `agreement` 0 turns the evidence off (ratio 1)."""
    if not 0 <= agreement < 1:
        raise ValueError(f"agreement must be in [0, 1), got {agreement}")
    a, b = np.asarray(a), np.asarray(b)
    if agreement == 0 or len(everyone) < 2:
        return np.ones(len(a))
    counts, n = pd.Series(everyone).value_counts().to_numpy(float), len(everyone)
    chance = float(np.clip((counts * (counts - 1)).sum() / (n * (n - 1)), 1e-6, 1 - 1e-6))  # of all pairs
    return np.where(a == b, agreement / chance, (1 - agreement) / (1 - chance))


def with_ratio(p: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Probabilities `p` updated by likelihood ratios (Bayes on the odds); 0 and 1 stay."""
    p, ratio = np.asarray(p, float), np.asarray(ratio, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = p / (1 - p) * ratio
        return np.where(p >= 1, 1.0, np.where(p <= 0, 0.0, odds / (1 + odds)))


def duplicate_scores(features: np.ndarray, persons: np.ndarray, stems: np.ndarray, *,
                     grid: np.ndarray | None = None,
                     near_sets: Sequence[Sequence[int]] | None = None,
                     metadata: np.ndarray | None = None, agreement: float = 0.9) -> pd.DataFrame:
    """Per person its best-matching other person and P(same person) -> columns person_id, other,
    similarity, z, metadata (the person's; "" without `metadata`), same_metadata, score. Photos are
    compared stem by stem (a person wears the same masks in every session): the stem-centred
    embeddings' cosine plus, given `grid` (`colour_grid`), the colour grids' distance, each
    standardised over all person pairs and summed; each person's best match is then a robust z
    against all persons' best matches, whose tail mixture gives P(same person) from the photos.
    Datalab near-duplicate sets that join two persons make them each other's best match. Given
    `metadata` (per row, e.g. gender, race and age joined in one string), that probability is
    updated by `metadata_ratio`: the photos decide who is a candidate (a person whose best match is
    no closer than the typical best match, z <= 0, stays at 0), the metadata how likely it is."""
    persons = np.asarray(persons).astype(str)
    table, ids = _stem_table(stem_centred(features, stems), persons, stems)
    sim = _stem_similarity(table, cosine=True)
    if grid is not None:
        sim = sim + _stem_similarity(_stem_table(grid, persons, stems)[0], cosine=False)
    np.fill_diagonal(sim, -np.inf)
    if near_sets is not None:
        pi = {p: i for i, p in enumerate(ids)}
        top_sim = float(np.max(sim[np.isfinite(sim)])) if np.isfinite(sim).any() else 0.0
        for row, others in enumerate(near_sets):
            for j in others:
                a, b = pi[persons[row]], pi[persons[j]]
                if a != b:
                    sim[a, b] = sim[b, a] = max(sim[a, b], top_sim)
    if len(ids) < 3:
        return pd.DataFrame({"person_id": ids, "other": ids, "similarity": 0.0, "z": 0.0, "metadata": "",
                             "same_metadata": False, "score": 0.0})
    best = sim.argmax(1)
    top = sim[np.arange(len(ids)), best]
    z = robust_z(top)
    weighed = metadata is not None and agreement > 0
    # with a second evidence the photos' probability counts from z 0 up: in the band below the
    # mixture's cut it is small, so only a pair whose metadata agrees rises there
    score = fit_tail(z).posterior(z, cut=0.0 if weighed else None)
    meta = np.full(len(ids), "", dtype=object)
    if metadata is not None:
        meta = pd.Series(np.asarray(metadata).astype(str)).groupby(persons).first().reindex(ids).to_numpy()
        score = with_ratio(score, metadata_ratio(meta, meta[best], meta, agreement=agreement))
    return pd.DataFrame({"person_id": ids, "other": ids[best], "similarity": top, "z": z, "metadata": meta,
                         "same_metadata": (meta == meta[best]) & (metadata is not None), "score": score})
