import pandas as pd

from pipeline import labels as L
from pipeline.curation.relabel import relabel


def _manifest() -> pd.DataFrame:
    rows = [{"image_id": f"{pid}_x/{stem}", "person_id": pid, "split": "train", "mask": L.mask_from_stem(stem),
             "gender": 1, "age": age} for pid, age in (("000001", 25), ("000002", 58), ("000003", 45))
            for stem in L.MASK_FILES]
    rows.append({"image_id": "e.jpg", "person_id": "", "split": "eval", "mask": -1, "gender": -1, "age": -1})
    return pd.DataFrame(rows)


def test_age_edges_move_the_old_class_and_rows_point_into_the_manifest():
    labels, unmatched = relabel(_manifest(), age_edges=(30, 58))
    assert len(labels) == 21 and unmatched.empty and labels["row"].tolist() == list(range(21))
    by_person = labels.groupby("person_id")["age_bin"].first().to_dict()
    assert by_person == {"000001": 0, "000002": 2, "000003": 1}
    assert relabel(_manifest(), age_edges=(30, 60))[0].groupby("person_id")["age_bin"].first()["000002"] == 1
    normal = labels.set_index("image_id").loc["000002_x/normal"]
    assert normal["label"] == L.encode(2, 1, 2) and not labels["excluded"].any()


def test_drop_band_excludes_the_edge_ages():
    labels, _ = relabel(_manifest(), age_edges=(30, 58), drop_band=[57, 59])
    assert labels.loc[labels["excluded"], "person_id"].unique().tolist() == ["000002"]


def test_accepted_corrections_apply_and_unknown_ids_are_returned():
    corrections = pd.DataFrame([
        {"person_id": "000001", "image_id": "*", "field": "gender", "value": "male", "decision": "accept", "source": "t"},
        {"person_id": "000003", "image_id": "*", "field": "age", "value": "60", "decision": "reject", "source": "t"},
        {"person_id": "999999", "image_id": "*", "field": "age", "value": "20", "decision": "accept", "source": "t"},
    ])
    labels, unmatched = relabel(_manifest(), age_edges=(30, 58), corrections=corrections)
    p1 = labels[labels["person_id"] == "000001"]
    assert (p1["gender"] == 0).all() and (p1["corrected"] == "gender").all()
    assert (labels.loc[labels["person_id"] == "000003", "age"] == 45).all()  # rejected: untouched
    assert unmatched["person_id"].tolist() == ["999999"]
