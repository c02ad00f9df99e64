"""pipeline.curation.pu: the issue share from positive and unlabeled evidence, and P(issue) that
does not take a clean tail for issues."""

import numpy as np
import pytest

from pipeline.curation import pu
from pipeline.curation.metrics import expected_calibration_error
from pipeline.curation.mixture import tail_probability


@pytest.mark.parametrize("share", [0.01, 0.03, 0.1])
def test_best_bin_share_recovers_the_share_of_issues(share):
    rng = np.random.default_rng(0)
    n = 20000
    issue = rng.random(n) < share
    real = np.where(issue, rng.normal(4, 1, n), rng.normal(0, 1, n))
    made = rng.normal(4, 1, n)
    assert pu.best_bin_share(real, made) == pytest.approx(issue.mean(), abs=0.25 * share + 0.003)


def _straying_camera(seed: int, n: int = 6000, share: float = 0.02, stray: float = 0.04):
    """Two cues, normal for clean photos, but `stray` of them far out in one cue (another room,
    odd light: 3-8 sd); issues (`share`) are far in both."""
    rng = np.random.default_rng(seed)
    issue = rng.random(n) < share
    clean = rng.normal(0, 1, (n, 2))
    strays = np.flatnonzero(rng.random(n) < stray)
    clean[strays, rng.integers(0, 2, len(strays))] += rng.uniform(3, 8, len(strays))
    real = np.where(issue[:, None], rng.normal(6, 1.5, (n, 2)), clean)
    made = rng.normal(6, 1.5, (n, 2))
    return real, made, issue, np.arange(n) // 7


def test_pu_posterior_is_calibrated_where_a_tail_mixture_is_not():
    real, made, issue, groups = _straying_camera(0)
    p, share = pu.pu_posterior(real, made, real_groups=groups, made_groups=np.arange(len(made)) // 7)
    assert share == pytest.approx(issue.mean(), abs=0.01)
    flagged = p >= 0.5
    precision = issue[flagged].mean()
    assert precision >= 0.85 and issue[flagged].sum() >= 0.7 * issue.sum()
    assert expected_calibration_error(p[flagged], issue[flagged]) <= 0.1
    tail = tail_probability(real.sum(1) / np.sqrt(2))  # the summed z under a normal clean component
    assert issue[tail >= 0.5].mean() < precision - 0.2  # it takes the clean tail for issues


def test_pu_posterior_without_made_examples_or_groups_is_zero():
    real = np.zeros((10, 2))
    p, share = pu.pu_posterior(real, np.zeros((0, 2)), real_groups=np.zeros(10), made_groups=np.zeros(0))
    assert share == 0 and (p == 0).all()
    p, share = pu.pu_posterior(real, np.ones((5, 2)), real_groups=np.zeros(10), made_groups=np.zeros(5))
    assert share == 0 and (p == 0).all()  # one group: no fold to score out of
