import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from pipeline.curation.metrics import (truth_labels, action_effects, expected_calibration_error, label_hits,
                                      list_scores, oracle_age_ap, ranked_ap, score_issues, score_types)

EDGES = (30, 60)


def _truth() -> pd.DataFrame:
    # persons: p1 gender flipped, p2 mask swapped, p3 age moved 29 -> 31, p4 age 31 -> 35 (same bin)
    return pd.DataFrame([
        ("p1/a", "p1", 0, 0, 1, 0, 40, 40, 41.0), ("p1/b", "p1", 2, 2, 1, 0, 40, 40, 41.0),
        ("p2/a", "p2", 1, 2, 0, 0, 20, 20, 22.0), ("p2/b", "p2", 2, 1, 0, 0, 20, 20, 22.0),
        ("p3/a", "p3", 0, 0, 1, 1, 31, 29, 28.0), ("p4/a", "p4", 0, 0, 1, 1, 35, 31, 33.0),
    ], columns=["image_id", "person_id", "mask_given", "mask_true", "gender_given", "gender_true",
                "age_given", "age_true", "age_apparent"]).assign(split="train")


def test_score_issues_arithmetic():
    issues = pd.DataFrame([
        ("gender:p4", "p4", "*", "gender", 0.9),    # FP, ranked first
        ("gender:p1", "p1", "*", "gender", 0.8),    # TP
        ("mask:p2/a", "p2", "p2/a", "mask", 0.7),   # TP (two rows, one person)
        ("mask:p2/b", "p2", "p2/b", "mask", 0.7),
        ("age:p4", "p4", "*", "age", 0.6),          # FP: same bin under (30, 60)
    ], columns=["issue_id", "person_id", "image_id", "field", "score"])
    s = score_issues(issues, _truth(), age_edges=EDGES)
    assert (s["true_positives"], s["flagged"], s["noisy"]) == (2, 4, 3)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(2 / 3)
    # ranked FP, TP, TP, FP against 3 true errors: (1/2 + 2/3) / 3
    assert s["ap"] == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert s["p_at_k"] == pytest.approx(2 / 3)
    assert s["gender"]["precision"] == 0.5 and s["gender"]["recall"] == 1.0 and s["gender"]["ap"] == 0.5
    assert s["mask"]["precision"] == 1.0 and s["age"]["recall"] == 0.0 and s["age"]["precision"] == 0.0
    assert s["age"]["oracle_ap"] == pytest.approx(1.0)  # p3 has the largest given-apparent gap (3 y)
    # with edges (30, 34) p4's 31 -> 35 crosses an edge, so its age issue becomes a true positive
    assert score_issues(issues, _truth(), age_edges=(30, 34))["age"]["true_positives"] == 1


def test_label_hits_name_each_flagged_person_once_with_its_truth():
    issues = pd.DataFrame([("gender:p4", "p4", "*", "gender", 0.9), ("mask:p2/a", "p2", "p2/a", "mask", 0.7),
                           ("mask:p2/b", "p2", "p2/b", "mask", 0.6)],
                          columns=["issue_id", "person_id", "image_id", "field", "score"])
    hits = label_hits(issues, _truth(), age_edges=EDGES)
    assert hits[["person_id", "field", "score", "hit"]].values.tolist() == [["p4", "gender", 0.9, False],
                                                                          ["p2", "mask", 0.7, True]]


def test_expected_calibration_error_of_calibrated_and_overconfident_scores():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.5, 1.0, 20000)
    assert expected_calibration_error(scores, rng.uniform(size=20000) < scores) < 0.02   # P(real) = score
    assert expected_calibration_error(np.full(1000, 0.99), np.arange(1000) % 2 == 0) == pytest.approx(0.49)
    assert np.isnan(expected_calibration_error([], []))


def test_ranked_ap_equals_sklearn_when_everything_is_ranked():
    rng = np.random.default_rng(0)
    y, score = rng.random(50) < 0.2, rng.random(50)
    order = np.argsort(-score)
    assert ranked_ap(y[order], int(y.sum())) == pytest.approx(average_precision_score(y, score))


