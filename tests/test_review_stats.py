import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from pipeline.curation.corrections import CORRECTION_COLUMNS
from pipeline.review import queue as Q
from pipeline.review import stats as S


def table(fields_scores):
    rows = [dict(issue_id=f"{f}:{i:06d}", person_id=f"{i:06d}", image_id="*", field=f, given="g", suggested="s",
                 score=s, kind=f) for i, (f, s) in enumerate(fields_scores)]
    return Q.items(pd.DataFrame(rows))


def decisions(t, real: dict[str, bool]):
    rows = [(r.person_id, "*", r.field, "s", "accept" if real[r.item_id] else "reject", "test")
            for r in t.itertuples() if r.item_id in real]
    return pd.DataFrame(rows, columns=CORRECTION_COLUMNS)


def test_decided_precision_is_exact_and_intervals_collapse_when_all_is_decided():
    t = table([("gender", 0.99)] * 6 + [("age", 0.8)] * 4)
    real = {i: n % 3 != 0 for n, i in enumerate(t["item_id"][:6])}
    g = S.summarize(t, decisions(t, real)).stats["label"]["gender"]
    assert (g["decided"], g["accepted"], g["precision"], g["undecided"]) == (6, 4, 4 / 6, 0)
    assert g["precision_interval"] == [4 / 6, 4 / 6] and g["expected_errors_undecided_interval"] == [0, 0]
    a = S.summarize(t, decisions(t, real)).stats["label"]["age"]
    assert a["decided"] == 0 and a["precision"] is None and a["undecided"] == 4
    assert 0 <= a["expected_errors_undecided_interval"][0] <= a["expected_errors_undecided"] <= 4


def test_decisions_recalibrate_the_undecided_and_rerank_across_fields():
    t = table([("quality", 1.0)] * 30 + [("outlier", 0.9)] * 10)
    before = S.summarize(t, decisions(t, {}))
    wrong_half = {i: n % 2 == 0 for n, i in enumerate(t["item_id"][:16])}  # the 1.0 flags are half wrong
    after = S.summarize(t, decisions(t, wrong_half))
    q0, q1 = before.stats["label"]["quality"], after.stats["label"]["quality"]
    assert q0["expected_errors_undecided"] / 30 > 0.85
    assert 0.3 < q1["expected_errors_undecided"] / 14 < 0.7 and after.decisions["quality"] == 16
    p = after.probability
    # before: quality (1.0) ahead of outlier (0.9); after: the undecided outliers first
    assert before.probability[t["item_id"][20]] > before.probability[t["item_id"][35]]
    assert p[t["item_id"][20]] < p[t["item_id"][35]]


def test_the_intervals_cover_a_simulated_truth_at_about_their_rate():
    rng = np.random.default_rng(0)
    hits = []
    for rep in range(30):
        scores = rng.uniform(0.5, 1.0, 60)
        real = rng.random(60) < (0.3 + 0.5 * (scores - 0.5) / 0.5)  # the flagger is overconfident
        t = table([("gender", s) for s in scores])
        picked = rng.choice(60, 20, replace=False)
        s = S.summarize(t, decisions(t, {t["item_id"][i]: bool(real[i]) for i in picked}), seed=rep).stats
        lo, hi = s["label"]["gender"]["expected_errors_undecided_interval"]
        truth = int(real.sum() - real[picked].sum())
        hits.append(lo <= truth <= hi)
    assert np.mean(hits) >= 0.8


def test_audit_missed_errors_are_beta_binomial():
    t = Q.items(pd.DataFrame([dict(issue_id=f"audit:{i:06d}", person_id=f"{i:06d}", image_id="*", field="audit",
                                   given="", suggested="", score=np.nan, kind="audit") for i in range(40)]))
    none = S.summarize(t, decisions(t, {}), population=300).stats["audit"]
    assert none["persons"] == 0 and none["expected_missed_errors"] is None
    found = {i: n < 3 for n, i in enumerate(t["item_id"][:30])}
    rows = pd.DataFrame([(i.split(":")[1], "*", "audit", "1" if r else "0", "accept" if r else "reject", "t")
                         for i, r in found.items()], columns=CORRECTION_COLUMNS)
    a = S.summarize(t, rows, population=300).stats["audit"]
    assert (a["persons"], a["errors_found"], a["listed"]) == (30, 3, 40)
    assert a["expected_missed_errors"] == pytest.approx(3 + 270 * 3.5 / 31)
    lo, hi = a["expected_missed_errors_interval"]
    assert (lo, hi) == (3 + scipy_stats.betabinom(270, 3.5, 27.5).ppf(0.05), 3 + scipy_stats.betabinom(270, 3.5, 27.5).ppf(0.95))
    assert a["recall"] is None or 0 <= a["recall"] <= 1


def test_outcomes_follow_the_accepted_rows_of_the_items_field():
    issues = pd.DataFrame([
        dict(issue_id="mask:p/incorrect_mask", person_id="p", image_id="p/incorrect_mask", field="mask", given="incorrect",
             suggested="normal", score=0.9, kind="swap"),
        dict(issue_id="mask:p/normal", person_id="p", image_id="p/normal", field="mask", given="normal",
             suggested="incorrect", score=0.9, kind="swap"),
        dict(issue_id="gender:q", person_id="q", image_id="*", field="gender", given="male", suggested="female",
             score=0.9, kind="gender"),
        dict(issue_id="age:r", person_id="r", image_id="*", field="age", given="<30", suggested="30-57",
             score=0.9, kind="age"),
    ])
    t = Q.items(issues)
    rows = pd.DataFrame([  # the swap fixed photo by photo (its suggestion rejected), gender rejected
        ("p", "*", "mask", "swap_incorrect_normal", "reject", "t"), ("p", "p/mask3", "mask", "incorrect", "accept", "t"),
        ("q", "*", "gender", "female", "reject", "t")], columns=CORRECTION_COLUMNS)
    assert S.outcomes(t, rows).tolist()[:2] == [1.0, 0.0] and np.isnan(S.outcomes(t, rows).iloc[2])
