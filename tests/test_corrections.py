from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import labels as L
from pipeline.curation.corrections import (CORRECTION_COLUMNS, append_decisions, apply_corrections, decided,
                                  read_corrections, target_ages)

EDGES = (30, 60)
PUBLIC = Path(__file__).resolve().parents[1] / "corrections" / "public_label_fixes.csv"


def make_labels(persons=("000001", "000002"), ages=(25, 45), genders=(0, 1)) -> pd.DataFrame:
    rows = []
    for pid, age, gender in zip(persons, ages, genders):
        folder = f"{pid}_{L.GENDERS[gender]}_Asian_{age}"
        for stem, mask in L.MASK_FILES.items():
            rows.append({"image_id": f"{folder}/{stem}", "person_id": pid, "mask": mask, "gender": gender, "age": age})
    df = pd.DataFrame(rows)
    df["age_bin"] = L.age_bin(df["age"].to_numpy(), EDGES)
    df["label"] = L.encode(df["mask"], df["gender"], df["age_bin"])
    return df


def issue(issue_id, person_id, image_id, field, given, suggested, kind, score=0.9):
    return dict(issue_id=issue_id, person_id=person_id, image_id=image_id, field=field, given=given,
                suggested=suggested, score=score, kind=kind)


def corrections(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CORRECTION_COLUMNS)


def test_missing_file_reads_as_empty_frame(tmp_path):
    df = read_corrections(tmp_path / "nope.csv")
    assert list(df.columns) == CORRECTION_COLUMNS and df.empty


def test_append_is_idempotent_and_latest_wins(tmp_path):
    path = tmp_path / "data" / "corrections.csv"
    rows = pd.DataFrame([issue("gender:000001", "000001", "*", "gender", "male", "female", "gender")])
    append_decisions(path, rows, "accept", "me")
    append_decisions(path, rows, "accept", "me")
    assert len(read_corrections(path)) == 1
    append_decisions(path, rows, "reject", "you")
    df = read_corrections(path)
    assert df.to_dict("records") == [{"person_id": "000001", "image_id": "*", "field": "gender", "value": "female",
                                      "decision": "reject", "source": "you"}]


def test_swap_pair_becomes_one_person_level_row(tmp_path):
    path = tmp_path / "corrections.csv"
    pair = pd.DataFrame([issue("mask:a/incorrect_mask", "000001", "a/incorrect_mask", "mask", "incorrect", "normal", "swap"),
                         issue("mask:a/normal", "000001", "a/normal", "mask", "normal", "incorrect", "swap")])
    df = append_decisions(path, pair, "accept", "me")
    assert df[["person_id", "image_id", "field", "value"]].values.tolist() == [["000001", "*", "mask", "swap_incorrect_normal"]]
    assert decided(pair, df).tolist() == [True, True]
    assert decided(pair, df, decision="reject").tolist() == [False, False]


def test_person_ids_keep_leading_zeros(tmp_path):
    path = tmp_path / "c.csv"
    corrections(("000020", "*", "age", "29", "accept", "x")).to_csv(path, index=False)
    assert read_corrections(path)["person_id"].tolist() == ["000020"]


def test_apply_gender_age_and_swap():
    labels = make_labels()
    c = corrections(("000001", "*", "gender", "female", "accept", "a"),
                    ("000002", "*", "mask", "swap_incorrect_normal", "accept", "a"),
                    ("000002", "*", "age", "<30", "accept", "a"),
                    ("000001", "*", "age", "70", "reject", "a"))
    out, unmatched = apply_corrections(labels, c, age_edges=EDGES)
    assert unmatched.empty
    p1, p2 = out[out["person_id"] == "000001"], out[out["person_id"] == "000002"]
    assert (p1["gender"] == 1).all() and (p1["age"] == 25).all() and (p1["corrected"] == "gender").all()
    stems = p2["image_id"].str.rsplit("/", n=1).str[-1]
    assert p2.loc[stems == "incorrect_mask", "mask"].item() == 2 and p2.loc[stems == "normal", "mask"].item() == 1
    assert (p2["age"] == 29).all() and (p2["age_bin"] == 0).all()
    assert set(p2["corrected"]) == {"age", "mask,age"}
    np.testing.assert_array_equal(out["label"], L.encode(out["mask"], out["gender"], out["age_bin"]))


