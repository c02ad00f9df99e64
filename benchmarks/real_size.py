"""The default profile end to end at growing sizes, through `dvc repro`, one stage at a time: what a
user with the real data's shape waits for and needs in memory and on disk.

    python benchmarks/real_size.py                               # 300, 1,200 and 2,700 persons at 384 x 512
    python benchmarks/real_size.py --persons 300 --image-size 192 256 --keep /tmp/rs   # a quick look

For each size it clones this repository (HEAD) into a scratch folder, sets `synth.persons` (eval
persons: two thirds of it, the competition's 1,800 for 2,700) and `synth.image_size`, and runs
`dvc repro --single-item STAGE` for every stage in order. Per stage it prints the wall time, the
peak RSS of the stage's process tree summed over its live processes (sampled every 0.2 s) and of its
largest single process (the kernel's ru_maxrss of the waited-for tree), and the disk the stage added
to the clone (outputs plus DVC's cache). After `evaluate` it reads reports/metrics.json: flag P / R /
AP per field and type, and `truth.f1_macro`. "real-data stages" sums check -> evaluate less synth:
what a run on real photos has. JSON (`--out`) and a plot (`--plot`) for docs/real-size.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("check", "synth", "ingest", "faces", "embed", "relabel", "issue_types", "oof", "noise",
          "rebalance", "train", "predict", "evaluate")
FIELDS = ("mask", "gender", "age", "duplicate", "outlier", "quality")


def disk_bytes(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def run_measured(cmd: list[str], cwd: Path, env: dict) -> dict:
    """Run cmd; wall seconds, peak summed RSS of its live process tree, ru_maxrss of its largest process."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, done = [0], threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    watcher.start()
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    done.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(seconds, 1), "tree_rss_gb": round(peak[0] / 2**30, 2),
            "max_process_rss_gb": round(usage.ru_maxrss / 2**20, 2), "rc": proc.returncode, "log": log}


def one_size(persons: int, eval_persons: int, size: tuple[int, int], scratch: Path, *, reuse: bool = False,
             until: str = "evaluate", seed: int = 0) -> dict | None:
    """Clone HEAD into scratch/p{persons}/main (p{persons}-seed{seed} for another seed, so that
    `reuse` never takes one seed's synthetic set for another's) and run every stage; with `reuse` and an earlier
    clone there, move it to HEAD's code instead and keep its synthetic set (`dvc commit synth`:
    only for code changes that leave the generator's files as they were), whose earlier
    measurement (scratch/p{persons}/synth.json) stands in for the synth row. `until` stops after
    that stage (e.g. synth: make a set now, measure the real-data stages later with `reuse`).
    `seed`: params.yaml's seed (the synthetic set, the folds, the training)."""
    work = scratch / (f"p{persons}" + (f"-seed{seed}" if seed else "")) / "main"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(work)}  # the clone's code, not the editable install's (this checkout's)
    reused = reuse and (work / "data" / "synthetic" / "truth.csv").exists()
    if reused:
        subprocess.run(["git", "fetch", "-q", str(ROOT), "HEAD"], cwd=work, check=True)
        subprocess.run(["git", "checkout", "-q", "-f", "FETCH_HEAD"], cwd=work, check=True)
    else:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
    if (ROOT / "weights").is_dir():
        shutil.copytree(ROOT / "weights", work / "weights", dirs_exist_ok=True)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["synth"].update(persons=persons, eval_persons=eval_persons, image_size=list(size))
    params["seed"] = seed
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rows, synth_record = {}, work.parent / "synth.json"
    if reused:
        for stage in ("check", "synth"):
            subprocess.run(["dvc", "commit", "-q", "-f", stage], cwd=work, env=env, check=True)
        rows["synth"] = json.loads(synth_record.read_text())
    for stage in STAGES:
        if stage in rows:
            continue
        before = disk_bytes(work)
        r = run_measured(["dvc", "repro", "--single-item", "--force", stage], work, env)  # measured even if up to date
        r["disk_gb"] = round((disk_bytes(work) - before) / 2**30, 3)
        log = r.pop("log")
        rows[stage] = r
        if stage == "synth":
            synth_record.write_text(json.dumps(r) + "\n")
        print(f"  {persons:>5} {stage:>12}: {r['seconds']:7.1f} s  tree {r['tree_rss_gb']:5.2f} GB  "
              f"largest process {r['max_process_rss_gb']:5.2f} GB  disk +{r['disk_gb']:.2f} GB", flush=True)
        (work.parent / f"{stage}.log").write_text(log)
        if r["rc"] != 0:
            sys.exit(f"{stage} failed at {persons} persons:\n{log[-3000:]}")
        if stage == until and until != STAGES[-1]:
            return None
    return summary(persons, eval_persons, size, rows, work, seed)


