"""Age in years: one estimate per person from its images, its uncertainty, and the probability
that the given age is wrong.

An age bin is the wrong unit for finding wrong ages: a clean 29-year-old whom the model puts at 31
crosses the 30 edge just as a 22-year-old given as 36 does, and a bin classifier's probabilities
cannot tell the two apart. In years they differ by 2 against 14, and the model's error in years
can be measured on the whole set. So:

1. `pool`: a person's image estimates -> median (robust to one odd photo) and the standard error
   of that median from the images' spread (1.4826 * MAD / sqrt(n)), widened where the models
   whose mean the estimates are (the views: whole crop, top half) disagree about the person.
2. `debias`: out-of-fold regressors shrink toward the mean age (old people are estimated too
   young, young too old); a robust straight line from estimate to given age (Huber, fitted on all
   persons: the few wrong ages barely move it) undoes the shrinkage.
3. `wrong_bin_probability`: what matters is the bin, so the model of a wrong label knows the bin
   edges. Clean: the estimate lies near the given age (the model's spread, plus the person's own
   standard error), with the heavy tails of a perceiver that misreads some faces by a decade (a
   Student t whose degrees of freedom the residuals set, `fit_df`). Wrong: the true age is
   somewhere in another bin, as often as the set's ages are there. Bayes' rule with a prior share
   of wrong bins gives P(wrong bin | estimate), the score: a probability, so one threshold serves
   every field. It replaced a two-normal mixture on the residual alone, which ignored the edges
   and ranked the wrong ages worse; a share of wrong labels fitted by maximum likelihood was
   unstable, hence the fixed prior (docs/decisions.md).

The image estimates come from the oof stage: the networks' age output, the ridge regression of
`pipeline.curation.probe.age_years` on frozen features, or (`oof.method: ensemble`) their mean, whose
errors are little correlated, so the mean has thinner tails (benchmarks/noise.py compares them).

`cleanlab.regression.rank.get_label_quality_scores` (`residual`, `outre`) ranks by the raw residual
(or its outlyingness): it cannot use a per-person uncertainty and gives no probability, so it is
kept as the comparison in `benchmarks/noise.py` and the tests, not as the score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.linear_model import HuberRegressor

from pipeline.curation.mixture import MAD_TO_SD
from pipeline.labels import DEFAULT_AGE_EDGES, age_bin



def pool(years: np.ndarray, persons: Sequence[str], views: np.ndarray | None = None) -> pd.DataFrame:
    """Per person (sorted ids): `estimate` = median of the image estimates, `se` = its standard
    error, `images` = n. The standard error is the larger of the person's own (1.4826 MAD / sqrt(n)
    of their images) and the set's (the same over all persons' deviations from their medians): a
    person with one or two usable images has no spread of their own to speak of, and se 0 made such
    an estimate as sure as a seven-photo median (a person with six detector fallbacks of seven left
    out would be flagged on the strength of one photo).

    `views` [N, V] are the same images' estimates from the V models that `years` combines (e.g. the
    whole crop's regression and the top half's). Where they disagree about a person, neither is to
    be trusted: the spread of the person's per-view medians (`view_sd`, standard deviation over
    the views) adds to `se`. Clean persons whom the models misread (a rare look, a failed crop) are
    where the views part most."""
    frame = pd.DataFrame({"person": np.asarray(persons).astype(str), "years": np.asarray(years, float)})
    grouped = frame.groupby("person", sort=True)["years"]
    median = grouped.median()
    dev = (frame["years"] - frame["person"].map(median)).abs()
    mad = frame.assign(dev=dev).groupby("person")["dev"].median()
    n = grouped.size()
    pooled = MAD_TO_SD * float(dev.median()) if len(dev) else 0.0
    se = np.maximum(MAD_TO_SD * mad, pooled) / np.sqrt(n)
    spread = pd.Series(0.0, index=median.index)
    if views is not None:
        v = np.asarray(views, float).reshape(len(frame), -1)
        spread = pd.DataFrame(v).groupby(frame["person"].to_numpy(), sort=True).median().std(axis=1, ddof=0)
    return pd.DataFrame({"estimate": median, "se": np.hypot(se, spread), "images": n, "view_sd": spread})


def debias(estimate: np.ndarray, given: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the robust line given ~ estimate: apply as intercept + slope * estimate."""
    huber = HuberRegressor(epsilon=1.35).fit(np.asarray(estimate, float)[:, None], np.asarray(given, float))
    return float(huber.intercept_), float(huber.coef_[0])


