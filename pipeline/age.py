"""Age in years: one estimate per person from its images, its uncertainty, and the probability
that the given age is wrong.

An age bin is the wrong unit for finding wrong ages: a clean 29-year-old whom the model puts at 31
crosses the 30 edge just as a 22-year-old given as 36 does, and a bin classifier's probabilities
cannot tell the two apart. In years they differ by 2 against 14, and the model's error in years
can be measured on the whole set. So:

1. `pool`: a person's image estimates -> median (robust to one odd photo) and the standard error
   of that median from the images' spread (1.4826 * MAD / sqrt(n)).
2. `debias`: out-of-fold regressors shrink toward the mean age (old people are estimated too
   young, young too old); a robust straight line from estimate to given age (Huber, fitted on all
   persons: the few wrong ages barely move it) undoes the shrinkage.
3. `wrong_probability`: residual r = given - estimate. Clean labels: r ~ N(0, s^2 + se_i^2);
   wrong labels: r ~ N(0, t^2 + se_i^2) with t >> s; share of wrong labels `pi`. The three numbers
   (pi, s, t) are fitted by maximum likelihood on all persons, and the posterior
   P(wrong | r) is the score: a calibrated probability, so one threshold serves every field.

A second, independent estimate comes cheap: `probe` fits a ridge regression from frozen ImageNet
features of each image to the given age, person fold by person fold (out of fold, like the
network's); `pipeline.probe` uses it, and with `oof.method: ensemble` it is averaged with the
network's age output. Its errors are little correlated with the network's, so the mean has
thinner tails (measured in benchmarks/noise.py).

`cleanlab.regression.rank.get_label_quality_scores` (`residual`, `outre`) ranks by the raw residual
(or its outlyingness): it cannot use a per-person uncertainty and gives no probability, so it is
kept as the comparison in `benchmarks/noise.py` and the tests, not as the score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm
from sklearn.linear_model import HuberRegressor, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MAD_TO_SD = 1.4826


def pool(years: np.ndarray, persons: Sequence[str]) -> pd.DataFrame:
    """Per person (sorted ids): `estimate` = median of the image estimates, `se` = its standard
    error from their spread, `images` = n. A person with one image gets se 0 (the model's error,
    fitted later, still covers it)."""
    frame = pd.DataFrame({"person": np.asarray(persons).astype(str), "years": np.asarray(years, float)})
    grouped = frame.groupby("person", sort=True)["years"]
    median = grouped.median()
    mad = frame.assign(dev=(frame["years"] - frame["person"].map(median)).abs()).groupby("person")["dev"].median()
    n = grouped.size()
    return pd.DataFrame({"estimate": median, "se": MAD_TO_SD * mad / np.sqrt(n), "images": n})


def probe(features: np.ndarray, given: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold age in years per image from fixed `features` [N, D]: for each fold, a ridge
    regression (standardised features, penalty chosen by RidgeCV's leave-one-out) fitted on the
    other folds' images and their given ages. `folds` are person folds (the OOF models'), so no
    person's own label reaches its estimate."""
    x, y, folds = np.asarray(features, float), np.asarray(given, float), np.asarray(folds)
    if len(x) != len(y) or len(y) != len(folds):
        raise ValueError(f"features ({len(x)}), ages ({len(y)}) and folds ({len(folds)}) differ in length")
    out = np.zeros(len(y))
    for f in np.unique(folds):
        held = folds == f
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(0, 5, 11)))
        out[held] = model.fit(x[~held], y[~held]).predict(x[held])
    return out


def debias(estimate: np.ndarray, given: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the robust line given ~ estimate: apply as intercept + slope * estimate."""
    huber = HuberRegressor(epsilon=1.35).fit(np.asarray(estimate, float)[:, None], np.asarray(given, float))
    return float(huber.intercept_), float(huber.coef_[0])


@dataclass(frozen=True)
class Mixture:
    """Residual model: share `pi` of wrong labels, clean spread `s` and wrong spread `t` (years)."""
    pi: float
    s: float
    t: float


def fit_mixture(residual: np.ndarray, se: np.ndarray, *, max_pi: float = 0.2) -> Mixture:
    """Maximum-likelihood (pi, s, t) of the two zero-mean normal components, with the person's
    own standard error added to both variances; t > s by construction. The share of wrong labels
    is capped at `max_pi`: with a few wrong ages among hundreds, an uncapped fit can explain the
    model's own heavy tails as a wide "wrong" half of the data (measured: seed 1 went to pi 0.5
    and 31 flags for 9 wrong ages; capped at 0.2, 10 flags, precision 0.23 -> 0.60)."""
    r, se2 = np.asarray(residual, float), np.asarray(se, float) ** 2
    s0 = max(MAD_TO_SD * float(np.median(np.abs(r))), 0.5)

    def unpack(theta: np.ndarray) -> Mixture:
        pi = max_pi / (1 + np.exp(-theta[0]))
        s = np.exp(theta[1])
        return Mixture(pi, s, s + np.exp(theta[2]))

    def nll(theta: np.ndarray) -> float:
        m = unpack(theta)
        clean = norm.logpdf(r, scale=np.sqrt(m.s ** 2 + se2)) + np.log1p(-m.pi)
        wrong = norm.logpdf(r, scale=np.sqrt(m.t ** 2 + se2)) + np.log(m.pi)
        return -float(np.logaddexp(clean, wrong).sum())

    start = np.array([np.log(0.05 / (max_pi - 0.05)), np.log(s0), np.log(2 * s0)])
    return unpack(minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6}).x)


def wrong_probability(residual: np.ndarray, se: np.ndarray, mixture: Mixture) -> np.ndarray:
    """Posterior probability that each label belongs to the wrong component."""
    r, se2 = np.asarray(residual, float), np.asarray(se, float) ** 2
    clean = norm.logpdf(r, scale=np.sqrt(mixture.s ** 2 + se2)) + np.log1p(-mixture.pi)
    wrong = norm.logpdf(r, scale=np.sqrt(mixture.t ** 2 + se2)) + np.log(mixture.pi)
    return np.exp(wrong - np.logaddexp(clean, wrong))


def person_ages(years: np.ndarray, given: np.ndarray, persons: Sequence[str]) -> tuple[pd.DataFrame, Mixture]:
    """Everything above in one call. `years` are the images' out-of-fold age estimates, `given`
    the images' given ages. Per person: given, raw estimate, de-biased estimate, se, residual,
    p_wrong; plus the fitted mixture."""
    table = pool(years, persons)
    table.insert(0, "given", pd.Series(np.asarray(given, float)).groupby(np.asarray(persons).astype(str),
                                                                            sort=True).median().to_numpy())
    a, b = debias(table["estimate"].to_numpy(), table["given"].to_numpy())
    table["raw_estimate"] = table["estimate"]
    table["estimate"] = a + b * table["raw_estimate"]
    table["se"] = abs(b) * table["se"]
    table["residual"] = table["given"] - table["estimate"]
    mixture = fit_mixture(table["residual"].to_numpy(), table["se"].to_numpy())
    table["p_wrong"] = wrong_probability(table["residual"].to_numpy(), table["se"].to_numpy(), mixture)
    return table, mixture
