"""A truthful reviewer on the synthetic default run: does the review measure the flagger honestly?

The reviewer knows data/synthetic/truth.csv. On each seed it decides the first `--decisions` items
of the queue (label fixes first; audits aside) and `--audits` audit items, exactly as the truth
says (accept a real issue, reject a false one; an audit finds a wrong label or not), and then:

- checks that the decided precision of every field is exact (accepted / decided = the truth's);
- checks whether the 90 % intervals cover the truth: `precision_interval` (the precision of all of
  a field's flags), `expected_errors_undecided_interval` (real issues among the undecided) and the
  audit's `expected_missed_errors_interval` (unflagged persons with a wrong label);
- compares the AP of the undecided remainder ordered by the raw scores with the AP of the same
  items re-ranked by P(real) refitted on the decisions;
- counts the decisions, in queue order, after which a field's precision_interval is within +-0.1.

Seeds: seed 0 is the default run itself; seed s > 0 resamples its train persons with replacement
(a bootstrap: every drawn copy of a person brings its issues, its truth and its labels under a new
id), so the flagger's behaviour is the run's and only the data set varies. Nothing is retrained,
which keeps it to a minute or two on 2 cores. Inputs default to the outputs of `dvc repro`.

    python benchmarks/review.py [--seeds 6] [--decisions 30] [--audits 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.curation.corrections import CORRECTION_COLUMNS, decision_keys
from pipeline.curation.metrics import person_truth, ranked_ap
from pipeline.labels import AUDIT, PERSON
from pipeline.review import queue as Q
from pipeline.review import session
from pipeline.review.stats import summarize


def item_truth(issues: pd.DataFrame, truth: pd.DataFrame, *, age_edges) -> pd.Series:
    """Per issue row: is the issue real, by the truth (person level for gender / age / a swap,
    the image for a lone mask flag, outlier and quality; the pair for a duplicate)."""
    t = truth[truth["split"] == "train"].astype({"person_id": str, "image_id": str})
    wrong = person_truth(t, age_edges=age_edges)
    image_mask = dict(zip(t["image_id"], t["mask_given"] != t["mask_true"]))
    noise = dict(zip(t["image_id"], t["noise"]))
    pairs = {frozenset((str(a), str(b))) for a, b in
             zip(t.loc[t["noise"] == "duplicate_person", "person_id"], t.loc[t["noise"] == "duplicate_person", "duplicate_of"])}
    out = []
    for r in issues.itertuples():
        pid, f = str(r.person_id), r.field
        if f in ("gender", "age") or (f == "mask" and r.kind == "swap"):
            out.append(bool(wrong[f].get(pid, False)))
        elif f == "mask":
            out.append(bool(image_mask.get(r.image_id, False)))
        elif f == "duplicate":
            out.append(frozenset((pid, str(r.suggested))) in pairs)
        else:
            out.append(noise.get(r.image_id) == {"outlier": "outlier_image", "quality": "low_quality"}[f])
    return pd.Series(out, index=issues.index)


def resample(issues: pd.DataFrame, people: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seed 0: as is. Otherwise the persons drawn with replacement, each copy under a new id."""
    if seed == 0:
        return issues, people
    rng = np.random.default_rng(seed)
    drawn = rng.choice(people["person_id"].to_numpy(), size=len(people), replace=True)
    copies, rows = [], []
    by_person = {p: g for p, g in issues.groupby("person_id")}
    info = people.set_index("person_id")
    for k, pid in enumerate(drawn):
        new = f"{pid}.{k}"
        copies.append({"person_id": new, **info.loc[pid].to_dict()})
        if pid in by_person:
            g = by_person[pid].copy()
            for col in ("issue_id", "image_id"):
                g[col] = g[col].str.replace(pid, new, regex=False)
            g["person_id"] = new
            rows.append(g)
    return pd.concat(rows, ignore_index=True), pd.DataFrame(copies)


def decide(queue: session.Queue, real: dict[str, bool], *, decisions: int, audits: int) -> pd.DataFrame:
    """The corrections rows of a truthful reviewer: the first `decisions` items, the first `audits` audits."""
    table = queue.table
    picked = pd.concat([table[table["field"] != AUDIT].head(decisions), table[table["field"] == AUDIT].head(audits)])
    rows = []
    for r in picked.itertuples():
        key = decision_keys(queue.rows[queue.rows["issue_id"] == r.item_id]).iloc[0]
        if r.field == AUDIT:
            rows.append((r.person_id, PERSON, AUDIT, "1" if real[r.item_id] else "0",
                         "accept" if real[r.item_id] else "reject", "truth"))
        else:
            rows.append((key["person_id"], key["image_id"], key["field"], key["value"],
                         "accept" if real[r.item_id] else "reject", "truth"))
    return pd.DataFrame(rows, columns=CORRECTION_COLUMNS)


