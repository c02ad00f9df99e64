"""Curation quality against the synthetic truth, on several seeds, in one run on one machine.

Each case is a work directory under `--out` holding a params.yaml (the project's, with the case's
seed, noise rates and any `-S key=value` overrides) in which the real stage scripts run: synth ->
ingest -> faces -> relabel -> oof -> noise, and with `--train` also rebalance -> train -> predict
-> evaluate, once curated and once raw (`noise.action=none`). Stages whose params did not change
since the last run in that directory are skipped (their outputs are reused), so rerunning with a
new `noise.find` option costs seconds.

    python benchmarks/noise.py                          # seeds 0, 1, 2 at the default rates + seed 0 at 6/3/4 %
    python benchmarks/noise.py --train                  # + truth.f1_macro curated vs raw per seed
    python benchmarks/noise.py --train --repeats 3      # each arm trained 3 times (train.seed): mean, standard error
    python benchmarks/noise.py --train --truth-arm      # + an arm on the truth's labels: what fixing every label is worth
    python benchmarks/noise.py -S oof.epochs=8 --tag e8 # another OOF profile, side by side with the default
    python benchmarks/noise.py --types-only --cases seed0 seed1 seed2   # duplicate/outlier/quality, no OOF
    python benchmarks/noise.py --rerun issue_types      # after a code change: that stage and the ones reading it

Prints, per case and field (mask, gender, age, overall; and the issue types duplicate, outlier,
quality), person-level (image-level for outlier and quality) precision, recall, F1 at the
operating point, average precision of the ranked list, precision at k = number of true errors,
the age oracle AP, and the seconds each stage took. Then, pooled over the cases: each field's
flags, mean score, precision and expected calibration error (the scores read as P(the issue is
real)), the label flags' precision per given race, and with `--reliability` a reliability diagram."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
PREP = ["synth", "ingest", "faces", "embed", "relabel", "issue_types"]
CURATE = ["oof", "noise"]
TRAIN = ["rebalance", "train", "predict", "evaluate"]
SYNTHETIC_ROOT = "data/synthetic"  # every case is synthetic: dvc.yaml's ${data.root}


def stage_graph(repo: Path = REPO) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """From `repo`'s dvc.yaml, per stage: the params keys it reads (dotted, as listed there) and the
    stages whose outputs it reads (a dep at or inside another stage's out): what a stage reruns on,
    as DVC decides it, without a hand-kept copy that drifts."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]

    def paths(entries: list | None) -> list[str]:
        return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]

    owner = {out.rstrip("/"): name for name, st in stages.items()
             for out in paths(st.get("outs")) + paths(st.get("metrics")) + paths(st.get("plots"))}

    def made_by(dep: str) -> set[str]:
        dep = dep.replace("${data.root}", SYNTHETIC_ROOT).rstrip("/")
        return {name for out, name in owner.items() if dep == out or dep.startswith(out + "/")}

    reads = {name: sorted(k for k in st.get("params", []) if isinstance(k, str)) for name, st in stages.items()}
    upstream = {name: sorted(set().union(*map(made_by, st.get("deps", []))) - {name}) for name, st in stages.items()}
    return reads, upstream


CASES = {  # name: (seed, gender_noise, swap_noise, age_noise); None = params.yaml's rates
    "seed0": (0, None), "seed1": (1, None), "seed2": (2, None), "seed0-6/3/4%": (0, (0.06, 0.03, 0.04)),
    "seed3": (3, None), "seed4": (4, None),
}
HELD_OUT = ("seed3", "seed4")  # not in the default run: for checking a change tuned on the others


def _set(params: dict, dotted: str, value: str) -> None:
    *path, last = dotted.split(".")
    for key in path:
        params = params.setdefault(key, {})
    params[last] = yaml.safe_load(value)


def case_params(seed: int, rates: tuple[float, float, float] | None, overrides: list[str],
                repo: Path = REPO) -> dict:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["seed"] = seed
    if rates:
        params["synth"].update(zip(("gender_noise", "swap_noise", "age_noise"), rates))
    for item in overrides:
        key, _, value = item.partition("=")
        _set(params, key, value)
    return params