def test_missed_errors_lower_ap_and_recall():
    s = list_scores([True, False], 4)
    assert s["ap"] == pytest.approx(0.25) and s["recall"] == 0.25 and s["p_at_k"] == 0.25
    assert s["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert list_scores([], 0)["precision"] == 1.0 and list_scores([], 0)["ap"] == 1.0


def test_oracle_ranks_by_given_minus_apparent_age():
    truth = _truth()
    assert oracle_age_ap(truth, age_edges=EDGES) == 1.0
    # p4's drawing now looks 20: the oracle ranks it (clean bin-wise) above p3
    truth.loc[truth["person_id"] == "p4", "age_apparent"] = 20.0
    assert oracle_age_ap(truth, age_edges=EDGES) == pytest.approx(0.5)


def test_action_effects_counts_what_rebalance_did():
    from pipeline.labels import encode
    truth = _truth()
    # p1/a relabelled to the true gender (fixed), p1/b left wrong, p2/a excluded (wrong: removed_wrong),
    # p3/a excluded (its bin 30-59 is wrong under (30, 60): removed_wrong), p4/a excluded (right)
    ts = pd.DataFrame({"image_id": ["p1/a", "p1/b", "p2/a", "p3/a", "p4/a"],
                       "label": [encode(0, 0, 1), encode(2, 1, 1), encode(1, 0, 0), encode(0, 1, 1), encode(0, 1, 1)],
                       "excluded": [False, False, True, True, True]})
    effects = action_effects(ts, truth, age_edges=EDGES)
    assert {k: v for k, v in effects.items() if k != "by_field"} == {
        "removed_right": 1, "removed_wrong": 2, "fixed": 1, "broken": 0, "left_wrong": 1}
    # per head: the gender fix is gender's; p1/b's wrong gender is left; no head was broken
    assert effects["by_field"]["gender"] == {"removed_right": 3, "removed_wrong": 0, "fixed": 1, "broken": 0,
                                             "left_wrong": 1}
    assert effects["by_field"]["mask"]["fixed"] == 0 and effects["by_field"]["mask"]["left_wrong"] == 0


def test_action_effects_by_field_counts_a_broken_head():
    from pipeline.labels import encode
    truth = _truth()
    # p4/a's age (31 true, 35 given: both 30-59) moved to <30 by a wrong age flag: age broken, others intact
    ts = pd.DataFrame({"image_id": ["p4/a"], "label": [encode(0, 1, 0)], "excluded": [False]})
    by = action_effects(ts, truth, age_edges=EDGES)["by_field"]
    assert by["age"]["broken"] == 1 and by["gender"]["broken"] == 0 and by["mask"]["broken"] == 0


def test_score_types_person_level_duplicates_and_image_level_outliers_and_quality():
    truth = pd.DataFrame({
        "split": "train",
        "image_id": ["a/1", "a/2", "b/1", "b/2", "c/1", "c/2", "d/1", "d/2"],
        "person_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "noise": ["none", "outlier_image", "low_quality", "none", "duplicate_person", "duplicate_person",
                  "low_quality", "none"],
        "duplicate_of": ["", "", "", "", "a", "a", "", ""],
    })
    issues = pd.DataFrame([
        ("c", "*", "duplicate", "a", 0.9, "duplicate"),        # right pair
        ("d", "*", "duplicate", "b", 0.6, "duplicate"),        # wrong pair
        ("a", "a/2", "outlier", "exclude", 0.8, "outlier"),    # right
        ("b", "b/1", "quality", "exclude", 0.9, "dark"),       # right
        ("d", "d/2", "quality", "exclude", 0.7, "blurred"),    # wrong
        ("d", "d/1", "quality", "exclude", 0.2, "fallback"),   # right image, below the threshold: ranked only
    ], columns=["person_id", "image_id", "field", "suggested", "score", "kind"])
    s = score_types(issues, truth, threshold=0.5)
    assert s["duplicate"]["precision"] == 0.5 and s["duplicate"]["recall"] == 1.0 and s["duplicate"]["ap"] == 1.0
    assert s["outlier"]["precision"] == 1.0 and s["outlier"]["recall"] == 1.0
    q = s["quality"]
    assert q["flagged"] == 2 and q["precision"] == 0.5 and q["recall"] == 0.5
    assert q["ap"] == pytest.approx((1 + 2 / 3) / 2)


def test_truth_labels_use_true_columns_and_edges():
    truth = pd.DataFrame({"image_id": ["a", "b"], "mask_true": [2, 0], "gender_true": [1, 0],
                          "age_true": [58, 20], "mask_given": [1, 0], "gender_given": [0, 0],
                          "age_given": [50, 20]})
    assert truth_labels(truth, ["b", "a"], age_edges=(30, 58)).tolist() == [0, 17]
    assert truth_labels(truth, ["a"], age_edges=(30, 60)).tolist() == [16]