def test_apply_image_level_mask_changes_only_that_image():
    labels = make_labels()
    image = labels["image_id"].iloc[0]
    out, _ = apply_corrections(labels, corrections(("000001", image, "mask", "normal", "accept", "a")), age_edges=EDGES)
    changed = out["label"] != labels["label"]
    assert changed.tolist() == [True] + [False] * (len(labels) - 1)
    assert out.loc[0, "mask"] == 2 and out.loc[0, "corrected"] == "mask"


def test_apply_keeps_name_columns_as_names():
    labels = make_labels().assign(gender=lambda d: np.where(d["gender"] == 1, "female", "male"))
    out, _ = apply_corrections(labels, corrections(("000001", "*", "gender", "female", "accept", "a")), age_edges=EDGES)
    assert set(out["gender"]) == {"female"}


def test_unmatched_corrections_are_returned():
    labels = make_labels()
    c = corrections(("999999", "*", "gender", "male", "accept", "a"), ("000001", "x/mask1", "mask", "normal", "accept", "a"))
    out, unmatched = apply_corrections(labels, c, age_edges=EDGES)
    assert unmatched["reason"].tolist() == ["no such person", "no such image"]
    assert (out["corrected"] == "").all()


def test_bad_value_raises():
    with pytest.raises(ValueError):
        apply_corrections(make_labels(), corrections(("000001", "*", "gender", "x", "accept", "a")), age_edges=EDGES)


@pytest.mark.parametrize("value,ages,expected", [
    ("29", [25, 45], [29, 29]), ("<30", [25, 45], [25, 29]), ("30-59", [25, 45, 60], [30, 45, 59]),
    (">=60", [25, 60], [60, 60]),
])
def test_target_ages(value, ages, expected):
    assert target_ages(value, np.array(ages)).tolist() == expected


def test_public_fixes_file_applies_cleanly():
    public = read_corrections(PUBLIC)
    assert len(public) == 19 and (public["decision"] == "accept").all() and (public["image_id"] == "*").all()
    persons = public["person_id"].unique()
    labels = make_labels(persons, ages=[45] * len(persons), genders=[0] * len(persons))
    missing = persons[0]
    out, unmatched = apply_corrections(labels[labels["person_id"] != missing], public, age_edges=EDGES)
    assert unmatched["person_id"].tolist() == [missing] and unmatched["reason"].tolist() == ["no such person"]
    out, unmatched = apply_corrections(labels, public, age_edges=EDGES)
    corrected = set(out.loc[out["corrected"] != "", "person_id"])
    # the male->male gender fixes change nothing here; every other fix changes its person
    assert corrected == set(public.loc[public["value"] != "male", "person_id"])


def _writer(args):
    path, person, n = args
    for i in range(n):
        rows = pd.DataFrame([issue(f"gender:{person}{i:03d}", f"{person}{i:03d}", "*", "gender", "male", "female",
                                   "gender")])
        append_decisions(path, rows, "accept", person)
    return n


def test_two_concurrent_writers_lose_nothing_and_never_leave_a_half_line(tmp_path):
    import multiprocessing

    path = tmp_path / "corrections.csv"
    n = 40
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pending = pool.map_async(_writer, [(path, "a", n), (path, "b", n)])
        seen = 0
        while not pending.ready():  # a reader meanwhile always finds a whole file
            if path.exists():
                text = path.read_text()
                assert text.endswith("\n") and all(len(line.split(",")) == 6 for line in text.splitlines())
                seen += 1
        assert pending.get() == [n, n]
    df = read_corrections(path)
    assert len(df) == 2 * n and sorted(df["source"].value_counts().tolist()) == [n, n]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".corrections.csv.") and p.suffix == ".csv"]


def test_clear_removes_only_the_given_decisions(tmp_path):
    from pipeline.curation.corrections import clear_decisions

    path = tmp_path / "corrections.csv"
    a = pd.DataFrame([issue("gender:000001", "000001", "*", "gender", "male", "female", "gender")])
    b = pd.DataFrame([issue("age:000002", "000002", "*", "age", "<30", "30-57 (est. 34.2 y)", "age")])
    append_decisions(path, a, "accept", "me")
    append_decisions(path, b, "accept", "me", value="41")
    assert read_corrections(path)["value"].tolist() == ["female", "41"]
    assert clear_decisions(path, a)["person_id"].tolist() == ["000002"]
    append_decisions(path, b, "accept", "me")
    assert read_corrections(path)["value"].tolist() == ["30-57"]  # the note after the label is not written