def covers(interval, value) -> bool:
    return interval is not None and interval[0] - 1e-9 <= value <= interval[1] + 1e-9


def decisions_for(table: pd.DataFrame, real: dict[str, bool], field: str, half_width: float = 0.1) -> int | None:
    """Decisions on `field`'s items, in queue order, until its precision_interval is within +-half_width."""
    mine = table[table["field"] == field].reset_index(drop=True)
    for n in range(0, len(mine) + 1):
        done = mine.head(n)
        c = pd.DataFrame([(r.person_id, r.image_id, r.field, "x", "accept" if real[r.item_id] else "reject", "t")
                          for r in done.itertuples()], columns=CORRECTION_COLUMNS)
        lo, hi = summarize(mine, c, fields=(field,)).stats["label"][field]["precision_interval"]
        if (hi - lo) / 2 <= half_width:
            return n
    return None


def run(args: argparse.Namespace) -> dict:
    edges = tuple(args.age_edges)
    issues = pd.read_csv(args.issues, dtype=str, keep_default_na=False).astype({"score": float})
    truth = pd.read_csv(args.truth, dtype={"person_id": str, "image_id": str, "duplicate_of": str}, keep_default_na=False)
    labels = pd.read_parquet(args.labels).astype({"person_id": str})
    issues = issues[~Q.is_note(issues)].reset_index(drop=True)
    issues["real"] = item_truth(issues, truth, age_edges=edges)
    people = session.A.persons(labels)[["person_id", "gender", "age"]]
    wrong_person = person_truth(truth[truth["split"] == "train"], age_edges=edges)[["mask", "gender", "age"]].any(axis=1)
    people["wrong"] = people["person_id"].map(wrong_person).fillna(False).astype(bool)
    results = []
    for seed in range(args.seeds):
        rows, persons = resample(issues, people, seed)
        base = persons["person_id"].str.split(".").str[0]
        persons = persons.assign(split="train")
        real = dict(zip(rows["issue_id"], rows["real"]))
        for pid, w in zip(persons["person_id"], persons["wrong"]):
            real[f"{AUDIT}:{pid}"] = bool(w)
        q0 = session.build(rows.drop(columns="real"), pd.DataFrame(columns=CORRECTION_COLUMNS), labels=persons,
                           audit=args.audits, seed=seed, age_edges=edges)
        corrections = decide(q0, real, decisions=args.decisions, audits=args.audits)
        q = session.build(rows.drop(columns="real"), corrections, labels=persons, audit=args.audits, seed=seed,
                          age_edges=edges)
        t = q.table.assign(real=q.table["item_id"].map(real))
        st = q.summary.stats
        checks = []
        for f, s in st["label"].items():
            mine = t[t["field"] == f]
            if mine.empty:
                continue
            done = mine["outcome"].notna()
            if done.any():  # exact by construction: what the reviewer said is what the truth says
                assert s["precision"] == mine.loc[done, "real"].mean()
            checks.append({"seed": seed, "field": f, "what": "precision_interval", "decided": int(done.sum()),
                           "items": len(mine), "covered": covers(s["precision_interval"], mine["real"].mean()),
                           "truth": float(mine["real"].mean()), "interval": s["precision_interval"]})
            if (~done).any():
                checks.append({"seed": seed, "field": f, "what": "expected_errors_undecided_interval",
                               "decided": int(done.sum()), "items": len(mine), "truth": int(mine.loc[~done, "real"].sum()),
                               "interval": s["expected_errors_undecided_interval"],
                               "covered": covers(s["expected_errors_undecided_interval"], mine.loc[~done, "real"].sum())})
        flagged = session.A.flagged_persons(rows)
        missed = int(persons.loc[~persons["person_id"].isin(flagged), "wrong"].sum())
        a = st["audit"]
        checks.append({"seed": seed, "field": AUDIT, "what": "expected_missed_errors_interval", "decided": a["persons"],
                       "items": a["population"], "truth": missed, "interval": a["expected_missed_errors_interval"],
                       "covered": covers(a["expected_missed_errors_interval"], missed)})
        # the undecided remainder (audits aside): raw order against re-ranked order
        rest = t[t["outcome"].isna() & (t["field"] != AUDIT)]
        raw = Q.order(rest.drop(columns=["p"]))
        reranked = Q.order(rest, probability=q.summary.probability)
        hits_raw, hits_new = raw["item_id"].map(real).to_numpy(bool), reranked["item_id"].map(real).to_numpy(bool)
        results.append({"seed": seed, "checks": checks, "ap_raw": ranked_ap(hits_raw, int(hits_raw.sum())),
                        "ap_reranked": ranked_ap(hits_new, int(hits_new.sum())), "remainder": len(rest),
                        "recall": a["recall"], "recall_interval": a["recall_interval"],
                        "true_recall": _true_recall(t, missed)})
        if seed == 0:
            results[-1]["decisions_for_0.1"] = {f: decisions_for(q0.table, real, f) for f in st["label"]
                                                if (q0.table["field"] == f).any()}
            results[-1]["field_items"] = {f: int((q0.table["field"] == f).sum()) for f in st["label"]}
    return summarize_runs(results, args)


