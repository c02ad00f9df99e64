import numpy as np
import pytest

from pipeline.curation.folds import person_folds


def _persons(n_per_class: int = 8, classes: int = 6, images: int = 7):
    """Person ids and per-row strat (the person's gender*3 + age class), `images` rows each."""
    strat_per_person = np.repeat(np.arange(classes), n_per_class)
    person = np.repeat(np.arange(len(strat_per_person)), images)
    return person, strat_per_person[person]


@pytest.mark.parametrize("k", [2, 4])
def test_no_person_in_two_folds_and_all_folds_used(k):
    person, strat = _persons()
    fold = person_folds(person, strat, k=k, seed=0)
    assert fold.shape == person.shape and set(fold) == set(range(k))
    for p in np.unique(person):
        assert len(set(fold[person == p])) == 1


def test_folds_are_stratified_on_person_class():
    person, strat = _persons(n_per_class=8, classes=6)
    fold = person_folds(person, strat, k=4, seed=1)
    for f in range(4):
        per_class = np.bincount(strat[fold == f], minlength=6) // 7  # rows -> persons
        assert np.all(np.abs(per_class - 2) <= 1), per_class  # 8 persons per class / 4 folds


def test_seed_controls_assignment():
    person, strat = _persons()
    a = person_folds(person, strat, k=4, seed=0)
    assert np.array_equal(a, person_folds(person, strat, k=4, seed=0))
    assert not np.array_equal(a, person_folds(person, strat, k=4, seed=1))


def test_fewer_persons_than_folds_is_a_clear_error():
    person, strat = np.array([1, 1, 2, 2, 3]), np.array([0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="3 persons"):
        person_folds(person, strat, k=5, seed=0)


def test_a_duplicated_person_never_straddles_folds_after_the_fix():
    """Person 'b' is 'a' filed again: on person ids alone the folds split them (a leak); grouped by
    `same_person_groups` with the flagged pair they sit in one fold for every seed."""
    from pipeline.curation.folds import same_person_groups

    persons = np.repeat([f"p{i:02d}" for i in range(20)] + ["a", "b"], 7)
    strat = np.zeros(len(persons), int)
    straddled = 0
    for seed in range(10):
        raw = person_folds(persons, strat, k=5, seed=seed)
        straddled += raw[persons == "a"][0] != raw[persons == "b"][0]
        fixed = person_folds(same_person_groups(persons, [("b", "a")]), strat, k=5, seed=seed)
        assert len(set(fixed[(persons == "a") | (persons == "b")])) == 1
    assert straddled > 0  # without the fix the leak happens


def test_same_person_groups_joins_chains_and_keeps_others():
    from pipeline.curation.folds import same_person_groups

    g = same_person_groups(np.array(["c", "b", "a", "d"]), [("c", "b"), ("b", "a")])
    assert g.tolist() == ["a", "a", "a", "d"]


def test_duplicate_pairs_of_an_issue_list_keep_the_oof_folds_together():
    """The oof stage's grouping: the duplicate rows of issue_types.csv (as read there: all strings)
    put the copy in its original's fold, and nobody else moves; other fields join nothing."""
    import pandas as pd

    from pipeline.curation.folds import duplicate_pairs

    issues = pd.DataFrame({"field": ["duplicate", "quality", "gender"], "person_id": ["p09", "p03", "p04"],
                           "suggested": ["p02", "exclude", "female"]})
    assert duplicate_pairs(issues) == [("p09", "p02")]
    assert duplicate_pairs(pd.DataFrame(columns=["field", "person_id", "suggested"])) == []
    assert duplicate_pairs(pd.DataFrame()) == []
    persons = np.repeat([f"p{i:02d}" for i in range(12)], 7)
    strat = np.repeat(np.arange(12) % 3, 7)
    apart = [seed for seed in range(10)
             if len(set(person_folds(persons, strat, k=4, seed=seed)[np.isin(persons, ["p02", "p09"])])) > 1]
    assert apart  # by person alone the copy and its original land in different folds
    for seed in apart:
        before = person_folds(persons, strat, k=4, seed=seed)
        fold = person_folds(persons, strat, k=4, seed=seed, together=duplicate_pairs(issues))
        assert set(fold[persons == "p09"]) == set(before[persons == "p02"])  # the copy joins the original
        others = persons != "p09"
        np.testing.assert_array_equal(fold[others], before[others])


def _labels(persons: int = 40, images: int = 7) -> "pd.DataFrame":
    import pandas as pd

    rng = np.random.default_rng(0)
    gender, age_bin = rng.integers(0, 2, persons), rng.integers(0, 3, persons)
    person = np.repeat(np.arange(persons), images)
    return pd.DataFrame({"image_id": [f"p{p:02d}/{i}" for p in range(persons) for i in range(images)],
                         "person_id": [f"p{p:02d}" for p in person],
                         "gender": gender[person], "age_bin": age_bin[person]})


def test_curation_folds_do_not_move_when_labels_are_fixed():
    """Relabelling flagged persons (gender flips, an age bin) leaves every row in its fold, so a
    curated and a raw run split the same persons; stratifying on the curated labels, as before,
    moves many."""
    from pipeline.curation.folds import curation_folds

    given = _labels()
    curated = given.copy()
    fixed = curated["person_id"].isin(["p01", "p05", "p09", "p17"])
    curated.loc[fixed, "gender"] = 1 - curated.loc[fixed, "gender"]
    curated.loc[curated["person_id"] == "p22", "age_bin"] = (curated["age_bin"] + 1) % 3
    raw = curation_folds(given, given, [], k=4, seed=0)
    assert np.array_equal(raw, curation_folds(given, curated, [], k=4, seed=0))
    on_curated = person_folds(curated["person_id"].to_numpy(),
                              (curated["gender"] * 3 + curated["age_bin"]).to_numpy(), k=4, seed=0)
    assert (on_curated != raw).mean() > 0.2


def test_curation_folds_keep_merged_and_flagged_duplicates_together_and_check_alignment():
    from pipeline.curation.folds import curation_folds

    given = _labels()
    curated = given.copy()
    curated.loc[curated["person_id"] == "p03", "person_id"] = "p30"  # an accepted merge
    fold = curation_folds(given, curated, [("p07", "p11")], k=4, seed=0)
    by_person = given.assign(fold=fold).groupby("person_id")["fold"].first()
    assert by_person["p03"] == by_person["p30"] and by_person["p07"] == by_person["p11"]
    with pytest.raises(ValueError, match="same images in the same order"):
        curation_folds(given, curated.iloc[::-1], [], k=4, seed=0)
