"""Two-component mixtures that turn evidence into the probability that an issue is real, and the
robust z-score they are fitted on. Both EMs are written by hand: their constraints (a mirror with
one mean and one spread; a clean bulk pinned at 0 with the issue component held apart from it) are
what keep the fits stable with a few dozen issues among thousands, and no library mixture
(sklearn's GaussianMixture included) offers them.

`Mirror`, for wrong labels: from the evidence against a label to the probability that it is wrong.

For a person's gender the evidence is e = mean over its images of log p(other) - log p(given)
(out-of-fold); for an incorrect_mask / normal pair it is the log-likelihood ratio of "swapped"
against "as given". Either way, changing the label mirrors the evidence: a wrong label's e is
distributed like a right label's -e. So the evidence of all items is a two-component mixture

    right labels: e ~ N(-mu, sd^2)   (share 1 - pi)
    wrong labels: e ~ N(+mu, sd^2)   (share pi)

fitted by EM (closed-form steps below), and the posterior P(wrong | e) =
sigmoid(log(pi / (1 - pi)) + 2 mu e / sd^2) is the issue score: a probability with the same meaning
as the age score of `pipeline.curation.age`, so one threshold serves every field. The fitted share pi is
the estimated noise rate of the field. Written by hand: the mirror constraint (one mean, one
spread) is what keeps the fit stable with a few dozen wrong labels among thousands, and no
library mixture has it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import norm
from scipy.stats import t as student_t


@dataclass(frozen=True)
class Mirror:
    """Fitted mirror mixture: share `pi` of wrong labels, evidence mean +-`mu`, spread `sd`."""
    pi: float
    mu: float
    sd: float

    def posterior(self, evidence: np.ndarray) -> np.ndarray:
        """P(wrong | evidence)."""
        e = np.asarray(evidence, float)
        return expit(np.log(self.pi / (1 - self.pi)) + 2 * self.mu * e / self.sd ** 2)


def fit_mirror(evidence: np.ndarray, *, iterations: int = 200, tol: float = 1e-9,
               max_pi: float = 0.5, min_pi: float = 1e-4) -> Mirror:
    """EM for the mirror mixture. Starts from "everything is right" (pi small, mu = -mean e)."""
    e = np.asarray(evidence, float)
    if len(e) == 0:
        return Mirror(min_pi, 1.0, 1.0)
    mu = max(abs(float(np.median(e))), 0.1)
    sd = max(float(e.std()), 0.1)
    pi = 0.05
    for _ in range(iterations):
        r = Mirror(pi, mu, sd).posterior(e)                       # E: responsibility of "wrong"
        new_pi = float(np.clip(r.mean(), min_pi, max_pi))         # M: closed form
        new_mu = max(float(np.mean((2 * r - 1) * e)), 1e-3)
        new_sd = max(float(np.sqrt(np.mean(r * (e - new_mu) ** 2 + (1 - r) * (e + new_mu) ** 2))), 1e-3)
        done = abs(new_pi - pi) + abs(new_mu - mu) + abs(new_sd - sd) < tol
        pi, mu, sd = new_pi, new_mu, new_sd
        if done:
            break
    return Mirror(pi, mu, sd)


MAD_TO_SD = 1.4826  # a normal's standard deviation per median absolute deviation

def robust_z(x: np.ndarray, groups: np.ndarray | None = None, *, floor: float = 1e-9,
             reference: np.ndarray | None = None) -> np.ndarray:
    """(x - median) / max(1.4826 MAD, floor), within each group when `groups` is given; the median
    and MAD are those of the `reference` rows (a boolean mask; default all) of the group."""
    x = np.asarray(x, float)
    z = np.zeros(len(x))
    groups = np.zeros(len(x), int) if groups is None else np.asarray(groups)
    reference = np.ones(len(x), bool) if reference is None else np.asarray(reference, bool)
    for g in np.unique(groups):
        k = groups == g
        ref = x[k & reference]
        if len(ref) == 0:
            continue
        med = np.median(ref)
        mad = MAD_TO_SD * np.median(np.abs(ref - med))
        z[k] = (x[k] - med) / max(mad, floor)
    return z


@dataclass(frozen=True)
class TailMixture:
    """Clean evidence ~ t(df, 0, scale) (a robust z: scale near 1; df = inf: a normal), issues ~
    N(mu, sigma^2) with share `share`."""

    share: float
    mu: float
    sigma: float
    scale: float = 1.0
    df: float = np.inf

    def log_clean(self, z: np.ndarray) -> np.ndarray:
        """log density of the clean component (without its share)."""
        if np.isinf(self.df):
            return norm.logpdf(z, scale=self.scale)
        return student_t.logpdf(z, self.df, scale=self.scale)

    def posterior(self, z: np.ndarray, *, cut: float | None = None) -> np.ndarray:
        """P(issue | z); 0 at or below `cut` (default half the issue mean: only the upper tail is
        an issue, whatever the fitted components say of the clean bulk)."""
        z = np.asarray(z, float)
        log_clean = np.log1p(-self.share) + self.log_clean(z)
        log_issue = np.log(self.share) + norm.logpdf(z, loc=self.mu, scale=self.sigma)
        p = 1 / (1 + np.exp(np.clip(log_clean - log_issue, -50, 50)))
        p = np.where(z > (self.mu / 2 if cut is None else cut), p, 0.0)
        if not np.isinf(self.df):  # far out the t's tail is heavier than the issue normal's: keep P rising
            order = np.argsort(z, kind="stable")
            p[order] = np.maximum.accumulate(p[order])
        return p


def fit_tail(z: np.ndarray, *, iterations: int = 200, separation: float = 4.0,
             df: float = np.inf) -> TailMixture:
    """EM for a robust z-score: clean t(df, 0, scale) and an issue component whose mean stays at
    least `separation` clean spreads above 0, so the clean tail is never taken for issues. The
    clean scale's M-step is the t's (known df): each clean item weighted by (df + 1) / (df + (z /
    scale)^2), so the few far clean items do not widen the bulk."""
    z = np.asarray(z, float)
    if len(z) == 0:
        return TailMixture(1e-6, separation, 1.0, df=df)
    share, scale = 0.02, 1.0
    mu, sigma = max(separation, float(np.quantile(z, 0.995))), 3.0
    for _ in range(iterations):
        p = TailMixture(share, mu, sigma, scale, df).posterior(z)
        w = p.sum()
        if w < 1e-6:
            return TailMixture(1e-6, mu, sigma, scale, df)
        share = float(np.clip(w / len(z), 1e-6, 0.5))
        u = 1.0 if np.isinf(df) else (df + 1) / (df + (z / scale) ** 2)
        scale = float(np.clip(np.sqrt(((1 - p) * u * z**2).sum() / max((1 - p).sum(), 1e-9)), 0.5, 3.0))
        mu = max(separation * scale, float((p * z).sum() / w))
        sigma = float(np.clip(np.sqrt((p * (z - mu) ** 2).sum() / w), scale, 50.0))
    return TailMixture(share, mu, sigma, scale, df)


def tail_probability(z: np.ndarray, *, separation: float = 4.0, df: float = np.inf) -> np.ndarray:
    return fit_tail(z, separation=separation, df=df).posterior(z)
