"""`duplicate` (person level): two person ids whose photos show the same person.

Persons are compared in an identity space: linear discriminant analysis with the person ids as
classes (sklearn), on the embeddings' principal components and the colours above and below the
mask (`identity_grid`). It keeps the directions in which persons differ and one person's photos do
not, so what changes from photo to photo (the mask, the pose, the light, the framing) counts little
and what a person keeps (hair, skin, clothes, face shape) counts much; the photos are compared in
no order, as sets (a second session wears other masks in another order). Each person's nearest
person is scored by how much nearer it is than the next nearest (a ratio test, `ratio_test`).
With `use_datalab`, Datalab near-duplicate sets that join two persons make them a match. The given
metadata (gender, race, age: what the real data's folder names record) is evidence too
(`metadata_ratio`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


IDENTITY_DIMS = 64  # principal components of the embeddings the identity space starts from
IDENTITY_COMPONENTS = 16  # discriminant directions kept: the ones in which persons differ most
AGE_SLACK = 2  # years a re-filed person's given age may be off and still read as a slip (filed a year or two later)
SLIP_SHARE = 0.9  # of the persons filed twice with metadata not the same, the share that differ only by a slip
METADATA_LEVELS = ("same", "slip", "other")  # how two persons' given metadata agree (`metadata_agreement`)


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


def identity_space(features: np.ndarray, persons: np.ndarray, *, grid: np.ndarray | None = None,
                   dims: int = IDENTITY_DIMS, components: int = IDENTITY_COMPONENTS) -> np.ndarray:
    """Each photo's coordinates in the directions in which the set's persons differ and one
    person's photos do not: LDA (Ledoit-Wolf shrinkage) with `persons` as classes on the first
    `dims` principal components of `features` beside the standardised `grid` columns, `components`
    directions kept (fewer where there are fewer persons or columns; with fewer persons than
    columns the columns are first reduced to as many principal components as there are persons).
    The space is fitted on the persons it compares: a copy and its original are two classes among hundreds and barely move
    it (fitting it without them changed no pair's rank on three sets: docs/shift.md)."""
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    x = np.asarray(features, np.float64)
    classes = np.unique(persons, return_inverse=True)[1]
    parts = [PCA(min(dims, *x.shape), random_state=0).fit_transform(x)]
    if grid is not None:
        g = np.asarray(grid, np.float64)
        parts.append((g - g.mean(0)) / np.maximum(g.std(0), 1e-9))
    x = np.concatenate(parts, 1)
    if x.shape[1] > classes.max() + 1:  # no more columns than persons: few persons would be told
        x = PCA(classes.max() + 1, random_state=0).fit_transform(x)  # apart by noise alone
    k = min(components, classes.max(), x.shape[1])
    return LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto", n_components=k).fit(x, classes).transform(x)


def person_distances(space: np.ndarray, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person x person: the squared distance of two persons' mean photos in `space` per
    direction, over 1/n + 1/m for their n and m photos, so about 1 for two sets of photos of one
    session whatever their counts; the diagonal inf) and the sorted person ids."""
    ids, classes = np.unique(persons, return_inverse=True)
    n = np.bincount(classes).astype(float)
    means = np.zeros((len(ids), space.shape[1]))
    np.add.at(means, classes, space)
    means /= n[:, None]
    sq = (means ** 2).sum(1)
    d = np.maximum(sq[:, None] + sq[None] - 2 * means @ means.T, 0)
    d /= (1 / n[:, None] + 1 / n[None]) * space.shape[1]
    np.fill_diagonal(d, np.inf)
    return d, ids


def metadata_agreement(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Per pair of rows of two persons' given metadata (same columns, e.g. gender, race, age), its
    `METADATA_LEVELS` code: 0 "same" (every column equal), 1 "slip" (only what a second filing gets
    wrong differs: the gender, and / or an `age` off by at most `AGE_SLACK` years), 2 "other" (e.g.
    another race, or an age off by more: a typo, or two persons)."""
    differ = pd.DataFrame({c: a[c].astype(str).to_numpy() != b[c].astype(str).to_numpy() for c in a.columns})
    slip = ~differ.drop(columns=[c for c in ("gender", "age") if c in differ]).any(axis=1).to_numpy()
    if "age" in a:
        gap = np.abs(pd.to_numeric(a["age"], errors="coerce").to_numpy(float)
                     - pd.to_numeric(b["age"], errors="coerce").to_numpy(float))
        slip &= ~differ["age"].to_numpy() | (gap <= AGE_SLACK)
    return np.where(~differ.any(axis=1).to_numpy(), 0, np.where(slip, 1, 2))


def metadata_ratio(level: np.ndarray, *, agreement: float) -> np.ndarray:
    """The likelihood ratio P(metadata | same person) / P(metadata | two persons) of each pair of
    persons' given metadata, from its `metadata_agreement` level. A person filed twice carries the
    same metadata with probability `agreement`; of the rest, `SLIP_SHARE` differ by a slip only.
    Two persons agree (same, slip, other) as often as the pairs given do (each person and the
    person who looks most like them: look-alikes share gender and age far more often than two
    persons drawn at random, and the few copies among the pairs only make the ratio smaller;
    add-one smoothed). So the same metadata is strong evidence, a slip weak either way, and
    anything else strong evidence against, but never proof: a copy filed with other labels is the
    one worth finding. `agreement` 0 turns the evidence off (ratio 1)."""
    if not 0 <= agreement < 1:
        raise ValueError(f"agreement must be in [0, 1), got {agreement}")
    level = np.asarray(level, int)
    if agreement == 0 or len(level) < 2:
        return np.ones(len(level))
    chance = (np.bincount(level, minlength=len(METADATA_LEVELS)) + 1) / (len(level) + len(METADATA_LEVELS))
    copy = np.array([agreement, (1 - agreement) * SLIP_SHARE, (1 - agreement) * (1 - SLIP_SHARE)])
    return (copy / chance)[level]


def with_ratio(p: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Probabilities `p` updated by likelihood ratios (Bayes on the odds); 0 and 1 stay."""
    p, ratio = np.asarray(p, float), np.asarray(ratio, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = p / (1 - p) * ratio
        return np.where(p >= 1, 1.0, np.where(p <= 0, 0.0, odds / (1 + odds)))


def ratio_test(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of `d` (`person_distances`): its nearest other person, the ratio of the distance to
    the next nearest over the distance to the nearest, and that ratio's p-value were the nearest
    just the next person around. Under the TWO-NN model (Facco et al. 2017: points spread evenly
    near each other in some intrinsic dimension m) ratio^-m is uniform; m is read from the median
    ratio (m = ln 2 / median ln ratio), so the copies, a few per cent, do not move it."""
    order = np.argsort(d, axis=1)[:, :2]
    rows = np.arange(len(d))
    ratio = np.sqrt(d[rows, order[:, 1]] / np.maximum(d[rows, order[:, 0]], 1e-12))
    log_ratio = np.log(np.maximum(ratio, 1.0))
    m = np.log(2) / max(float(np.median(log_ratio)), 1e-9)
    return order[:, 0], ratio, np.exp(-m * log_ratio)


def local_fdr(p: np.ndarray) -> np.ndarray:
    """Each p-value's local false discovery rate, P(null | p) = pi0 f0(p) / f(p), with f0 uniform,
    pi0 taken as 1 (conservative: the copies are a few per cent) and f the Grenander estimate of
    the p-values' density (the decreasing density that fits best: the slopes of the least concave
    majorant of their ECDF, i.e. the antitonic regression of the raw slopes weighted by the gaps;
    sklearn's `IsotonicRegression`). Unlike 1 - a BH q-value, which is the share of nulls among
    all p-values at least as small, this is the chance for a p-value of just this size, so the
    last pairs let in are not scored like the first."""
    from sklearn.isotonic import IsotonicRegression

    p = np.asarray(p, float)
    n = len(p)
    order = np.argsort(p)
    gap = np.maximum(np.diff(np.concatenate([[0.0], p[order]])), 1e-12)
    rank = np.arange(n)
    density = IsotonicRegression(increasing=False).fit(rank, 1 / (n * gap), sample_weight=gap).predict(rank)
    out = np.empty(n)
    out[order] = np.minimum(1.0, 1 / density)
    return out


def duplicate_scores(features: np.ndarray, persons: np.ndarray, *, grid: np.ndarray | None = None,
                     near_sets: Sequence[Sequence[int]] | None = None,
                     metadata: pd.DataFrame | None = None, agreement: float = 0.9) -> pd.DataFrame:
    """Per person its nearest other person and P(same person) -> columns person_id, other,
    distance, ratio, z, metadata (the person's; "" without `metadata`), same_metadata, score.
    Persons are compared in `identity_space` (of `features` and, given, `grid`: `identity_grid`)
    by `person_distances`; a person's evidence is `ratio_test`'s p-value (z: its normal quantile),
    and P(same person) from the photos is one minus its `local_fdr`. Datalab near-duplicate sets
    (`near_sets`) that join two persons make them each other's nearest. Given `metadata` (per row:
    columns such as gender, race and age), that probability is updated by `metadata_ratio`: the photos decide who is a candidate
    (a person whose ratio is no larger than the typical one, z <= 0, stays at 0), the metadata how
    likely it is."""
    from scipy.stats import norm

    persons = np.asarray(persons).astype(str)
    ids = np.unique(persons)
    if len(ids) < 3:
        return pd.DataFrame({"person_id": ids, "other": ids, "distance": 0.0, "ratio": 1.0, "z": 0.0,
                             "metadata": "", "same_metadata": False, "score": 0.0})
    d, _ = person_distances(identity_space(features, persons, grid=grid), persons)
    if near_sets is not None:
        pi = {p: i for i, p in enumerate(ids)}
        closest = float(d[np.isfinite(d)].min())
        for row, others in enumerate(near_sets):
            for j in others:
                a, b = pi[persons[row]], pi[persons[j]]
                if a != b:
                    d[a, b] = d[b, a] = min(d[a, b], closest)
    best, ratio, p = ratio_test(d)
    z = norm.isf(p)
    score = np.where(z > 0, 1 - local_fdr(p), 0.0)
    meta, same = np.full(len(ids), "", dtype=object), np.zeros(len(ids), bool)
    if metadata is not None:
        given = pd.DataFrame(metadata).reset_index(drop=True).groupby(persons).first().reindex(ids)
        meta = given.astype(str).agg(", ".join, axis=1).to_numpy()
        level = metadata_agreement(given, given.iloc[best])
        same = level == 0
        score = with_ratio(score, metadata_ratio(level, agreement=agreement))
    return pd.DataFrame({"person_id": ids, "other": ids[best], "distance": d[np.arange(len(ids)), best],
                         "ratio": ratio, "z": z, "metadata": meta, "same_metadata": same, "score": score})
