import json

import numpy as np
import pandas as pd
import pytest

from pipeline import labels as L
from pipeline.curation.metrics import score_issues
from pipeline.curation.noise import (ISSUE_COLUMNS, aggregate_probs, compare_known, find_issues, health_summary,
                                    label_posterior, top_issues)

EDGES = (30, 60)
STEMS = list(L.MASK_FILES)
FLIP, SWAP, SHIFT = "000000", "000001", "000002"


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def simulate(n_persons: int = 40, seed: int = 0):
    """Noisy-but-informative OOF probabilities for n_persons x 7 images predicted from the TRUE
    labels; person 0 has its gender flipped, person 1 incorrect<->normal swapped, person 2 its age
    moved from <30 to 30-59. Age in years is the true age + a person bias (sd 2) + image noise
    (sd 3). Returns labels, oof, truth."""
    rng = np.random.default_rng(seed)
    rows, truth, probs = [], [], {"mask": [], "gender": [], "age": [], "age_years": []}
    for i in range(n_persons):
        pid = f"{i:06d}"
        gender, age = i % 2, [22, 41, 60][i % 3] + int(rng.integers(-3, 4)) * (i % 3 != 2)
        if pid == SHIFT:
            age = 24
        given_gender = 1 - gender if pid == FLIP else gender
        given_age = 45 if pid == SHIFT else age
        folder = f"{pid}_{L.GENDERS[given_gender]}_Asian_{given_age}"
        bias = rng.normal(0, 2)
        for stem in STEMS:
            mask = L.MASK_FILES[stem]
            given_mask = {1: 2, 2: 1}.get(mask, mask) if pid == SWAP else mask
            z_mask = rng.normal(0, 1, 3)
            z_mask[mask] += 3.5
            z_gender = rng.normal(0, 1, 2)
            z_gender[gender] += 3.0
            z_age = rng.normal(0, 1, 3)
            z_age[L.age_bin(age, EDGES)] += 3.0
            probs["mask"].append(_softmax(z_mask))
            probs["gender"].append(_softmax(z_gender))
            probs["age"].append(_softmax(z_age))
            probs["age_years"].append(age + bias + rng.normal(0, 3))
            image_id = f"{folder}/{stem}"
            rows.append({"image_id": image_id, "person_id": pid, "mask": given_mask, "gender": given_gender,
                         "age": given_age, "excluded": False})
            truth.append({"split": "train", "image_id": image_id, "person_id": pid,
                          "mask_given": given_mask, "mask_true": mask, "gender_given": given_gender,
                          "gender_true": gender, "age_given": given_age, "age_true": age})
    labels = pd.DataFrame(rows)
    oof = {h: np.array(p) for h, p in probs.items()}
    oof["image_id"] = labels["image_id"].to_numpy()
    return labels, oof, pd.DataFrame(truth)


@pytest.fixture(scope="module")
def sim():
    return simulate()


@pytest.mark.parametrize("person_rule", ["probability", "vote", "argmax"])
@pytest.mark.parametrize("aggregate", ["mean", "geometric", "product"])
def test_gender_flip_is_one_person_level_issue(sim, person_rule, aggregate):
    labels, oof, _ = sim
    issues = find_issues(labels, oof, age_edges=EDGES, person_rule=person_rule, aggregate=aggregate)
    row = issues[issues["issue_id"] == f"gender:{FLIP}"]
    assert len(row) == 1
    assert row.iloc[0][["person_id", "image_id", "field", "given", "suggested", "kind"]].tolist() == \
        [FLIP, "*", "gender", "female", "male", "gender"]


@pytest.mark.parametrize("person_rule", ["probability", "vote", "cleanlab"])
def test_person_rules_find_the_flip_and_flag_fewer_clean_persons_than_argmax(sim, person_rule):
    """argmax flags every person whose pooled probabilities disagree with the label; a rule that
    is worth its name keeps the planted flip and drops some of argmax's clean persons."""
    labels, oof, _ = sim
    # two clean persons the model is unsure of: pooled, their given gender is a little less likely
    # than the other one, which argmax flags and a rule with a probability should not
    doubt = labels["person_id"].isin(["000010", "000011"]).to_numpy()
    given = labels["gender"].to_numpy()
    gender_probs = oof["gender"].copy()
    gender_probs[doubt] = np.where(np.eye(2)[given[doubt]] == 1, 0.45, 0.55)
    oof = {**oof, "gender": gender_probs}
    gender = lambda rule: set(find_issues(labels, oof, age_edges=EDGES, person_rule=rule)  # noqa: E731
                              .query("field == 'gender'")["person_id"])
    narrow, wide = gender(person_rule), gender("argmax")
    assert FLIP in narrow
    assert len(narrow - {FLIP}) < len(wide - {FLIP})


