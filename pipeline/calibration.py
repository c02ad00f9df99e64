"""From the evidence against a label to the probability that the label is wrong.

For a person's gender the evidence is e = mean over its images of log p(other) - log p(given)
(out-of-fold); for an incorrect_mask / normal pair it is the log-likelihood ratio of "swapped"
against "as given". Either way, changing the label mirrors the evidence: a wrong label's e is
distributed like a right label's -e. So the evidence of all items is a two-component mixture

    right labels: e ~ N(-mu, sd^2)   (share 1 - pi)
    wrong labels: e ~ N(+mu, sd^2)   (share pi)

fitted by EM (closed-form steps below), and the posterior P(wrong | e) =
sigmoid(log(pi / (1 - pi)) + 2 mu e / sd^2) is the issue score: a probability with the same meaning
as the age score of `pipeline.age`, so one threshold serves every field. The fitted share pi is
the estimated noise rate of the field. Written by hand: the mirror constraint (one mean, one
spread) is what keeps the fit stable with a few dozen wrong labels among thousands, and no
library mixture has it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


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