def truth_corrections(work: Path) -> Path:
    """Accepted decisions that set every train image's mask, gender and age to the synthetic truth,
    written by the project's one writer of that format: the `truth` arm trains on them, the
    size of what fixing every label is worth on this case (a noisy one: training draws spread too)."""
    from pipeline.curation.corrections import append_decisions
    from pipeline.labels import GENDERS, MASKS

    truth = pd.read_csv(work / "data/synthetic/truth.csv", dtype={"person_id": str, "image_id": str})
    train = truth[truth["split"] == "train"]
    person = train.drop_duplicates("person_id")
    mask = train[train["mask_given"] != train["mask_true"]]
    gender = person[person["gender_given"] != person["gender_true"]]
    age = person[person["age_given"] != person["age_true"]]
    fixes = pd.concat([
        pd.DataFrame({"person_id": mask["person_id"], "image_id": mask["image_id"], "field": "mask",
                      "suggested": [MASKS[m] for m in mask["mask_true"]]}),
        pd.DataFrame({"person_id": gender["person_id"], "image_id": "*", "field": "gender",
                      "suggested": [GENDERS[g] for g in gender["gender_true"]]}),
        pd.DataFrame({"person_id": age["person_id"], "image_id": "*", "field": "age",
                      "suggested": age["age_true"].astype(str)})], ignore_index=True)
    path = work / "truth_corrections.csv"
    path.unlink(missing_ok=True)
    append_decisions(path, fixes, "accept", "synthetic truth")
    return path


def _lookup(params: dict, dotted: str) -> object:
    for part in dotted.split("."):
        params = params.get(part) if isinstance(params, dict) else None
    return params


def _digest(params: dict, keys: list[str]) -> str:
    return hashlib.sha1(json.dumps([_lookup(params, k) for k in keys], sort_keys=True).encode()).hexdigest()