def summary(persons: int, eval_persons: int, size: tuple[int, int], rows: dict, work: Path, seed: int = 0) -> dict:
    """One size's result: the stage rows, their sums, and the flags and F1 of the clone's metrics."""
    metrics = json.loads((work / "reports" / "metrics.json").read_text())
    real = [s for s in STAGES if s != "synth"]
    return {
        "persons": persons, "eval_persons": eval_persons, "image_size": list(size), "seed": seed,
        "images": persons * 7 + eval_persons * 7, "stages": rows,
        "real_data_seconds": round(sum(rows[s]["seconds"] for s in real), 1),
        "peak_tree_rss_gb": max(rows[s]["tree_rss_gb"] for s in real),
        "disk_gb": round(disk_bytes(work) / 2**30, 2),
        "truth_f1_macro": metrics.get("truth", {}).get("f1_macro"), "f1_macro": metrics["f1_macro"],
        "flags": {f: {k: round(v, 3) for k, v in metrics["noise"][f].items()} for f in FIELDS},
    }


def markdown(results: list[dict]) -> str:
    """The docs' tables: per stage and size, wall time / peak tree RSS / disk; then flags per size."""
    sizes = [r["persons"] for r in results]
    lines = ["| stage | " + " | ".join(f"{n:,} persons: min / GB RSS / GB disk" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for stage in STAGES:
        lines.append(f"| {stage} | " + " | ".join(
            f"{r['stages'][stage]['seconds'] / 60:.1f} / {r['stages'][stage]['tree_rss_gb']:.2f} / "
            f"{r['stages'][stage]['disk_gb']:.2f}" for r in results) + " |")
    lines.append("| **real-data stages** (all but synth) | " + " | ".join(
        f"**{r['real_data_seconds'] / 60:.1f}** / {r['peak_tree_rss_gb']:.2f} / {r['disk_gb']:.2f} total"
        for r in results) + " |")
    lines += ["", "| flags: P / R / AP | " + " | ".join(f"{n:,} persons" for n in sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    for f in FIELDS:
        lines.append(f"| {f} | " + " | ".join(
            "{precision:.2f} / {recall:.2f} / {ap:.2f}".format(**r["flags"][f]) for r in results) + " |")
    lines.append("| truth.f1_macro | " + " | ".join(f"{r['truth_f1_macro']:.4f}" for r in results) + " |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    n = [r["persons"] for r in results]
    a.set_prop_cycle(color=plt.cm.tab20.colors[:len(STAGES)])
    for stage in STAGES:
        a.plot(n, [r["stages"][stage]["seconds"] / 60 for r in results], marker="o", label=stage)
    a.set(xlabel="persons (7 photos each, + 2/3 as many eval persons)", ylabel="minutes", xscale="log",
          yscale="log", title="wall time per stage, 2 cores")
    a.legend(fontsize=7, ncol=2)
    for f in FIELDS:
        b.plot(n, [r["flags"][f]["precision"] for r in results], marker="o", label=f"{f} P")
        b.plot(n, [r["flags"][f]["recall"] for r in results], marker="x", ls="--", color=b.lines[-1].get_color())
    b.set(xlabel="persons", xscale="log", ylim=(0, 1.05), title="flag precision (o) / recall (x): labels per person, outlier and quality per image")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, nargs="+", default=[300, 1200, 2700])
    ap.add_argument("--image-size", type=int, nargs=2, default=[384, 512], metavar=("W", "H"))
    ap.add_argument("--seed", type=int, default=0, help="params.yaml's seed: another synthetic set and fold draw")
    ap.add_argument("--keep", type=Path, help="scratch folder to keep (default: a temporary one, removed)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: reuse each size's earlier synthetic set there (code moved to HEAD, the "
                         "generator's files unchanged), its earlier synth measurement standing in")
    ap.add_argument("--until", choices=STAGES, default="evaluate",
                    help="stop after this stage (with --keep and synth: make the sets now, --reuse them later)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument("--plot", type=Path, help="draw time per stage and flag P / R against size here")
    ap.add_argument("--tables", type=Path, metavar="JSON", help="print the tables (and --plot) of an earlier --out")
    args = ap.parse_args()
    if args.tables:
        results = json.loads(args.tables.read_text())
        print(markdown(results))
        if args.plot:
            plot(results, args.plot)
        return
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="curate-real-size-"))
    results = []
    try:
        for persons in args.persons:
            r = one_size(persons, round(persons * 2 / 3), tuple(args.image_size), scratch,
                         reuse=args.reuse, until=args.until, seed=args.seed)
            if r is None:
                continue
            results.append(r)
            print(f"{persons} persons: real-data stages {r['real_data_seconds'] / 60:.1f} min, peak tree RSS "
                  f"{r['peak_tree_rss_gb']} GB, disk {r['disk_gb']} GB, truth.f1_macro {r['truth_f1_macro']}; flags "
                  + ", ".join(f"{f} {v['precision']:.2f}/{v['recall']:.2f}" for f, v in r["flags"].items()), flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1) + "\n")
        if results:
            print(markdown(results))
            if args.plot:
                plot(results, args.plot)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
