"""What the review says about the flags: per field, the precision of what was decided and what the
undecided items are worth; from the audit, how many label errors the flags missed; and P(real)
per undecided item, refitted on the decisions, to re-rank the queue.

- Decided items are exact: precision = accepted / decided, with `decided` counting items (the two
  rows of a swap pair are one).
- The undecided items of a field: the scores recalibrated on that field's decisions by Platt
  scaling, logit P(real) = a + b * logit(score), as a Bayesian logistic regression (prior a ~ N(0,
  1.5^2), b ~ N(1, 0.75^2): before any decision the score is taken at its word, loosely), fitted by
  its maximum a posteriori (scipy.optimize) with the Laplace approximation of the posterior.
  Parameters drawn from it and then Bernoulli outcomes give the posterior predictive number of real
  issues among the undecided (`expected_errors_undecided`, its 90 % interval) and of the precision
  of all the field's flags (`precision_interval`: the decided exact, the undecided drawn).
- The audit: errors_found of `persons` audited, among `population` persons no label flag names.
  The rate of persons with a wrong label has a Jeffreys Beta(k + 1/2, n - k + 1/2) posterior
  (scipy.stats.beta); the errors among the persons not audited are then beta-binomial
  (scipy.stats.betabinom): expected_missed_errors = found + that, with its 90 % interval. The
  estimated recall of the label flags is real flagged errors / (those + missed), by simulation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field as dataclass_field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from pipeline.curation.corrections import KEY
from pipeline.labels import AUDIT, FIELDS, PERSON
from pipeline.review.queue import ALL_FIELDS

CONFIDENCE = 0.9
EPS = 1e-12  # scores are clipped to [EPS, 1 - EPS] before the logit: 1 - 1e-11 and 1 - 1e-5 stay apart
PRIOR_MEAN = np.array([0.0, 1.0])
PRIOR_SD = np.array([1.5, 0.75])
DRAWS = 4000
METHOD = ("decided: exact; undecided: Bayesian Platt scaling per field (Laplace posterior, scipy.optimize) "
          "and posterior predictive draws; audit: Jeffreys Beta posterior, beta-binomial missed count "
          "(scipy.stats); 90 % intervals")


@dataclass(frozen=True)
class Calibration:
    """The posterior of (a, b) in logit P(real) = a + b * logit(score): mean and covariance."""
    mean: np.ndarray
    cov: np.ndarray
    decisions: int

    def draws(self, normal: np.ndarray) -> np.ndarray:
        """Posterior draws of (a, b) from standard normal draws [n, 2] (the same for every field, so
        two fields with the same posterior give the same P(real) to the same score). The slope is
        kept at 0 or above: a higher score never means a lower P(real), so inside a field the
        recalibrated order is the score's and re-ranking moves fields against each other."""
        theta = self.mean + normal @ np.linalg.cholesky(self.cov).T
        theta[:, 1] = np.maximum(theta[:, 1], 0.0)
        return theta


def _z(scores: np.ndarray) -> np.ndarray:
    return special.logit(np.clip(np.asarray(scores, float), EPS, 1 - EPS))


def calibrate(scores: np.ndarray, real: np.ndarray) -> Calibration:
    """Fit the Bayesian Platt map on decided items (`real` 1/0); no decision gives the prior."""
    z, y = _z(scores), np.asarray(real, float)
    x = np.column_stack([np.ones_like(z), z])
    precision = 1 / PRIOR_SD ** 2

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ theta
        value = np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * np.sum(precision * (theta - PRIOR_MEAN) ** 2)
        grad = x.T @ (special.expit(eta) - y) + precision * (theta - PRIOR_MEAN)
        return float(value), grad

    theta = optimize.minimize(loss, PRIOR_MEAN, jac=True, method="BFGS").x if len(y) else PRIOR_MEAN.copy()
    p = special.expit(x @ theta)
    hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(precision)
    return Calibration(mean=theta, cov=np.linalg.inv(hessian), decisions=len(y))


def outcomes(table: pd.DataFrame, corrections: pd.DataFrame) -> pd.Series:
    """Per item (queue.items rows, same index): 1.0 a real issue, 0.0 not, NaN undecided.

    An item is decided when the corrections file has a row of its key. It is real when an accepted
    row sets its field on its person (person level) or photo: an accepted suggestion, an edit, or a
    --fix with other labels (a swap item fixed photo by photo); an audit item when its audit row
    is an accept (a wrong label was found)."""
    keys = set(map(tuple, corrections[KEY].astype(str).to_numpy()))
    acc = corrections[corrections["decision"] == "accept"]
    person_level = set(zip(acc.loc[acc["image_id"] == PERSON, "person_id"], acc.loc[acc["image_id"] == PERSON, "field"]))
    any_level = set(zip(acc["person_id"], acc["field"]))
    image_level = set(zip(acc["person_id"], acc["image_id"], acc["field"]))
    out = []
    for key, pid, img, f in zip(table["key"], table["person_id"], table["image_id"], table["field"]):
        if tuple(key) not in keys:
            out.append(np.nan)
        elif f == AUDIT:
            out.append(float((pid, f) in any_level))
        else:
            real = (pid, f) in person_level or (pid, img, f) in image_level or (img == PERSON and (pid, f) in any_level)
            out.append(float(real))
    return pd.Series(out, index=table.index, dtype=float)


