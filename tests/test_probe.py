"""The linear probe: out-of-fold head probabilities and age from fixed features, and the ensemble."""

import numpy as np
import pytest

from pipeline import labels as L
from pipeline.curation import probe


def _data(n_persons: int = 60, seed: int = 0):
    """7 images per person; features carry mask, gender and age with noise; person 0's gender is
    given wrong. Returns features, given heads, given ages, person folds, true gender."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(n_persons), 7)
    mask = np.tile([0, 0, 0, 0, 0, 1, 2], n_persons)
    gender = person % 2
    age = rng.uniform(18, 65, n_persons)[person]
    features = np.c_[np.eye(3)[mask] * 3, gender[:, None] * 3.0, age[:, None] / 10,
                     rng.normal(size=(len(person), 40))] + rng.normal(0, 0.3, (len(person), 45))
    given = {"mask": mask, "gender": gender.copy(), "age": L.age_bin(age.astype(int), (30, 58))}
    given["gender"][person == 0] = 1 - given["gender"][person == 0]
    return features, given, age, person % 4, gender


def test_out_of_fold_probabilities_and_years():
    features, given, age, folds, gender = _data()
    out = probe.out_of_fold(features, given, age, folds, c=1.0)
    assert out["probs"].shape == (len(age), L.NUM_CLASSES)
    np.testing.assert_allclose(out["probs"].sum(1), 1, atol=1e-6)
    for h, names in L.HEADS.items():
        assert out[h].shape == (len(age), len(names))
        np.testing.assert_allclose(out[h].sum(1), 1, atol=1e-6)
    assert (out["mask"].argmax(1) == given["mask"]).mean() > 0.95
    assert np.median(np.abs(out["age_years"] - age)) < 3
    # out of fold: person 0's wrong gender does not reach its own prediction, which sides with the truth
    assert (out["gender"][:7].argmax(1) == gender[:7]).all()


def test_a_subset_of_the_heads_gives_those_heads_and_no_joint_probabilities():
    features, given, age, folds, gender = _data()
    out = probe.out_of_fold(features, {"gender": given["gender"]}, age, folds, c=1.0)
    assert set(out) == {"gender", "age_years"}
    np.testing.assert_array_equal(out["gender"], probe.out_of_fold(features, given, age, folds, c=1.0)["gender"])
    assert set(probe.out_of_fold(features, {}, age, folds)) == {"age_years"}
    with pytest.raises(ValueError, match="unknown heads \\['race'\\]"):
        probe.out_of_fold(features, {"race": gender}, age, folds)


def test_age_penalty_is_chosen_on_a_share_of_a_large_fold(monkeypatch):
    """Up to ALPHA_ROWS training rows: RidgeCV on the fold, as sklearn does it. Beyond: the penalty
    chosen on ALPHA_ROWS random rows, all rows fitted: the estimates hardly move."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, _, age, folds, _ = _data()
    whole = probe.age_years(features, age, folds)
    by_hand = np.zeros(len(age))
    for f in range(4):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=probe.ALPHAS)).fit(features[folds != f], age[folds != f])
        by_hand[folds == f] = model.predict(features[folds == f])
    np.testing.assert_allclose(whole, by_hand)
    monkeypatch.setattr(probe, "ALPHA_ROWS", 60)  # of 315 training rows per fold
    share = probe.age_years(features, age, folds)
    assert not np.array_equal(share, whole)  # the other route ran
    assert np.median(np.abs(share - whole)) < 0.3 and np.median(np.abs(share - age)) < 3


def test_a_class_missing_from_the_training_folds_gets_probability_zero():
    features, given, age, folds, _ = _data()
    given["age"] = np.where(folds == 0, 2, given["age"] % 2)  # "old" only in fold 0
    out = probe.out_of_fold(features, given, age, folds)
    assert (out["age"][folds == 0, 2] == 0).all() and (out["age"][folds != 0, 2] > 0).all()


def test_lengths_must_agree():
    features, given, age, folds, _ = _data()
    with pytest.raises(ValueError, match="differ in length"):
        probe.out_of_fold(features[:-1], given, age, folds)


def test_ensemble_averages_shared_keys_and_keeps_the_first_folds():
    a = {"mask": np.array([[1.0, 0, 0]]), "age_years": np.array([20.0]), "fold": np.array([1]), "only_a": np.array([5])}
    b = {"mask": np.array([[0.0, 1, 0]]), "age_years": np.array([40.0]), "fold": np.array([3])}
    out = probe.ensemble(a, b)
    np.testing.assert_allclose(out["mask"], [[0.5, 0.5, 0]])
    assert out["age_years"][0] == 30 and out["fold"][0] == 1 and out["only_a"][0] == 5
    one = probe.ensemble(a)
    assert one.keys() == a.keys() and all(np.array_equal(one[k], a[k]) for k in a)


def test_age_years_learns_age_from_features_out_of_fold():
    rng = np.random.default_rng(0)
    n = 400
    age = rng.uniform(18, 60, n)
    features = np.c_[age / 10 + rng.normal(0, 0.1, n), rng.normal(size=(n, 20))]  # one informative column
    folds = np.arange(n) % 4
    est = probe.age_years(features, age, folds)
    assert np.median(np.abs(est - age)) < 1.5
    # out of fold: a wrong label does not leak into its own estimate
    given = age.copy()
    given[0] += 30
    assert abs(probe.age_years(features, given, folds)[0] - age[0]) < 3
    with pytest.raises(ValueError, match="differ in length"):
        probe.age_years(features, age[:-1], folds)


def test_age_features_get_a_regression_of_their_own_averaged_in():
    """`age_features` (the crops' top half) get an age regression of their own, averaged with the
    one on `features`; the heads keep `features`; no columns (embed.age_band 0): `features` alone."""
    features, given, age, folds, _ = _data()
    rng = np.random.default_rng(1)
    blind = np.c_[features[:, :4], rng.normal(size=(len(age), 40))]  # mask and gender, no age at all
    sharp = np.c_[age / 10 + rng.normal(0, 0.05, len(age)), rng.normal(size=(len(age), 10))]
    out = probe.out_of_fold(blind, given, age, folds, age_features=sharp)
    plain = probe.out_of_fold(blind, given, age, folds)
    band = probe.age_years(sharp.astype(np.float32), age, folds)  # out_of_fold works in float32
    np.testing.assert_allclose(out["age_years"], (plain["age_years"] + band) / 2)
    np.testing.assert_allclose(out["age_views"], np.c_[plain["age_years"], band])
    assert "age_views" not in plain
    assert np.median(np.abs(out["age_years"] - age)) < np.median(np.abs(plain["age_years"] - age)) - 2
    np.testing.assert_array_equal(out["mask"], plain["mask"])
    empty = probe.out_of_fold(blind, given, age, folds, age_features=np.zeros((len(age), 0)))
    np.testing.assert_array_equal(empty["age_years"], plain["age_years"])
    with pytest.raises(ValueError, match="age_features"):
        probe.out_of_fold(blind, given, age, folds, age_features=sharp[:-1])