def _true_recall(t: pd.DataFrame, missed: int) -> float:
    real_flagged = int(t.loc[t["field"].isin(L.FIELDS), "real"].sum())
    return real_flagged / (real_flagged + missed) if real_flagged + missed else 1.0


def summarize_runs(results: list[dict], args: argparse.Namespace) -> dict:
    checks = pd.DataFrame([c for r in results for c in r["checks"]])
    by_what = checks.groupby("what")["covered"].agg(["mean", "size"])
    with_decisions = checks[checks["decided"] > 0].groupby("what")["covered"].agg(["mean", "size"])
    out = {
        "seeds": args.seeds, "decisions": args.decisions, "audits": args.audits,
        "coverage": float(checks["covered"].mean()), "intervals": int(len(checks)),
        "coverage_by_interval": {w: {"coverage": float(r["mean"]), "n": int(r["size"])} for w, r in by_what.iterrows()},
        "coverage_fields_with_decisions": {w: {"coverage": float(r["mean"]), "n": int(r["size"])}
                                           for w, r in with_decisions.iterrows()},
        "coverage_by_field": {f: float(g["covered"].mean()) for f, g in checks.groupby("field")},
        "ap_remainder_raw": float(np.mean([r["ap_raw"] for r in results])),
        "ap_remainder_reranked": float(np.mean([r["ap_reranked"] for r in results])),
        "ap_per_seed": [(r["ap_raw"], r["ap_reranked"]) for r in results],
        "recall": [(r["recall"], r["recall_interval"], r["true_recall"]) for r in results],
        "decisions_for_0.1": results[0].get("decisions_for_0.1"), "field_items": results[0].get("field_items"),
        "missed": [c for c in checks.to_dict("records") if not c["covered"]],
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--issues", type=Path, default=Path("reports/noise/issues.csv"))
    ap.add_argument("--truth", type=Path, default=Path("data/synthetic/truth.csv"))
    ap.add_argument("--labels", type=Path, default=Path("data/processed/labels.parquet"))
    ap.add_argument("--age-edges", type=int, nargs=2, default=list(L.DEFAULT_AGE_EDGES))
    ap.add_argument("--seeds", type=int, default=6, help="seed 0 = the run itself, the others bootstrap it")
    ap.add_argument("--decisions", type=int, default=30, help="items decided from the top of the queue")
    ap.add_argument("--audits", type=int, default=30, help="audit items decided")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    start = time.perf_counter()
    out = run(args)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(f"{out['seeds']} seeds, {out['decisions']} decisions + {out['audits']} audits each, {out['seconds']} s")
    print(f"90 % intervals covering the truth: {out['coverage']:.0%} of {out['intervals']}")
    for what, c in out["coverage_by_interval"].items():
        d = out["coverage_fields_with_decisions"].get(what)
        print(f"  {what}: {c['coverage']:.0%} of {c['n']}" + (f" ({d['coverage']:.0%} of {d['n']} with decisions)" if d else ""))
    print("  by field: " + ", ".join(f"{f} {v:.0%}" for f, v in out["coverage_by_field"].items()))
    print(f"AP of the undecided remainder: raw scores {out['ap_remainder_raw']:.3f}, re-ranked "
          f"{out['ap_remainder_reranked']:.3f} (mean over seeds)")
    print("recall estimate (interval) vs truth: " + "; ".join(
        f"{r:.2f} ({i[0]:.2f}-{i[1]:.2f}) vs {t:.2f}" for r, i, t in out["recall"] if r is not None))
    print("decisions in queue order for a +-0.1 precision interval (seed 0): " + ", ".join(
        f"{f} {n} of {out['field_items'][f]}" for f, n in (out["decisions_for_0.1"] or {}).items()))
    for m in out["missed"]:
        print(f"  not covered: seed {m['seed']} {m['field']} {m['what']} truth {m['truth']} interval {m['interval']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
