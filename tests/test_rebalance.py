import numpy as np
import pandas as pd
import pytest

from pipeline import labels as L
from pipeline.curation.rebalance import applied_actions, apply_noise_action, class_weights

STEMS = list(L.MASK_FILES)


def _labels(persons=("p1", "p2")) -> pd.DataFrame:
    rows = [{"image_id": f"{p}/{s}", "person_id": p, "mask": L.mask_from_stem(s), "gender": 1,
             "age_bin": 0, "excluded": False} for p in persons for s in STEMS]
    df = pd.DataFrame(rows)
    df["label"] = L.encode(df["mask"], df["gender"], df["age_bin"])
    return df


ISSUES = pd.DataFrame([
    {"person_id": "p1", "image_id": "*", "field": "gender", "given": "female", "suggested": "male", "score": 0.9},
    {"person_id": "p2", "image_id": "p2/normal", "field": "mask", "given": "normal", "suggested": "incorrect",
     "score": 0.8},
    {"person_id": "p2", "image_id": "p2/incorrect_mask", "field": "mask", "given": "incorrect",
     "suggested": "normal", "score": 0.3},
])


def test_relabel_acts_on_persons_and_images():
    out = apply_noise_action(_labels(), ISSUES, action="relabel", age_edges=(30, 58))
    assert (out.loc[out.person_id == "p1", "gender"] == 0).all()
    assert (out.loc[out.person_id == "p2", "gender"] == 1).all()
    by_id = out.set_index("image_id")
    assert by_id.loc["p2/normal", "mask"] == 1 and by_id.loc["p2/incorrect_mask", "mask"] == 2
    assert by_id.loc["p2/normal", "label"] == L.encode(1, 1, 0)
    assert (out["action"] != "").sum() == 9


def test_min_score_is_respected():
    out = apply_noise_action(_labels(), ISSUES, action="relabel", age_edges=(30, 58), min_score=0.85)
    assert (out.loc[out.person_id == "p1", "gender"] == 0).all()
    assert out.set_index("image_id").loc["p2/incorrect_mask", "mask"] == 1  # below min_score
    assert out.set_index("image_id").loc["p2/normal", "mask"] == 2


def test_too_few_persons_take_no_automatic_action():
    base = _labels()
    persons = base["person_id"].nunique()
    kept = apply_noise_action(base, ISSUES, action="relabel", age_edges=(30, 58), min_persons=persons + 1)
    pd.testing.assert_frame_equal(kept.drop(columns="action"), base)
    acted = apply_noise_action(base, ISSUES, action="relabel", age_edges=(30, 58), min_persons=persons)
    assert (acted["action"] != "").sum() == 9
    line = applied_actions(kept, {"action": "relabel", "min_persons": persons + 1})
    assert line.startswith(f"none: {persons} persons, fewer than noise.min_persons ({persons + 1})")
    # a duplicate merge leaves fewer person ids than the action saw: what was done is still reported
    assert applied_actions(acted, {"action": "relabel", "min_persons": persons}).startswith("relabel: ")
    assert applied_actions(acted, {"action": "relabel", "min_persons": persons + 1}).startswith("relabel: ")


def test_drop_and_none():
    base = _labels()
    dropped = apply_noise_action(base, ISSUES, action="drop", age_edges=(30, 58))
    assert dropped["excluded"].sum() == 9 and (dropped["label"] == base["label"]).all()
    none = apply_noise_action(base, ISSUES, action="none", age_edges=(30, 58))
    pd.testing.assert_frame_equal(none.drop(columns="action"), base)
    with pytest.raises(ValueError, match="noise.action"):
        apply_noise_action(base, ISSUES, action="fix", age_edges=(30, 58))


def test_class_weights_balance_counts():
    label = np.array([0] * 90 + [5] * 10)
    w = class_weights(label)
    assert w[0] * 90 == pytest.approx(w[5] * 10)
    assert w[1] == 0 and np.mean(w[[0, 5]]) == pytest.approx(1)
    assert class_weights(label, power=0)[[0, 5]].tolist() == [1, 1]


def test_per_field_override_and_its_validation():
    out = apply_noise_action(_labels(), ISSUES, action="relabel", age_edges=(30, 58),
                             per_field={"gender": "drop", "mask": "none"})
    assert out.loc[out["excluded"], "person_id"].unique().tolist() == ["p1"]
    assert (out["gender"] == 1).all() and (out["mask"] == _labels()["mask"]).all()
    assert (apply_noise_action(_labels(), ISSUES, action="none", age_edges=(30, 58),
                               per_field={"gender": "drop"})["action"] == "").all()
    with pytest.raises(ValueError, match="noise.per_field.age"):
        apply_noise_action(_labels(), ISSUES, action="relabel", age_edges=(30, 58), per_field={"age": "x"})