def run_stages(work: Path, params: dict, stages: list[str], *, force: bool = False, rerun: str | None = None,
               repo: Path = REPO, threads: int | None = None) -> dict[str, float]:
    """Run `repo`'s stage scripts in `work` (params.yaml written there); seconds per stage run
    (skipped: 0). A stage runs when its params changed or a stage it reads from ran (`stage_graph`);
    `rerun` names a stage that runs, with the stages that depend on it, though its params did not
    change (its code did)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (work / "data").mkdir(exist_ok=True)
    corrections = work / "data" / "corrections.csv"
    if not corrections.exists():  # the header only: no review decisions in a benchmark
        corrections.write_text((repo / "data" / "corrections.csv").read_text().splitlines()[0] + "\n")
    stamps_path = work / ".stamps.json"
    stamps = json.loads(stamps_path.read_text()) if stamps_path.exists() else {}
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(repo)}
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    reads, upstream = stage_graph(repo)
    seconds, ran = {}, set()
    for stage in stages:
        digest = _digest(params, reads[stage])
        if not (force or stage == rerun or stamps.get(stage) != digest or ran & set(upstream[stage])):
            seconds[stage] = 0.0
            continue
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(repo / "stages" / f"{stage}.py")], cwd=work, env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{work.name}: stage {stage} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        seconds[stage] = time.perf_counter() - t0
        ran.add(stage)
        stamps[stage] = digest
        stamps_path.write_text(json.dumps(stamps))
    return seconds


def curation_table(work: Path, params: dict) -> pd.DataFrame:
    """Per field and overall: precision, recall, F1, AP, p@k, flagged, noisy (+ age oracle AP)."""
    from pipeline.curation.metrics import score_issues

    truth = pd.read_csv(work / "data/synthetic/truth.csv", dtype={"person_id": str, "image_id": str})
    issues = pd.read_csv(work / "reports/noise/issues.csv", dtype={"person_id": str, "image_id": str, "given": str, "suggested": str})
    scores = score_issues(issues, truth[truth["split"] == "train"], age_edges=params["relabel"]["age_edges"])
    rows = {field: {k: v for k, v in m.items() if not isinstance(v, dict)}
            for field, m in scores.items() if isinstance(m, dict)}
    rows["overall"] = {k: v for k, v in scores.items() if not isinstance(v, dict)}
    return pd.DataFrame(rows).T


def types_table(work: Path, params: dict, issues_csv: str = "reports/noise/issues.csv") -> pd.DataFrame:
    """Duplicate (person level), outlier and quality (image level): precision, recall, F1, AP, p@k,
    flagged, noisy against truth.csv (`pipeline.curation.metrics.score_types`)."""
    from pipeline.curation.metrics import score_types

    truth = pd.read_csv(work / "data/synthetic/truth.csv", dtype={"person_id": str, "image_id": str},
                        keep_default_na=False)
    issues = pd.read_csv(work / issues_csv, dtype={"person_id": str, "image_id": str, "given": str,
                                                   "suggested": str}, keep_default_na=False)
    return pd.DataFrame(score_types(issues, truth, threshold=params["noise"]["types"]["threshold"])).T


def flag_outcomes(work: Path, params: dict) -> pd.DataFrame:
    """Every flag of the case (label flags once per person and field; issue-type rows at or above
    the threshold) -> field, score, hit, race (the person's given race, from the folder name)."""
    from pipeline.curation.metrics import label_hits, type_hits

    truth = pd.read_csv(work / "data/synthetic/truth.csv", dtype={"person_id": str, "image_id": str},
                        keep_default_na=False)
    truth = truth[truth["split"] == "train"]
    issues = pd.read_csv(work / "reports/noise/issues.csv", dtype={"person_id": str, "image_id": str, "given": str,
                                                                   "suggested": str}, keep_default_na=False)
    race = dict(zip(truth["person_id"], truth["image_id"].str.split("/").str[0].str.split("_").str[2]))
    labels = label_hits(issues, truth, age_edges=params["relabel"]["age_edges"])
    types = [rows[rows["score"] >= params["noise"]["types"]["threshold"]].assign(field=field)
             for field, (rows, _) in type_hits(issues, truth).items()]
    frame = pd.concat([labels[["person_id", "field", "score", "hit"]],
                       *[t[["person_id", "field", "score", "hit"]] for t in types]], ignore_index=True)
    return frame.assign(race=frame["person_id"].map(race))


def calibration_rows(flags: pd.DataFrame) -> pd.DataFrame:
    """Per field of `flag_outcomes` rows: flags, mean score, precision, expected calibration error."""
    from pipeline.curation.metrics import expected_calibration_error

    return pd.DataFrame({f: {"flags": len(g), "mean_score": g["score"].mean(), "precision": g["hit"].mean(),
                             "ece": expected_calibration_error(g["score"], g["hit"])}
                         for f, g in flags.groupby("field", sort=False)}).T


def calibration_report(flags: pd.DataFrame, plot: Path | None = None) -> str:
    """Pooled over the cases: per field the flags, their mean score, their precision and the
    expected calibration error (scores read as P(the issue is real)); the label flags' precision
    per given race; and, with `plot`, a reliability diagram per field (sklearn's calibration_curve)."""
    table = calibration_rows(flags)
    labels = flags[flags["field"].isin(["mask", "gender", "age"])]
    by_race = labels.groupby("race")["hit"].agg(flags="size", precision="mean")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.calibration import calibration_curve

        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="calibrated")
        for f, g in flags.groupby("field", sort=False):
            if g["hit"].nunique() > 1:
                true, pred = calibration_curve(g["hit"], g["score"].clip(0, 1), n_bins=5, strategy="quantile")
                ax.plot(pred, true, marker="o", label=f"{f} (ECE {table.loc[f, 'ece']:.2f}, {len(g)} flags)")
        ax.set(xlabel="mean score of the flags in the bin", ylabel="share of them that are real",
               xlim=(0, 1.02), ylim=(-0.02, 1.02), title="reliability of the flags' scores, pooled over cases")
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
    return ("calibration, pooled over the cases:\n" + table.to_string(float_format=lambda v: f"{v:.3f}")
            + "\nlabel flags' precision by given race:\n" + by_race.to_string(float_format=lambda v: f"{v:.3f}"))


