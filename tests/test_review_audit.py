import pandas as pd

from pipeline import labels as L
from pipeline.review import audit as A


def labels(n=60):
    rows = []
    for p in range(n):
        pid, gender, age = f"{p + 1:06d}", p % 2, (20, 45, 65)[p % 3]
        rows += [{"image_id": f"{pid}_x/{stem}", "person_id": pid, "mask": m, "gender": gender, "age": age,
                  "split": "train"} for stem, m in L.MASK_FILES.items()]
    return pd.DataFrame(rows)


def test_audit_draws_unflagged_persons_seeded_and_stratified():
    lab = labels()
    flagged = {"000001", "000002"}
    items = A.audit_issues(lab, flagged, n=12, seed=3)
    pids = items["person_id"].tolist()
    assert len(pids) == 12 == len(set(pids)) and not set(pids) & flagged
    assert items["issue_id"].tolist() == [f"audit:{p}" for p in pids]
    assert set(items["field"]) == {"audit"} and set(items["image_id"]) == {"*"} and items["score"].isna().all()
    assert "check all 7 photos" in items["detail"].iloc[0] and items["given"].iloc[0].count(" y ") == 1
    # six strata of ~10 persons each: two of each in a sample of 12
    people = A.persons(lab).set_index("person_id").loc[pids]
    strata = (people["gender"] + L.age_bin(people["age"].to_numpy()).astype(str)).value_counts()
    assert strata.tolist() == [2] * 6
    assert A.audit_issues(lab, flagged, n=12, seed=3).equals(items)  # seeded
    assert set(pids) < set(A.audit_issues(lab, flagged, n=20, seed=3)["person_id"])  # a larger N extends
    assert A.audit_issues(lab, flagged, n=12, seed=4)["person_id"].tolist() != pids


def test_persons_audited_before_stay_items():
    lab = labels()
    later = A.draw_order(A.eligible(lab, set()), seed=0)[-1]
    items = A.audit_issues(lab, set(), n=2, seed=0, include=[later, "999999"])
    assert len(items) == 3 and later in set(items["person_id"])