@pytest.mark.parametrize("field, value, swap, ok", [
    ("gender", "female", False, True), ("gender", "Female", False, False), ("mask", "normal", False, True),
    ("mask", "normal", True, False), ("mask", "swap_incorrect_normal", True, True), ("age", "44", False, True),
    ("age", "30-57", False, True), ("age", ">=58", False, True), ("age", "0", False, False),
    ("age", "old", False, False), ("race", "x", False, False), ("duplicate", "000123", False, True),
    ("duplicate", "exclude", False, True), ("outlier", "exclude", False, True), ("quality", "exclude", False, True),
    ("quality", "dark", False, False), ("outlier", "000123", False, False),
])
def test_check_value(field, value, swap, ok):
    from pipeline.curation.corrections import check_value

    if ok:
        assert check_value(field, value, swap=swap) == value
    else:
        with pytest.raises(ValueError):
            check_value(field, value, swap=swap)


def test_accepted_issue_types_merge_a_duplicate_and_exclude_images_rejected_do_nothing(tmp_path):
    labels = make_labels(persons=("000001", "000002", "000003"), ages=(25, 45, 33), genders=(0, 1, 0))
    img = labels.loc[labels["person_id"] == "000003", "image_id"].iloc[2]
    issues = pd.DataFrame([
        issue("duplicate:000002", "000002", "*", "duplicate", "000002", "000001", "duplicate"),
        issue(f"quality:{img}", "000003", img, "quality", "keep", "exclude", "dark"),
        issue("outlier:x", "000001", labels["image_id"].iloc[0], "outlier", "keep", "exclude", "outlier"),
    ])
    path = tmp_path / "corrections.csv"
    append_decisions(path, issues.iloc[:2], "accept", "test")
    append_decisions(path, issues.iloc[2:], "reject", "test")
    rows = read_corrections(path)
    assert rows["field"].tolist() == ["duplicate", "quality", "outlier"]
    assert rows["value"].tolist() == ["000001", "exclude", "exclude"]
    assert decided(issues, rows).all()
    out, unmatched = apply_corrections(labels, rows, age_edges=EDGES)
    assert unmatched.empty
    assert (out.loc[labels["person_id"] == "000002", "person_id"] == "000001").all()
    assert out.loc[out["image_id"] == img, "excluded"].all() and out["excluded"].sum() == 1
    assert (out["label"] == labels["label"]).all()
    assert set(out["corrected"]) == {"", "duplicate", "quality"}


@pytest.mark.parametrize("line, message", [
    ("000124,*,age,,,", "decision '': should be accept or reject"),  # the short line once rewritten so
    ("000124,*,age", "3 fields, should be 6"),
    ("000124,*,age,,accept,s", "value ''"),
    ("000124,*,race,x,accept,s", "field 'race'"),
    ("000124,*,gender,female,maybe,s", "decision 'maybe'"),
    ("000124,*,audit,0,accept,s", "audit value '0'"),
    (",*,gender,female,accept,s", "person_id is empty"),
])
def test_a_malformed_line_is_refused_with_its_line_and_nothing_is_written(tmp_path, line, message):
    import re

    from pipeline.curation.corrections import CorrectionsError

    path = tmp_path / "corrections.csv"
    path.write_text("person_id,image_id,field,value,decision,source\n000001,*,gender,female,accept,s\n" + line + "\n")
    before = path.read_bytes()
    with pytest.raises(CorrectionsError, match=re.escape(f"{path}:3: {message}")):
        read_corrections(path)
    rows = pd.DataFrame([issue("gender:000002", "000002", "*", "gender", "male", "female", "gender")])
    with pytest.raises(CorrectionsError):
        append_decisions(path, rows, "accept", "me")
    assert path.read_bytes() == before


def test_a_header_without_the_columns_is_refused_on_line_1(tmp_path):
    from pipeline.curation.corrections import CorrectionsError, check_file

    path = tmp_path / "c.csv"
    path.write_text("person,field\n1,gender\n")
    assert check_file(path)[0].startswith(f"{path}:1: header person,field lacks")
    with pytest.raises(CorrectionsError):
        read_corrections(path)


