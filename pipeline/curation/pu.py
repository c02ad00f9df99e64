"""P(issue | evidence) from examples of the issue made out of the data itself (positive-unlabeled
learning): the outlier detector puts each photo among another person's photos, a stranger whose
evidence is computed exactly as a real photo's (`pipeline.curation.issues.outliers`).

The real items are a mixture f = pi f1 + (1 - pi) f0 of issues (f1: what the made examples
follow) and clean items (f0: unknown, whatever the camera does). A classifier told the made
examples (1) from the real items (0) estimates h(x) = n1 f1 / (n1 f1 + n0 f), so
f1 / f = (n0 / n1) h / (1 - h) and

    P(issue | x) = pi f1(x) / f(x) = pi (n0 / n1) h(x) / (1 - h(x)).

No shape is assumed for the clean items: where the camera gives clean photos a long tail, the
classifier sees real items there that the made strangers do not explain, and the probability
stays low. The classifier is sklearn's logistic regression on a cubic spline of each evidence
column (`SplineTransformer`), fitted out of fold by group (a person's photos and the strangers
put among them in one fold), so no item scores itself. The share pi is the best-bin estimate of
Garg, Wu, Smola, Balakrishnan and Lipton (2021, "Mixture proportion estimation and PU learning: a
modern approach"): over the top regions {h >= c}, the ratio of the real items' share to the made
examples' share, at the region whose upper confidence bound is lowest. Written by hand: no library
in the stack estimates a mixture proportion from positive and unlabeled data."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer


def best_bin_share(real: np.ndarray, made: np.ndarray, *, delta: float = 0.1, gamma: float = 0.01) -> float:
    """The issue share of the real items from classifier outputs `real` and `made` (higher = more
    like the made examples): q_real(c) / q_made(c), with q the share of items at or above c, at the c
    that minimises (q_real(c) + (1 + gamma) eps_real) / (q_made(c) - eps_made), eps_n =
    sqrt(log(4 / delta) / (2 n)) (the BBE estimator's confidence terms, Garg et al. 2021)."""
    real, made = np.asarray(real, float), np.asarray(made, float)
    if len(real) == 0 or len(made) == 0:
        return 0.0
    cuts = np.unique(np.quantile(np.concatenate([real, made]), np.linspace(0.5, 1.0, 401)))
    q_real = (real[None, :] >= cuts[:, None]).mean(1)
    q_made = (made[None, :] >= cuts[:, None]).mean(1)
    log_term = np.log(4 / delta)
    upper = (q_real + (1 + gamma) * np.sqrt(log_term / (2 * len(real)))) \
        / np.clip(q_made - np.sqrt(log_term / (2 * len(made))), 1e-12, None)
    best = int(np.argmin(np.where(q_made > 0, upper, np.inf)))
    return float(min(q_real[best] / q_made[best], 1.0))


def pu_posterior(real: np.ndarray, made: np.ndarray, *, real_groups: np.ndarray, made_groups: np.ndarray,
                 knots: int = 4, folds: int = 5) -> tuple[np.ndarray, float]:
    """(P(issue) per real row, the estimated issue share) from evidence rows `real` [n0, k] and the
    made issue examples `made` [n1, k]; `real_groups` / `made_groups` keep related rows in one
    fold (a person's photos, and the strangers put among them)."""
    real, made = np.atleast_2d(np.asarray(real, float)), np.atleast_2d(np.asarray(made, float))
    groups = np.concatenate([np.asarray(real_groups).astype(str), np.asarray(made_groups).astype(str)])
    folds = min(folds, len(np.unique(groups)))
    if len(real) == 0 or len(made) == 0 or folds < 2:
        return np.zeros(len(real)), 0.0
    x = np.vstack([real, made])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(made))])
    h = np.zeros(len(x))
    for fit, held in GroupKFold(folds).split(x, y, groups):
        model = make_pipeline(SplineTransformer(n_knots=knots, degree=3, extrapolation="linear"),
                              LogisticRegression(max_iter=2000))
        h[held] = model.fit(x[fit], y[fit]).predict_proba(x[held])[:, 1]
    h_real, h_made = h[:len(real)], h[len(real):]
    share = best_bin_share(h_real, h_made)
    ratio = len(real) / len(made) * h_real / np.clip(1 - h_real, 1e-12, None)
    return np.clip(share * ratio, 0.0, 1.0), share