def age_rankings(work: Path, params: dict) -> dict[str, float]:
    """AP of ranking every train person for a wrong age bin, by: our P(wrong) (`pipeline.curation.age`),
    |residual| / uncertainty, cleanlab's regression label quality (`residual`, `outre`) on the
    same pooled, de-biased estimates, and the oracle (|given - apparent age|)."""
    from cleanlab.regression.rank import get_label_quality_scores

    from pipeline.curation import age
    from pipeline.curation.metrics import oracle_age_ap, person_truth, ranked_ap
    from pipeline.curation.noise import unusable_images
    from pipeline.curation.noise import _aligned_years

    oof = dict(np.load(work / "data/processed/oof.npz"))
    if "age_years" not in oof:
        return {}
    labels = pd.read_parquet(work / "data/processed/labels.parquet")
    types = pd.read_csv(work / "data/interim/issue_types.csv", dtype=str, keep_default_na=False)
    unusable = unusable_images(types, threshold=params["noise"]["types"]["threshold"])  # as the noise stage
    labels = labels[~labels["image_id"].astype(str).isin(unusable)].reset_index(drop=True)
    years = _aligned_years(labels, oof)
    views = _aligned_years(labels, oof, "age_views") if "age_views" in oof else None
    table = age.person_ages(years, labels["age"].to_numpy(float), labels["person_id"].astype(str).to_numpy(),
                            edges=params["relabel"]["age_edges"],
                            prior_wrong=params["noise"]["find"].get("age_prior", 0.2), views=views)
    truth = pd.read_csv(work / "data/synthetic/truth.csv", dtype={"person_id": str, "image_id": str})
    noisy = person_truth(truth, age_edges=params["relabel"]["age_edges"])["age"].reindex(table.index).to_numpy()
    rankings = {
        "p_wrong": table["p_wrong"].to_numpy(),
        "z": (table["residual"].abs() / np.hypot(table["se"], table["residual"].abs().median())).to_numpy(),
        "cleanlab_residual": -get_label_quality_scores(table["given"].to_numpy(), table["estimate"].to_numpy(),
                                                       method="residual"),
        "cleanlab_outre": -get_label_quality_scores(table["given"].to_numpy(), table["estimate"].to_numpy(),
                                                    method="outre"),
    }
    out = {name: ranked_ap(noisy[np.argsort(-score, kind="stable")], int(noisy.sum()))
           for name, score in rankings.items()}
    out["oracle"] = oracle_age_ap(truth[truth["split"] == "train"], age_edges=params["relabel"]["age_edges"])
    out["median_err_y"] = float((table["estimate"] - truth.groupby("person_id")["age_true"].first()
                              .reindex(table.index)).abs().median())
    return out