@pytest.mark.parametrize("age_method", ["years", "bins"])
def test_age_shift_suggests_the_true_bin(sim, age_method):
    labels, oof, _ = sim
    issues = find_issues(labels, oof, age_edges=EDGES, age_method=age_method).set_index("issue_id")
    assert issues.loc[f"age:{SHIFT}", ["given", "suggested"]].tolist() == ["30-59", "<30"]


def test_age_issue_shows_the_estimate_in_years(sim):
    labels, oof, _ = sim
    row = find_issues(labels, oof, age_edges=EDGES).set_index("issue_id").loc[f"age:{SHIFT}"]
    assert 15 < row["estimate"] < 30 and row["detail"].startswith("given 45 y, estimated ")
    assert row["score"] > 0.9


def test_age_views_that_disagree_lower_the_age_score(sim):
    """oof["age_views"] (the estimates age_years averages, aligned by image_id like it): where the
    shifted person's views are 30 years apart its estimate is unsure and it is not flagged; views
    equal to age_years change nothing."""
    labels, oof, _ = sim
    years = oof["age_years"]
    same = find_issues(labels, {**oof, "age_views": np.c_[years, years]}, age_edges=EDGES)
    plain = find_issues(labels, oof, age_edges=EDGES)
    pd.testing.assert_frame_equal(same, plain)
    gap = np.where(labels["person_id"] == SHIFT, 15.0, 0.0)
    flipped = {**{k: v[::-1] for k, v in oof.items()}, "age_views": np.c_[years - gap, years + gap][::-1]}
    issues = find_issues(labels, flipped, age_edges=EDGES)  # rows reversed: aligned through image_id
    assert f"age:{SHIFT}" in set(plain["issue_id"]) and f"age:{SHIFT}" not in set(issues["issue_id"])
    assert set(issues["issue_id"]) == set(plain["issue_id"]) - {f"age:{SHIFT}"}


def test_age_in_years_is_required_unless_bins(sim):
    labels, oof, _ = sim
    no_years = {k: v for k, v in oof.items() if k != "age_years"}
    with pytest.raises(ValueError, match="age_method"):
        find_issues(labels, no_years, age_edges=EDGES)
    assert len(find_issues(labels, no_years, age_edges=EDGES, age_method="bins"))


def test_swap_is_reported_as_a_pair(sim):
    labels, oof, _ = sim
    issues = find_issues(labels, oof, age_edges=EDGES)
    pair = issues[issues["person_id"] == SWAP].set_index("image_id")
    folder = f"{SWAP}_female_Asian_{labels.loc[labels['person_id'] == SWAP, 'age'].iloc[0]}"
    assert set(pair.index) == {f"{folder}/incorrect_mask", f"{folder}/normal"}
    assert (pair["kind"] == "swap").all() and pair["score"].nunique() == 1
    assert pair.loc[f"{folder}/incorrect_mask", ["given", "suggested"]].tolist() == ["normal", "incorrect"]
    assert pair.loc[f"{folder}/normal", ["given", "suggested"]].tolist() == ["incorrect", "normal"]


def test_clean_persons_are_mostly_not_flagged(sim):
    labels, oof, truth = sim
    issues = find_issues(labels, oof, age_edges=EDGES)
    false_persons = set(issues["person_id"]) - {FLIP, SWAP, SHIFT}
    assert len(false_persons) <= 2
    scores = score_issues(issues, truth, age_edges=EDGES)
    assert scores["recall"] == 1.0 and scores["precision"] >= 0.6


def test_issue_frame_contract(sim):
    labels, oof, _ = sim
    issues = find_issues(labels, oof, age_edges=EDGES, person_rule="argmax")
    assert list(issues.columns) == ISSUE_COLUMNS
    assert issues["issue_id"].is_unique
    assert issues["score"].between(0, 1).all()
    assert issues["score"].is_monotonic_decreasing
    assert set(issues["field"]) <= {"mask", "gender", "age"}


def test_oof_rows_are_aligned_by_image_id(sim):
    labels, oof, _ = sim
    perm = np.random.default_rng(1).permutation(len(labels))
    shuffled = {k: v[perm] for k, v in oof.items()}
    pd.testing.assert_frame_equal(find_issues(labels, shuffled, age_edges=EDGES), find_issues(labels, oof, age_edges=EDGES))


