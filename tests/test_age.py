import numpy as np
import pandas as pd
import pytest

from pipeline.curation.age import debias, fit_df, person_ages, pool, wrong_bin_probability
from pipeline.labels import age_bin

EDGES = (30, 58)


def test_pool_is_a_robust_median_with_its_standard_error():
    years = np.array([30, 31, 29, 30, 80, 40, 40])  # person a: one wild photo; person b: two agreeing
    table = pool(years, ["a"] * 5 + ["b"] * 2)
    assert table.loc["a", "estimate"] == 30 and table.loc["b", "estimate"] == 40
    assert table.loc["a", "se"] == pytest.approx(1.4826 * 1 / np.sqrt(5))
    assert table.loc["b", "se"] == 0 and table["images"].tolist() == [5, 2]


def test_pool_gives_persons_with_few_images_the_sets_spread_at_least():
    """One usable photo has no spread of its own: its se is the set's (1.4826 x the median of all
    images' deviations from their person's median), not 0; a tight pair gets that spread / sqrt(2)."""
    years = np.array([30, 32, 28, 31, 29, 40, 40, 50])
    table = pool(years, ["a"] * 5 + ["b"] * 2 + ["c"])
    pooled = 1.4826 * 0.5  # deviations 0 2 2 1 1 | 0 0 | 0
    assert table.loc["a", "se"] == pytest.approx(1.4826 * 1 / np.sqrt(5))  # its own spread is larger
    assert table.loc["b", "se"] == pytest.approx(pooled / np.sqrt(2))
    assert table.loc["c", "se"] == pytest.approx(pooled)


def test_pool_widens_se_where_the_views_disagree():
    """`views`: per person, the standard deviation of the views' medians adds to se in quadrature;
    the estimate stays the median of `years`. Views that agree (or none) leave se as it was."""
    crop = np.array([30, 31, 29, 30, 40, 40, 41])
    band = np.array([30, 31, 29, 30, 46, 46, 47])  # person a: the views agree; b: 6 years apart
    views = np.c_[crop, band]
    table = pool(views.mean(1), ["a"] * 4 + ["b"] * 3, views)
    plain = pool(views.mean(1), ["a"] * 4 + ["b"] * 3)
    assert table["estimate"].tolist() == plain["estimate"].tolist() == [30, 43]
    assert table.loc["a", "se"] == plain.loc["a", "se"] and table.loc["a", "view_sd"] == 0
    assert table.loc["b", "view_sd"] == 3  # medians 40 and 46: sd 3
    assert table.loc["b", "se"] == pytest.approx(np.hypot(plain.loc["b", "se"], 3))


def test_person_ages_trusts_a_person_less_where_the_views_part():
    """The same residual with views 10 years apart scores lower than with views that agree."""
    rng = np.random.default_rng(2)
    given = np.r_[rng.uniform(18, 62, 200).round(), 22, 22]
    est = np.r_[given[:200] + rng.normal(0, 2, 200), 36, 36]   # both 22s look 36
    persons = np.repeat([f"{i:03d}" for i in range(202)], 7)
    years = np.repeat(est, 7) + rng.normal(0, 1, 7 * 202)
    gap = np.r_[np.zeros(201), 10.0]                            # the last one's views are 20 years apart
    views = np.c_[years - np.repeat(gap, 7), years + np.repeat(gap, 7)]
    table = person_ages(years, np.repeat(given, 7), persons, edges=EDGES, prior_wrong=0.05, views=views)
    agree, part = table["p_wrong"].to_numpy()[-2:]
    assert agree > 0.8 > 0.5 > part


def test_debias_undoes_shrinkage_toward_the_mean():
    given = np.linspace(18, 60, 50)
    shrunk = 39 + 0.6 * (given - 39)
    a, b = debias(shrunk, given)
    np.testing.assert_allclose(a + b * shrunk, given, atol=1e-3)