def run_case(name: str, args: argparse.Namespace, threads: int | None) -> tuple[str, dict]:
    """Run one case's stages; (printable report, summary row)."""
    seed, rates = CASES[name]
    params = case_params(seed, rates, args.overrides, args.repo)
    if threads and "cpu_threads" in params:
        params["cpu_threads"] = threads  # stage.start() pins torch to this, over OMP_NUM_THREADS
    work = args.out / args.tag / name.replace("/", "-").replace("%", "pct")
    if args.types_only:  # the issue types need no OOF model: synth .. faces, then issue_types
        seconds = run_stages(work, params, PREP, rerun=args.rerun, repo=args.repo, threads=threads)
        types = types_table(work, params, "data/interim/issue_types.csv")
        row = {"case": name, "issue_types_s": round(seconds["issue_types"], 1)}
        row.update({f"{f}.{m}": types.loc[f, m] for f in types.index for m in ("precision", "recall", "ap")})
        return (f"\n== {name} (seed {seed}) issue_types {seconds['issue_types']:.0f} s\n"
                + types.to_string(float_format=lambda v: f"{v:.3f}")), row
    seconds = run_stages(work, params, PREP + CURATE, rerun=args.rerun, repo=args.repo, threads=threads)
    table = curation_table(work, params)
    types = types_table(work, params)
    lines = [f"\n== {name} (seed {seed}, rates {rates or 'default'}) "
             f"oof {seconds['oof']:.0f} s, noise {seconds['noise']:.1f} s",
             table.to_string(float_format=lambda v: f"{v:.3f}"),
             "beyond wrong labels:", types.to_string(float_format=lambda v: f"{v:.3f}")]
    ranks = age_rankings(work, params)
    if ranks:
        lines.append("age AP over all persons by ranking: " + ", ".join(f"{k} {v:.3f}" for k, v in ranks.items()))
    row = {"case": name, "oof_s": round(seconds["oof"], 1), "flags": flag_outcomes(work, params)}
    # what the default action does to the training labels (rebalance alone: no training needed)
    run_stages(work, params, ["rebalance"], force=True, repo=args.repo, threads=threads)
    effects = json.loads((work / "reports/rebalance.json").read_text())["by_field"]
    for field, counts in effects.items():
        row[f"{field}.fixed"], row[f"{field}.broken"] = counts["fixed"], counts["broken"] + counts["removed_right"]
    lines.append("default action on the training images: " + ", ".join(
        f"{f} fixed {c['fixed']} broke {c['broken'] + c['removed_right']}" for f, c in effects.items()))
    row.update({f"{f}.{m}": table.loc[f, m] for f in table.index for m in ("precision", "recall", "ap")
                if m in table.columns and pd.notna(table.loc[f, m])})
    row.update({f"{f}.{m}": types.loc[f, m] for f in types.index for m in ("precision", "recall", "ap")})
    if "oracle_ap" in table.columns:
        row["age.oracle_ap"] = table.loc["age", "oracle_ap"]
    if args.train:
        arms = {"curated": [], "raw": ["noise.action=none"]}
        if args.truth_arm:
            arms["truth"] = ["noise.action=none", f"rebalance.corrections=[{truth_corrections(work).resolve()}]"]
        arms.update({name: spec.split(",") for name, _, spec in (a.partition(":") for a in args.arm)})
        draws = [None] + [seed + 1000 * r for r in range(1, args.repeats)]  # train.seed; None = the case seed
        scores: dict[str, list[float]] = {}
        for arm, overrides in arms.items():
            arm_params = json.loads(json.dumps(params))
            for item in overrides:
                key, _, value = item.partition("=")
                _set(arm_params, key, value)
            for draw in draws:
                arm_params["train"]["seed"] = draw
                run_stages(work, arm_params, TRAIN, force=True, repo=args.repo, threads=threads)
                metrics = json.loads((work / "reports/metrics.json").read_text())
                scores.setdefault(arm, []).append(metrics["truth"]["f1_macro"])
            row[f"truth.f1.{arm}"] = float(np.mean(scores[arm]))
            summary = work / "reports/rebalance.json"
            if summary.exists():
                row[f"removed_right.{arm}"] = json.loads(summary.read_text()).get("removed_right", float("nan"))
        gains = np.subtract(scores["curated"], scores["raw"])  # paired: the same training draws
        row["truth.f1.gain"] = float(gains.mean())
        if len(draws) > 1:
            row["truth.f1.gain_se"] = float(gains.std(ddof=1) / np.sqrt(len(gains)))
            for arm in arms:
                row[f"truth.f1.sd.{arm}"] = float(np.std(scores[arm], ddof=1))
        for arm in set(arms) - {"curated", "raw"}:
            row[f"truth.f1.gain.{arm}"] = float(np.subtract(scores[arm], scores["raw"]).mean())
        lines.append("truth.f1_macro " + ", ".join(
            f"{a} {np.mean(v):.4f}" + (f" ({' '.join(f'{x:.3f}' for x in v)})" if len(v) > 1 else "")
            for a, v in scores.items()) + f"; curated - raw {row['truth.f1.gain']:+.4f}"
            + (f" +- {row['truth.f1.gain_se']:.4f} (standard error over {len(draws)} training draws)"
               if len(draws) > 1 else ""))
    return "\n".join(lines), row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="*", default=[c for c in CASES if c not in HELD_OUT], choices=list(CASES),
                    help="default: seeds 0, 1, 2 and seed 0 at 6/3/4 %%; seed3 and seed4 are held out for checking "
                         "a change tuned on the others")
    ap.add_argument("--train", action="store_true", help="also train curated and raw and compare truth.f1_macro")
    ap.add_argument("--repeats", type=int, default=1, metavar="N",
                    help="with --train, train every arm N times (train.seed = the case seed, then seed + 1000 r): "
                         "one training per arm cannot resolve a few hundredths of truth.f1_macro")
    ap.add_argument("--types-only", action="store_true",
                    help="only the issue types (duplicate, outlier, quality): no OOF models, minutes per seed")
    ap.add_argument("--arm", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                    help="with --train, one more arm beside curated and raw, e.g. agedrop:noise.per_field.age=drop")
    ap.add_argument("--truth-arm", action="store_true",
                    help="with --train, one more arm trained on the labels the synthetic truth gives (mask, gender, "
                         "age fixed; rebalance.corrections): what fixing every label is worth")
    ap.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="params override for every case (like dvc exp run -S)")
    ap.add_argument("--jobs", type=int, default=1, help="cases run side by side (each on one thread)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per stage (default: all, 1 with --jobs)")
    ap.add_argument("--rerun", choices=PREP + CURATE, metavar="STAGE",
                    help="run this stage and those that read it again though no param changed (after a code change)")
    ap.add_argument("--reliability", type=Path, metavar="PNG",
                    help="draw the reliability diagram of the flags' scores, per field, pooled over the cases")
    ap.add_argument("--tag", default="default", help="work directories are OUT/<tag>/<case>")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "bench")
    ap.add_argument("--repo", type=Path, default=REPO,
                    help="project tree whose stages and pipeline run (e.g. a worktree of the previous commit)")
    args = ap.parse_args()

    pd.set_option("display.width", 200)
    threads = args.threads or (1 if args.jobs > 1 else None)  # one process per core: no oversubscription
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda name: run_case(name, args, threads), args.cases))
    summary, flags = [], []
    for text, row in results:
        print(text)
        if "flags" in row:
            flags.append(row.pop("flags").assign(case=row["case"]))
        summary.append(row)
    frame = pd.DataFrame(summary).set_index("case")
    if flags:
        print("\n== " + calibration_report(pd.concat(flags, ignore_index=True), args.reliability))
    fixed = [c for c in frame.columns if c.endswith(".fixed")]
    if fixed:
        print("default action over the cases (fixed / broken training images; goal >= 3 x): " + ", ".join(
            f"{c[:-6]} {int(frame[c].sum())} / {int(frame[c[:-6] + '.broken'].sum())}" for c in fixed))
    print("\n== summary")
    print(frame.T.to_string(float_format=lambda v: f"{v:.3f}"))
    seeds = frame.loc[[c for c in frame.index if c.startswith("seed") and "%" not in c]]
    if "truth.f1.gain" in frame and len(seeds) > 1:
        gain = seeds["truth.f1.gain"]
        print(f"truth.f1_macro gain over seeds {list(seeds.index)}: mean {gain.mean():+.4f}, "
              f"spread (max-min) {gain.max() - gain.min():.4f}, min {gain.min():+.4f}"
              + (f"; standard error of the mean {np.sqrt((seeds['truth.f1.gain_se'] ** 2).sum()) / len(seeds):.4f}"
                 if "truth.f1.gain_se" in seeds else ""))


if __name__ == "__main__":
    main()
