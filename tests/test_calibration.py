import numpy as np
import pytest

from pipeline.curation.mixture import Mirror, fit_mirror


def test_fit_mirror_recovers_the_noise_share_and_separation():
    rng = np.random.default_rng(0)
    right, wrong = rng.normal(-3.3, 1.4, 1900), rng.normal(3.3, 1.4, 100)
    m = fit_mirror(np.concatenate([right, wrong]))
    assert m.pi == pytest.approx(0.05, abs=0.01)
    assert m.mu == pytest.approx(3.3, abs=0.15) and m.sd == pytest.approx(1.4, abs=0.1)


def test_posterior_is_calibrated_on_its_own_model():
    rng = np.random.default_rng(1)
    truth = rng.random(20000) < 0.1
    e = np.where(truth, rng.normal(2, 1.5, truth.size), rng.normal(-2, 1.5, truth.size))
    p = fit_mirror(e).posterior(e)
    for lo, hi in [(0.1, 0.3), (0.3, 0.7), (0.7, 0.9)]:
        band = (p >= lo) & (p < hi)
        assert truth[band].mean() == pytest.approx(p[band].mean(), abs=0.06)


def test_posterior_is_monotone_and_a_probability():
    p = Mirror(pi=0.05, mu=3.0, sd=1.5).posterior(np.linspace(-10, 10, 101))
    assert (np.diff(p) > 0).all() and p[0] > 0 and p[-1] < 1
    assert Mirror(pi=0.05, mu=3.0, sd=1.5).posterior(np.array([0.0]))[0] == pytest.approx(0.05)


def test_no_wrong_labels_gives_small_probabilities():
    e = np.random.default_rng(2).normal(-3, 1.4, 500)
    assert fit_mirror(e).posterior(e).max() < 0.2