def test_a_malformed_new_row_is_never_written(tmp_path):
    from pipeline.curation.corrections import CorrectionsError

    path = tmp_path / "c.csv"
    audit = pd.DataFrame([issue("audit:000001", "000001", "*", "audit", "", "", "audit")])
    with pytest.raises(CorrectionsError, match="audit value"):
        append_decisions(path, audit, "accept", "me")  # an audit is a reject (all right) or a fix
    assert not path.exists()
    append_decisions(path, audit, "reject", "me")
    assert read_corrections(path)[["field", "value", "decision"]].values.tolist() == [["audit", "0", "reject"]]


@pytest.mark.parametrize("fixes, expected", [
    ([("gender", "female")], [["000001", "*", "gender", "female", "accept"]]),
    ([("gender", "male")], [["000001", "*", "gender", "male", "reject"]]),  # the given label: it is right
    ([("age", "31"), ("mask3", "incorrect")], [["000001", "*", "age", "31", "accept"],
                                               ["000001", "000001_male_Asian_25/mask3", "mask", "incorrect", "accept"]]),
])
def test_fix_rows(fixes, expected):
    from pipeline.curation.corrections import fix_rows

    person = make_labels()[lambda d: d["person_id"] == "000001"]
    assert fix_rows(person, fixes)[["person_id", "image_id", "field", "value", "decision"]].values.tolist() == expected


@pytest.mark.parametrize("text, message", [
    ("gender", "KEY=VALUE"), ("race=x", "photo stem"), ("age=", "KEY=VALUE"),
])
def test_parse_fix_says_what_a_fix_is(text, message):
    from pipeline.curation.corrections import parse_fix

    with pytest.raises(ValueError, match=message):
        parse_fix(text)


@pytest.mark.parametrize("fixes, message", [
    ([("gender", "robot")], "gender must be one of"), ([("age", "old")], "years"), ([("mask3", "off")], "mask must be"),
])
def test_fix_rows_refuse_bad_values(fixes, message):
    from pipeline.curation.corrections import fix_rows

    with pytest.raises(ValueError, match=message):
        fix_rows(make_labels()[lambda d: d["person_id"] == "000001"], fixes)


def test_fixes_and_audits_apply_through_rebalance_and_leave_the_decided_issues_alone(tmp_path):
    """What the rebalance stage does with the new rows (apply_review -> apply_corrections): a fix on
    a gender item with another label, an audit that found a wrong mask, an audit all right."""
    from pipeline.curation.corrections import record_fix
    from pipeline.curation.rebalance import apply_review

    labels = make_labels(persons=("000001", "000002", "000003"), ages=(25, 45, 33), genders=(0, 1, 0))
    path = tmp_path / "corrections.csv"
    gender = pd.DataFrame([issue("gender:000001", "000001", "*", "gender", "male", "female", "gender")])
    audit2 = pd.DataFrame([issue("audit:000002", "000002", "*", "audit", "", "", "audit")])
    audit3 = pd.DataFrame([issue("audit:000003", "000003", "*", "audit", "", "", "audit")])
    person = {p: labels[labels["person_id"] == p] for p in ("000001", "000002")}
    record_fix(path, gender, person["000001"], [("age", "44")], "me")  # gender right, the age wrong
    record_fix(path, audit2, person["000002"], [("mask2", "normal")], "me")
    append_decisions(path, audit3, "reject", "me")
    rows = read_corrections(path)
    assert rows[["person_id", "field", "value", "decision"]].values.tolist() == [
        ["000001", "age", "44", "accept"], ["000001", "gender", "female", "reject"],
        ["000002", "mask", "normal", "accept"], ["000002", "audit", "1", "accept"], ["000003", "audit", "0", "reject"]]
    out, left, unmatched = apply_review(labels, gender, rows, age_edges=EDGES)
    assert unmatched.empty and left.empty  # the gender issue is decided: no automatic action on it
    p1, p2, p3 = (out[out["person_id"] == p] for p in ("000001", "000002", "000003"))
    assert (p1["age"] == 44).all() and (p1["gender"] == 0).all() and (p1["age_bin"] == 1).all()
    assert p2.loc[p2["image_id"].str.endswith("/mask2"), "mask"].item() == 2 and (p2["corrected"] != "").sum() == 1
    assert (p3["label"].to_numpy() == labels.loc[labels["person_id"] == "000003", "label"].to_numpy()).all()
    np.testing.assert_array_equal(out["label"], L.encode(out["mask"], out["gender"], out["age_bin"]))
