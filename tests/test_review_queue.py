import pandas as pd
import pytest

from pipeline.review import queue as Q


def issue(issue_id, field, score, kind=None, person="000001", image="*"):
    return dict(issue_id=issue_id, person_id=person, image_id=image, field=field, given="g", suggested="s",
                score=score, kind=kind or field)


ISSUES = pd.DataFrame([
    issue("quality:a/mask1", "quality", 1.0, "dark", image="a/mask1"),
    issue("quality:a/mask2", "quality", 0.0, "fallback", image="a/mask2"),
    issue("outlier:a/mask3", "outlier", 1.0, image="a/mask3"),
    issue("gender:000002", "gender", 0.9, person="000002"),
    issue("mask:b/incorrect_mask", "mask", 0.95, "swap", "000003", "b/incorrect_mask"),
    issue("mask:b/normal", "mask", 0.95, "swap", "000003", "b/normal"),
    issue("age:000004", "age", 0.9, person="000004"),
    issue("duplicate:000005", "duplicate", 0.99, person="000005"),
])


def test_detector_fallbacks_below_the_threshold_are_notes_not_items():
    note = Q.is_note(ISSUES, threshold=0.5)
    assert ISSUES.loc[note, "issue_id"].tolist() == ["quality:a/mask2"]
    assert not Q.is_note(ISSUES.assign(score=0.6), threshold=0.5).any()  # scored above: an item


def test_a_swap_pair_is_one_item_and_label_fixes_come_first_ties_by_field_then_id():
    table = Q.items(ISSUES[~Q.is_note(ISSUES)])
    assert len(table) == 6
    swap = table[table["field"] == "mask"].iloc[0]
    assert swap["ids"] == ["mask:b/incorrect_mask", "mask:b/normal"] and swap["image_id"] == "*"
    ordered = Q.order(table)
    # label fixes by score (gender before age at the same score), then the photo issues
    assert ordered["item_id"].tolist() == ["duplicate:000005", "mask:b/incorrect_mask", "gender:000002", "age:000004",
                                           "outlier:a/mask3", "quality:a/mask1"]


def test_refitted_probability_reorders_undecided_and_decided_items_lead():
    table = Q.items(ISSUES[~Q.is_note(ISSUES)])
    p = {"duplicate:000005": 0.1, "gender:000002": 0.8}
    ordered = Q.order(table, probability=p, decided=["age:000004"])
    assert ordered["item_id"].tolist() == ["age:000004", "mask:b/incorrect_mask", "gender:000002",
                                           "duplicate:000005", "outlier:a/mask3", "quality:a/mask1"]


@pytest.mark.parametrize("values, fields", [
    (["labels"], ["gender", "age", "mask", "duplicate"]), (["photos"], ["outlier", "quality"]),
    (["audit", "gender"], ["gender", "audit"]), ([], []),
])
def test_expand_fields(values, fields):
    assert Q.expand_fields(values) == fields


def test_unknown_field_and_unknown_id_messages_say_what_is_allowed():
    with pytest.raises(ValueError, match="labels"):
        Q.expand_fields(["blur"])
    message = Q.unknown_ids_message(["gender:00002"], ISSUES["issue_id"])
    assert "closest: gender:000002" in message and "<field>:<person_id>" in message and "audit:" in message


def test_rows_in_order_keeps_a_pair_together():
    table = Q.order(Q.items(ISSUES))
    rows = Q.rows_in_order(ISSUES, table.head(2))
    assert rows["issue_id"].tolist() == ["duplicate:000005", "mask:b/incorrect_mask", "mask:b/normal"]