def _interval(draws: np.ndarray) -> list[float]:
    tail = (1 - CONFIDENCE) / 2
    return [float(np.quantile(draws, tail, method="lower")), float(np.quantile(draws, 1 - tail, method="higher"))]


@dataclass
class Summary:
    """`stats` (the JSON of `--stats`), P(real) per undecided item for the queue, the decisions each
    field's estimate rests on."""
    stats: dict[str, Any]
    probability: pd.Series
    decisions: dict[str, int] = dataclass_field(default_factory=dict)


def summarize(table: pd.DataFrame, corrections: pd.DataFrame, *, population: int | None = None,
              seed: int = 0, fields: Sequence[str] | None = None) -> Summary:
    """The review statistics of queue.items `table` under the decisions in `corrections`.
    `population`: persons no label flag names (the audit's frame); None leaves the audit out.
    `fields`: only these fields' statistics (all by default)."""
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal((DRAWS, 2))
    outcome = outcomes(table, corrections)
    probability = pd.Series(dtype=float)
    label: dict[str, Any] = {}
    real_flagged = np.zeros(DRAWS)
    decisions: dict[str, int] = {}
    for f in [f for f in ALL_FIELDS if f != AUDIT and (fields is None or f in fields)]:
        mine = (table["field"] == f).to_numpy()
        scores, y = table.loc[mine, "score"].to_numpy(float), outcome[mine].to_numpy()
        done = ~np.isnan(y)
        cal = calibrate(scores[done], y[done])
        theta = cal.draws(normal)
        p = special.expit(theta[:, :1] + theta[:, 1:] * _z(scores[~done])[None, :])
        errors = (rng.random(p.shape) < p).sum(1)
        accepted, decided, total = int(y[done].sum()), int(done.sum()), int(mine.sum())
        probability = pd.concat([probability, pd.Series(p.mean(0), index=table.loc[mine, "item_id"][~done].to_numpy())])
        decisions[f] = decided
        label[f] = {
            "items": total, "decided": decided, "accepted": accepted,
            "precision": accepted / decided if decided else None,
            "precision_interval": [(accepted + v) / total for v in _interval(errors)] if total else None,
            "undecided": total - decided,
            "expected_errors_undecided": float(p.mean(0).sum()),
            "expected_errors_undecided_interval": _interval(errors),
        }
        if f in FIELDS:
            real_flagged = real_flagged + accepted + errors
    out: dict[str, Any] = {"label": label, "audit": _audit(table, outcome, population, real_flagged, rng),
                           "items": int(len(table)), "confidence": CONFIDENCE, "method": METHOD}
    return Summary(stats=out, probability=probability, decisions=decisions)


def _audit(table: pd.DataFrame, outcome: pd.Series, population: int | None, real_flagged: np.ndarray,
           rng: np.random.Generator) -> dict[str, Any]:
    audits = (table["field"] == AUDIT).to_numpy()
    y = outcome[audits].to_numpy()
    n, k = int((~np.isnan(y)).sum()), int(np.nansum(y))
    out: dict[str, Any] = {"population": population, "persons": n, "errors_found": k, "listed": int(audits.sum()),
                           "expected_missed_errors": None, "expected_missed_errors_interval": None,
                           "recall": None, "recall_interval": None}
    if population is None or n == 0:
        return out
    rest = max(population - n, 0)
    missed = stats.betabinom(rest, k + 0.5, n - k + 0.5)
    out["expected_missed_errors"] = float(k + missed.mean())
    out["expected_missed_errors_interval"] = [float(k + missed.ppf((1 - CONFIDENCE) / 2)),
                                              float(k + missed.ppf(1 - (1 - CONFIDENCE) / 2))]
    missed_draws = k + missed.rvs(size=len(real_flagged), random_state=rng)
    total = real_flagged + missed_draws
    recall = np.divide(real_flagged, total, out=np.ones_like(real_flagged, dtype=float), where=total > 0)
    expected_real = float(real_flagged.mean())
    out["recall"] = expected_real / (expected_real + out["expected_missed_errors"]) \
        if expected_real + out["expected_missed_errors"] else None
    tail = (1 - CONFIDENCE) / 2
    out["recall_interval"] = [float(np.quantile(recall, tail)), float(np.quantile(recall, 1 - tail))]
    return out