def test_review_decisions_apply_after_oof_and_leave_the_automatic_action():
    from pipeline.curation.rebalance import apply_review

    labels = _labels().assign(age=25, corrected="")
    issues = ISSUES.assign(issue_id=["gender:p1", "mask:p2/normal", "mask:p2/incorrect_mask"],
                           kind=["gender", "mask", "mask"])
    decisions = pd.DataFrame([
        {"person_id": "p1", "image_id": "*", "field": "gender", "value": "male", "decision": "accept", "source": "t"},
        {"person_id": "p2", "image_id": "p2/normal", "field": "mask", "value": "incorrect", "decision": "reject",
         "source": "t"},
        {"person_id": "p9", "image_id": "*", "field": "gender", "value": "male", "decision": "accept", "source": "t"},
    ])
    out, left, unmatched = apply_review(labels, issues, decisions, age_edges=(30, 58))
    assert (out.loc[out.person_id == "p1", "gender"] == 0).all() and (out.loc[out.person_id == "p1", "corrected"]
                                                                       == "gender").all()
    assert (out.loc[out.person_id == "p2", "label"] == labels.loc[labels.person_id == "p2", "label"]).all()
    assert left["issue_id"].tolist() == ["mask:p2/incorrect_mask"]  # only the undecided one is acted on
    assert unmatched["person_id"].tolist() == ["p9"]


TYPE_ISSUES = pd.DataFrame([
    {"person_id": "p2", "image_id": "*", "field": "duplicate", "given": "p2", "suggested": "p1", "score": 0.99,
     "kind": "duplicate"},
    {"person_id": "p1", "image_id": "p1/mask3", "field": "outlier", "given": "keep", "suggested": "exclude",
     "score": 0.9, "kind": "outlier"},
    {"person_id": "p1", "image_id": "p1/mask4", "field": "quality", "given": "keep", "suggested": "exclude",
     "score": 0.95, "kind": "dark"},
    {"person_id": "p1", "image_id": "p1/mask5", "field": "quality", "given": "keep", "suggested": "exclude",
     "score": 0.1, "kind": "fallback"},
    {"person_id": "p1", "image_id": "p1/normal", "field": "quality", "given": "keep", "suggested": "exclude",
     "score": 0.2, "kind": "face_box"},
])


def test_issue_types_merge_duplicates_and_exclude_images_but_leave_detector_failures_to_review():
    out = apply_noise_action(_labels(), TYPE_ISSUES, action="relabel", age_edges=(30, 58)).set_index("image_id")
    assert (out.loc[[f"p2/{s}" for s in STEMS], "person_id"] == "p1").all()  # merged: one person for the folds
    assert not out.loc[[f"p2/{s}" for s in STEMS], "excluded"].any()
    assert out.loc["p1/mask3", "excluded"] and out.loc["p1/mask4", "excluded"]
    assert not out.loc["p1/mask5", "excluded"] and out.loc["p1/mask5", "action"] == ""
    assert not out.loc["p1/normal", "excluded"] and out.loc["p1/normal", "action"] == ""
    assert (out["label"] == _labels().set_index("image_id").loc[out.index, "label"]).all()  # no label changed


@pytest.mark.parametrize("act, merged, dropped", [("drop", False, True), ("none", False, False)])
def test_per_field_picks_the_action_per_issue_type(act, merged, dropped):
    out = apply_noise_action(_labels(), TYPE_ISSUES, action="relabel", age_edges=(30, 58),
                             per_field={"duplicate": act, "quality": "none"}).set_index("image_id")
    copy = out.loc[[f"p2/{s}" for s in STEMS]]
    assert (copy["person_id"] == "p1").all() == merged and copy["excluded"].all() == dropped
    assert not out.loc["p1/mask4", "excluded"] and out.loc["p1/mask3", "excluded"]


def test_applied_actions_says_none_under_none_and_counts_rows_otherwise():
    from pipeline.curation.rebalance import applied_actions

    none = apply_noise_action(_labels(), ISSUES, action="none", age_edges=(30, 58), per_field={"age": "relabel"})
    assert applied_actions(none, {"action": "none", "per_field": {"age": "relabel"}}).startswith("none")
    out = apply_noise_action(_labels(), ISSUES, action="relabel", age_edges=(30, 58), per_field={"mask": "none"})
    line = applied_actions(out, {"action": "relabel", "per_field": {"mask": "none"}})
    assert line.startswith("relabel (mask: none): ") and "relabel:gender" in line and "mask" not in line.split(": ", 2)[-1]