def fit_df(residual: np.ndarray) -> float:
    """The Student t's degrees of freedom fitted to the residuals by maximum likelihood (scipy,
    centred at 0), within 1-100 (100: as good as a normal); a normal's (inf) for fewer than 10."""
    r = np.asarray(residual, float)
    if len(r) < 10 or not np.ptp(r):
        return np.inf
    return float(np.clip(student_t.fit(r, floc=0)[0], 1.0, 100.0))


def wrong_bin_probability(given: np.ndarray, estimate: np.ndarray, se: np.ndarray, *,
                          edges: Sequence[int], prior_wrong: float = 0.2, smooth: float = 2.0,
                          df: float = np.inf) -> np.ndarray:
    """P(the given age is in the wrong bin | the estimate), per person, by Bayes' rule:

    - clean: estimate = given + the perceiver's error, which is N(0, s^2 + se^2) (s = the
      residuals' robust spread, 1.4826 * MAD) or, with finite `df`, a Student t of the same median
      absolute size: a perceiver misreads some faces by 10-15 years, far more often than a
      normal allows, and under a normal such a clean person scored near 1;
    - wrong: the true age is drawn from the set's own age distribution (the given ages, smoothed
      by a normal of `smooth` years) restricted to the other bins, estimate = true + the same error;
    - prior: a share `prior_wrong` of persons has a wrong bin.

    The bin edges are part of the model: a 29-year-old estimated at 33 is one noise-sized step from
    the given age and close to another bin; a 45-year-old estimated at 52 has no other bin near."""
    g, e, se = (np.asarray(v, float) for v in (given, estimate, se))
    if not 0 < prior_wrong < 1:
        raise ValueError(f"prior_wrong must be between 0 and 1, got {prior_wrong}")
    s = max(MAD_TO_SD * float(np.median(np.abs(g - e))), 0.5) if len(g) else 1.0
    grid = np.arange(0, 101)
    counts = np.bincount(np.clip(np.rint(g), 0, 100).astype(int), minlength=len(grid)).astype(float)
    prior = np.convolve(counts, norm.pdf(np.arange(-10, 11), scale=smooth), mode="same") + 1e-6
    other = age_bin(grid, edges)[None, :] != age_bin(np.clip(np.rint(g), 0, 100).astype(int), edges)[:, None]
    other = other * prior[None, :]
    other /= other.sum(1, keepdims=True)
    sd = np.sqrt(s ** 2 + se ** 2)
    if np.isinf(df):
        error = norm
    else:  # the perceiver's error ~ t(df) with the same median absolute size as N(0, sd^2)
        error, sd = student_t(df), sd * norm.ppf(0.75) / student_t.ppf(0.75, df)
    clean = error.pdf((e - g) / sd) / sd
    wrong = (other * error.pdf((e[:, None] - grid[None, :]) / sd[:, None])).sum(1) / sd
    odds = prior_wrong * wrong
    return odds / np.maximum(odds + (1 - prior_wrong) * clean, 1e-300)


def person_ages(years: np.ndarray, given: np.ndarray, persons: Sequence[str], *,
                edges: Sequence[int] = DEFAULT_AGE_EDGES, prior_wrong: float = 0.2,
                views: np.ndarray | None = None, df: float | Literal["fit"] = "fit") -> pd.DataFrame:
    """Everything above in one call. `years` are the images' out-of-fold age estimates, `given`
    the images' given ages, `views` the estimates `years` averages (`pool`), `df` the perceiver
    error's tail weight (`wrong_bin_probability`; "fit": scipy's maximum-likelihood Student t of
    the residuals, centred, so the set's own share of large misreadings sets it; np.inf: a
    normal). Per person: given, raw estimate, de-biased estimate, se, residual, p_wrong
    (`wrong_bin_probability` under `edges`)."""
    table = pool(years, persons, views)
    table.insert(0, "given", pd.Series(np.asarray(given, float)).groupby(np.asarray(persons).astype(str),
                                                                            sort=True).median().to_numpy())
    a, b = debias(table["estimate"].to_numpy(), table["given"].to_numpy())
    table["raw_estimate"] = table["estimate"]
    table["estimate"] = a + b * table["raw_estimate"]
    table["se"] = abs(b) * table["se"]
    table["view_sd"] = abs(b) * table["view_sd"]
    table["residual"] = table["given"] - table["estimate"]
    if df == "fit":
        df = fit_df(table["residual"].to_numpy())
    table["p_wrong"] = wrong_bin_probability(table["given"].to_numpy(), table["estimate"].to_numpy(),
                                             table["se"].to_numpy(), edges=edges, prior_wrong=prior_wrong,
                                             df=df)
    return table
