import numpy as np
import pandas as pd
import pytest

from pipeline.age import Mixture, debias, fit_mixture, person_ages, pool, wrong_probability


def test_pool_is_a_robust_median_with_its_standard_error():
    years = np.array([30, 31, 29, 30, 80, 40, 40])  # person a: one wild photo; person b: two agreeing
    table = pool(years, ["a"] * 5 + ["b"] * 2)
    assert table.loc["a", "estimate"] == 30 and table.loc["b", "estimate"] == 40
    assert table.loc["a", "se"] == pytest.approx(1.4826 * 1 / np.sqrt(5))
    assert table.loc["b", "se"] == 0 and table["images"].tolist() == [5, 2]


def test_debias_undoes_shrinkage_toward_the_mean():
    given = np.linspace(18, 60, 50)
    shrunk = 39 + 0.6 * (given - 39)
    a, b = debias(shrunk, given)
    np.testing.assert_allclose(a + b * shrunk, given, atol=1e-3)


def test_wrong_probability_ranks_years_against_uncertainty():
    m = Mixture(pi=0.05, s=3.0, t=10.0)
    p = wrong_probability(np.array([2.0, 14.0, 6.0, 6.0]), np.array([0.5, 0.5, 0.5, 4.0]), m)
    assert p[0] < 0.05 < 0.95 < p[1]     # a clean 29 estimated at 31 vs a 22 given as 36
    assert p[3] < p[2]                    # the same 6 years mean less for an uncertain person


def test_fit_mixture_recovers_share_and_spreads():
    rng = np.random.default_rng(0)
    r = np.concatenate([rng.normal(0, 3, 950), rng.normal(0, 12, 50)])
    m = fit_mixture(r, np.zeros_like(r))
    assert m.pi == pytest.approx(0.05, abs=0.03) and m.s == pytest.approx(3, abs=0.4)
    assert m.t == pytest.approx(12, abs=3)


def test_person_ages_flags_the_shifted_person_with_a_calibrated_probability():
    rng = np.random.default_rng(1)
    n = 300
    true = rng.uniform(18, 60, n)
    given = true.copy()
    shifted = rng.choice(n, 10, replace=False)
    given[shifted] += rng.choice([-1, 1], 10) * rng.uniform(6, 15, 10)
    bias = rng.normal(0, 1.5, n)
    persons = np.repeat([f"{i:03d}" for i in range(n)], 7)
    years = 39 + 0.7 * (np.repeat(true + bias, 7) - 39) + rng.normal(0, 1.5, 7 * n)  # shrunk, noisy
    table, mixture = person_ages(years, np.repeat(given, 7), persons)
    wrong = np.zeros(n, bool)
    wrong[shifted] = True
    top = table["p_wrong"].to_numpy().argsort()[::-1][:10]
    assert wrong[top].mean() >= 0.8
    # calibrated: the mean probability over persons is close to the true share of wrong labels
    assert table["p_wrong"].mean() == pytest.approx(10 / n, abs=0.02)
    assert (table["estimate"] - pd.Series(true + bias, index=table.index)).abs().median() < 2.5


def test_probe_learns_age_from_features_out_of_fold():
    from pipeline.age import probe

    rng = np.random.default_rng(0)
    n = 400
    age = rng.uniform(18, 60, n)
    features = np.c_[age / 10 + rng.normal(0, 0.1, n), rng.normal(size=(n, 20))]  # one informative column
    folds = np.arange(n) % 4
    est = probe(features, age, folds)
    assert np.median(np.abs(est - age)) < 1.5
    # out of fold: a wrong label does not leak into its own estimate
    given = age.copy()
    given[0] += 30
    assert abs(probe(features, given, folds)[0] - age[0]) < 3
    with pytest.raises(ValueError, match="differ in length"):
        probe(features, age[:-1], folds)