def test_wrong_bin_probability_knows_the_edges_and_the_uncertainty():
    rng = np.random.default_rng(0)
    given = np.r_[rng.uniform(18, 62, 300).round(), 29, 22, 45, 22]
    estimate = given + np.r_[rng.normal(0, 3, 300), 0, 0, 0, 0]
    estimate[-4:] = [32, 36, 52, 36]           # a clean 29 at 32; a 22 given for a 36; a 45 at 52; as 2nd, unsure
    se = np.r_[np.full(300, 0.5), 0.5, 0.5, 0.5, 4.0]
    p = wrong_bin_probability(given, estimate, se, edges=EDGES, prior_wrong=0.05)
    near_edge, far, same_bin, unsure = p[-4:]
    assert near_edge < 0.2 < 0.9 < far        # 3 years across an edge vs 14
    assert same_bin < 0.05                    # 7 years off, but no other bin is near 52
    assert unsure < far                       # the same 14 years mean less for an uncertain person
    assert wrong_bin_probability(given, estimate, se, edges=EDGES, prior_wrong=0.2)[-3] > far  # the prior
    with pytest.raises(ValueError, match="prior_wrong"):
        wrong_bin_probability(given, estimate, se, edges=EDGES, prior_wrong=0)


def test_person_ages_flags_the_shifted_person_with_a_calibrated_probability():
    rng = np.random.default_rng(1)
    n = 300
    true = rng.uniform(18, 60, n)
    given = true.copy()
    shifted = rng.choice(n, 10, replace=False)
    given[shifted] = np.where(true[shifted] < 30, true[shifted] + 15, true[shifted] - 15)  # across an edge
    bias = rng.normal(0, 1.5, n)
    persons = np.repeat([f"{i:03d}" for i in range(n)], 7)
    years = 39 + 0.7 * (np.repeat(true + bias, 7) - 39) + rng.normal(0, 1.5, 7 * n)  # shrunk, noisy
    table = person_ages(years, np.repeat(given, 7), persons, edges=EDGES, prior_wrong=0.05)
    wrong = age_bin(given.astype(int), EDGES) != age_bin(true.astype(int), EDGES)
    top = table["p_wrong"].to_numpy().argsort()[::-1][:10]
    assert wrong[top].mean() >= 0.8
    # a probability: its mean over persons is near the true share of wrong bins
    assert table["p_wrong"].mean() == pytest.approx(wrong.mean(), abs=0.02)
    assert (table["estimate"] - pd.Series(true + bias, index=table.index)).abs().median() < 2.5


def test_fit_df_reads_the_tail_weight_of_the_residuals():
    rng = np.random.default_rng(3)
    assert fit_df(rng.normal(0, 3, 2000)) > 20       # a normal: many degrees of freedom
    assert 2 < fit_df(3 * rng.standard_t(3, 2000)) < 5
    assert fit_df(np.ones(5)) == np.inf               # too few to say: a normal


def test_person_ages_scores_mean_what_they_say_when_the_perceiver_misreads_some_faces():
    """A perceiver that misreads one face in ten by a decade (Student t errors, df 3): under a
    normal error model its clean misread persons score near 1 and the flags' mean score far
    exceeds their precision; with the residuals' own tail weight (df "fit", the default) the mean
    score of the flags is within 0.1 of the share of them that are wrong."""
    rng = np.random.default_rng(4)
    n = 3000
    true = rng.uniform(18, 62, n).round()
    given = true.copy()
    shifted = rng.choice(n, 150, replace=False)
    given[shifted] = np.where(true[shifted] < 30, true[shifted] + 14, true[shifted] - 14)
    persons = np.repeat([f"{i:04d}" for i in range(n)], 7)
    years = np.repeat(true + 3 * rng.standard_t(3, n), 7) + rng.normal(0, 1, 7 * n)
    wrong = age_bin(given.astype(int), EDGES) != age_bin(true.astype(int), EDGES)
    gap = {}
    for df in (np.inf, "fit"):
        table = person_ages(years, np.repeat(given, 7), persons, edges=EDGES, prior_wrong=0.05, df=df)
        flagged = table["p_wrong"].to_numpy() >= 0.5
        gap[df] = table["p_wrong"].to_numpy()[flagged].mean() - wrong[flagged].mean()
    assert gap["fit"] < 0.1 < gap[np.inf]