def test_excluded_rows_are_skipped(sim):
    labels, oof, _ = sim
    labels = labels.assign(excluded=labels["person_id"] == FLIP)
    assert FLIP not in set(find_issues(labels, oof, age_edges=EDGES)["person_id"])
    assert FLIP in set(find_issues(labels, oof, age_edges=EDGES, include_excluded=True)["person_id"])


def test_mask_threshold_and_mask_singles_options(sim):
    labels, oof, _ = sim
    none = find_issues(labels, oof, age_edges=EDGES, thresholds={"mask": 1.01}, mask_singles=False)
    assert (none["field"] != "mask").all()


def _calibrated_set(n=20000, noise=0.01, seed=0):
    """3 classes (70 / 15 / 15 %), a model right on 99 % of the photos whose p(x) is calibrated by
    construction (the true class is drawn from it); then `noise` of the labels replaced by another class."""
    rng = np.random.default_rng(seed)
    centre = rng.choice(3, n, p=[0.7, 0.15, 0.15])
    logits = 8.0 * np.eye(3)[centre] + rng.normal(0, 1.5, (n, 3))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    true = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    given = np.where(rng.random(n) < noise, (true + rng.integers(1, 3, n)) % 3, true)
    return given, p, given != true


def test_label_posterior_is_calibrated_where_one_minus_p_is_overconfident():
    given, p, wrong = _calibrated_set()
    raw = 1 - p[np.arange(len(given)), given]
    post = label_posterior(given, p)
    sure = raw >= 0.95  # what a lone mask image must reach to be a candidate
    assert wrong[sure].mean() < raw[sure].mean() - 0.2         # the image alone overstates it
    assert abs(wrong[sure].mean() - post[sure].mean()) < 0.08  # with the noise matrix: what it says
    assert post[wrong].mean() > 5 * post[~wrong].mean()        # and it still ranks the wrong labels up


def test_label_posterior_falls_back_where_a_class_is_absent():
    p = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    assert np.allclose(label_posterior(np.array([0, 1, 1]), p), [0.1, 0.3, 0.7])


def test_thresholds_per_field(sim):
    labels, oof, _ = sim
    issues = find_issues(labels, oof, age_edges=EDGES, thresholds={"age": 1.01})
    assert "age" not in set(issues["field"]) and f"gender:{FLIP}" in set(issues["issue_id"])


def test_persons_without_a_pair_are_not_swap_checked(sim):
    labels, oof, _ = sim
    no_normal = labels[~labels["image_id"].str.endswith("/normal")]
    assert "swap" not in set(find_issues(no_normal, oof, age_edges=EDGES)["kind"])


def test_aggregate_probs():
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    ids, mean = aggregate_probs(p, ["b", "b", "a"])
    assert ids.tolist() == ["a", "b"]
    np.testing.assert_allclose(mean, [[0.2, 0.8], [0.7, 0.3]])
    _, geo = aggregate_probs(p, ["b", "b", "a"], aggregate="geometric")
    g = np.sqrt([0.9 * 0.5, 0.1 * 0.5])
    np.testing.assert_allclose(geo[1], g / g.sum())


def test_health_summary_is_json_and_per_head(sim):
    labels, oof, _ = sim
    summary = health_summary(labels, oof, age_edges=EDGES)
    json.dumps(summary)
    assert set(summary) == {"mask", "gender", "age"}
    assert 0 <= summary["gender"]["overall_label_health_score"] <= 1
    assert {r["Class Name"] for r in summary["age"]["classes"]} == {"<30", "30-59", ">=60"}


def test_compare_known_public_and_corrections_formats(sim):
    labels, oof, _ = sim
    issues = find_issues(labels, oof, age_edges=EDGES)
    public = pd.DataFrame({"person_id": [FLIP, SWAP, SHIFT, "000010"], "field": ["gender", "mask", "age", "gender"],
                           "fix": ["male", "swap_incorrect_normal", "24", "female"], "source": "x"})
    result = compare_known(issues, public, age_edges=EDGES)
    assert result["flagged"].tolist() == [True, True, True, False]
    assert result["agrees"].tolist() == [True, True, True, False]
    corrections = public.rename(columns={"fix": "value"}).assign(image_id="*", decision=["accept"] * 3 + ["reject"])
    assert len(compare_known(issues, corrections, age_edges=EDGES)) == 3


def test_top_issues_keeps_swap_pairs_whole():
    issues = pd.DataFrame({"issue_id": ["a", "b", "c", "d"], "person_id": ["1", "2", "2", "3"],
                           "kind": ["gender", "swap", "swap", "mask"]})
    assert top_issues(issues, 2)["issue_id"].tolist() == ["a", "b", "c"]
    assert top_issues(issues, 1)["issue_id"].tolist() == ["a"]
