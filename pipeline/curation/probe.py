"""Out-of-fold label probabilities from frozen features: the linear probe.

cleanlab's own recipe for images is a simple model on a pretrained network's embeddings, fitted
out of fold. Here that model is, per person fold, one multinomial logistic regression per head
(mask, gender, age bin) on the embed stage's standardised ImageNet features, and the ridge
regression of `age_years` for age in years (averaged with the same regression on the crops' top
half, `pipeline.features.embed.age_band`, when the embed stage wrote it). On features of the
crops at two sizes it flags about as well as the fine-tuned networks in seconds instead of
minutes (docs/benchmarks.md).

    method "probe"     this module alone (seconds on a CPU; the default)
    method "network"   the oof stage's fine-tuned networks alone
    method "ensemble"  the mean of both: probabilities head by head, age in years
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline import labels as L

Method = Literal["network", "probe", "ensemble"]
ALPHAS = np.logspace(0, 5, 11)  # the age regression's ridge penalties, chosen by leave-one-out
ALPHA_ROWS = 4096               # at most this many of a fold's rows choose the penalty (all of them fit)


def age_years(features: np.ndarray, given: np.ndarray, folds: np.ndarray, *,
              advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Out-of-fold age in years per image from fixed `features` [N, D]: for each fold, a ridge
    regression (standardised features) fitted on the other folds' images and their given ages.
    `folds` are person folds (the OOF models'), so no person's own label reaches its estimate.
    The penalty is RidgeCV's leave-one-out choice among ALPHAS; on a fold with more than
    ALPHA_ROWS training rows it is chosen on ALPHA_ROWS of them drawn at random, and a Ridge with
    it fits all rows: the penalty that suits a regression hardly moves with the row count, while
    the leave-one-out's cost grows with rows x features^2 per penalty (docs/real-size.md).
    float32 features stay float32. `advance(1)` after each fold (progress)."""
    x, y, folds = np.asarray(features), np.asarray(given, float), np.asarray(folds)
    x = x if x.dtype == np.float32 else x.astype(float)
    if len(x) != len(y) or len(y) != len(folds):
        raise ValueError(f"features ({len(x)}), ages ({len(y)}) and folds ({len(folds)}) differ in length")
    out = np.zeros(len(y))
    for f in np.unique(folds):
        held = folds == f
        rows = np.flatnonzero(~held)
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
        if len(rows) > ALPHA_ROWS:
            some = np.sort(np.random.default_rng(0).choice(rows, ALPHA_ROWS, replace=False))
            alpha = model.fit(x[some], y[some])[-1].alpha_
            model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
        out[held] = model.fit(x[rows], y[rows]).predict(x[held])
        if advance:
            advance(1)
    return out


def out_of_fold(features: np.ndarray, heads: Mapping[str, np.ndarray], ages: np.ndarray, folds: np.ndarray, *,
                c: float = 1e-3, max_iter: int = 500, age_features: np.ndarray | None = None,
                progress: bool = False) -> dict[str, np.ndarray]:
    """{probs [N, 18], mask [N, 3], gender [N, 2], age [N, 3], age_years [N]; age_views [N, 2]
    with `age_features`} for every row of `features` [N, D], each predicted by models fitted on
    the other person `folds` only.
    `heads` holds the given class codes per head (`pipeline.labels.head_labels`; a subset of the
    heads gives only those, and probs only with all three), `ages` the given ages in years; `c` is the inverse L2 penalty of the logistic regressions (small: thousands of
    features, a few hundred persons). A class missing from the training folds gets probability 0.
    `age_features` [N, D'] (`pipeline.features.embed.age_band`), when given with columns, get an age
    regression of their own, and age in years is the mean of the two (the mask hides part of the
    whole crop's age cues); `age_views` keeps the two, whose disagreement about a person
    widens that person's uncertainty (`pipeline.curation.age.pool`). A progress bar (ETA) per
    fold fit when `progress`."""
    from pipeline.progress import track

    x = np.asarray(features, np.float32)
    folds = np.asarray(folds)
    if any(len(v) != len(x) for v in (*heads.values(), ages, folds)):
        raise ValueError(f"features ({len(x)}), labels and folds differ in length")
    band = None if age_features is None else np.asarray(age_features, np.float32)
    if band is not None and len(band) != len(x):
        raise ValueError(f"features ({len(x)}) and age_features ({len(band)}) differ in length")
    views = 2 if band is not None and band.shape[1] else 1
    unknown = set(heads) - set(L.HEADS)
    if unknown:
        raise ValueError(f"unknown heads {sorted(unknown)}: expected some of {list(L.HEADS)}")
    out = {h: np.zeros((len(x), len(L.HEADS[h]))) for h in heads}
    with track("oof probe: fold fits", len(np.unique(folds)) * (1 + views), enabled=progress) as advance:
        for f in np.unique(folds):
            held = folds == f
            scaler = StandardScaler().fit(x[~held])
            train, test = scaler.transform(x[~held]), scaler.transform(x[held])
            for h in heads:
                model = LogisticRegression(C=c, max_iter=max_iter).fit(train, heads[h][~held])
                out[h][np.ix_(held, model.classes_)] = model.predict_proba(test)
            advance(1)
        out["age_years"] = age_years(x, ages, folds, advance=advance)
        if views == 2:  # two views' errors are partly independent: their mean
            out["age_views"] = np.c_[out["age_years"], age_years(band, ages, folds, advance=advance)]
            out["age_years"] = out["age_views"].mean(1)
    if set(heads) == set(L.HEADS):
        out["probs"] = L.joint_probs(out["mask"], out["gender"], out["age"])
    return out


def ensemble(*parts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The mean of several out-of-fold outputs, key by key (probabilities and age in years);
    keys the parts do not all have, and `fold` / `image_id`, are taken from the first part."""
    first = parts[0]
    shared = set(first).intersection(*parts[1:]) - {"fold", "image_id"}
    return {**first, **{k: np.mean([np.asarray(p[k], float) for p in parts], axis=0) for k in shared}}
