"""Flag quality under shift: a grid of dataset and crop variants x seeds, in one run on one machine.

Each variant is the project's params.yaml with a few `-S`-style overrides: the new default; each
nuisance of the generator switched off alone; `faces.background` selfie (the default) / none /
rembg (rembg on a 100-person subset: it is slow); `faces.margin` 0.4 / 0.8. Every variant runs on
seeds 0, 1, 2 through `benchmarks/noise.py`'s cases (work directories OUT/<variant>/seedN; stages
whose params did not change are reused, so a second run only re-scores).

    python benchmarks/shift.py                                  # the whole grid (hours on 2 cores)
    python benchmarks/shift.py --variants default background=none margin=0.4 margin=0.8
    python benchmarks/shift.py --rerun noise --markdown docs/shift-grid.md   # after a noise-stage change

Prints, per variant, the mean over the seeds of precision / recall / AP per field (labels per
person, duplicates per pair, outliers and quality per image), the seeds' lowest precision and
recall, the expected calibration error of the flags' scores pooled over the seeds, what the
default action does to the training labels (fixed / broken), and with `--train` curated - raw
`truth.f1_macro`; `--markdown` writes the same as a table for docs."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SEEDS = ["seed0", "seed1", "seed2"]
SUBSET = ["synth.persons=100", "synth.eval_persons=50"]
NUISANCES = {"mirror": 0, "exposure": 0, "white_balance": 0, "framing": 0, "jpeg_quality": 0, "sensor_noise": 0,
             "shared_rooms": 0, "second_room": 0, "refile_session": "false", "refile_drift": 0,
             "age_near_noise": 0, "age_digit_noise": 0, "mask_photo_noise": 0}
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "background=none": ["faces.background=none"],
    "margin=0.4": ["faces.margin=0.4"],
    "margin=0.8": ["faces.margin=0.8"],
    "background=rembg (100 persons)": ["faces.background=rembg", f"faces.rembg_model={REPO / 'weights/u2netp.onnx'}",
                                       *SUBSET],
    "default (100 persons)": SUBSET,  # rembg's own baseline: flag counts shrink with the set
    **{f"{knob} off": [f"synth.{knob}={off}"] for knob, off in NUISANCES.items()},
}
FIELDS = ["mask", "gender", "age", "overall", "duplicate", "outlier", "quality"]


def _noise_bench():
    spec = importlib.util.spec_from_file_location("bench_noise", REPO / "benchmarks" / "noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_variant(bench, name: str, args: argparse.Namespace) -> dict:
    """One variant over the seeds -> a row: mean P/R/AP and lowest P/R per field, pooled ECE,
    fixed / broken per field, and (with --train) the mean curated - raw truth.f1_macro."""
    case_args = argparse.Namespace(**{**vars(args), "overrides": VARIANTS[name], "tag": name.split(" (")[0]
                                      .replace("=", "-") + ("-100" if "100 persons" in name else ""),
                                      "types_only": False, "truth_arm": False, "arm": [], "repeats": 1})
    rows, flags = [], []
    for case in SEEDS:
        text, row = bench.run_case(case, case_args, args.threads or None)
        print(f"\n##### {name}{text}", flush=True)
        flags.append(row.pop("flags"))
        rows.append(row)
    frame = pd.DataFrame(rows)
    out: dict = {"variant": name}
    for field in FIELDS:
        for metric in ("precision", "recall", "ap"):
            column = frame.get(f"{field}.{metric}")
            out[f"{field}.{metric}"] = float(column.mean()) if column is not None else np.nan
            if metric != "ap":
                out[f"{field}.min_{metric}"] = float(column.min()) if column is not None else np.nan
    calibration = bench.calibration_rows(pd.concat(flags, ignore_index=True))
    out.update({f"{field}.ece": calibration.loc[field, "ece"] for field in calibration.index})
    for column in frame.columns:
        if column.endswith((".fixed", ".broken")):
            out[column] = int(frame[column].sum())
    if "truth.f1.gain" in frame:
        out["truth.f1.gain"] = float(frame["truth.f1.gain"].mean())
        out["truth.f1.min_gain"] = float(frame["truth.f1.gain"].min())
    return out


def markdown(table: pd.DataFrame) -> str:
    """Two tables: P / R / AP (mean over the seeds) per field, then ECE, action and F1 gain."""
    def cell(row, field):
        p, r, a = (row.get(f"{field}.{m}", np.nan) for m in ("precision", "recall", "ap"))
        return "–" if np.isnan(p) else f"{p:.2f} / {r:.2f} / {a:.2f}"

    names = {"overall": "labels, all fields"}
    head = "| variant | " + " | ".join(names.get(f, f) for f in FIELDS) + " |"
    lines = [head, "|" + "---|" * (len(FIELDS) + 1)]
    lines += [f"| {v} | " + " | ".join(cell(row, f) for f in FIELDS) + " |" for v, row in table.iterrows()]
    eces = [f for f in ("mask", "gender", "age", "duplicate", "outlier", "quality") if f"{f}.ece" in table]
    actions = sorted({c[:-6] for c in table.columns if c.endswith(".fixed")})
    extra = ["truth.f1.gain"] if "truth.f1.gain" in table else []
    lines += ["", "| variant | " + " | ".join(f"ECE {f}" for f in eces)
              + "".join(f" | {a} fixed / broken" for a in actions) + "".join(" | curated - raw F1" for _ in extra)
              + " | lowest P / R over seeds, labels |", "|" + "---|" * (len(eces) + len(actions) + len(extra) + 2)]
    for v, row in table.iterrows():
        cells = ["–" if np.isnan(e := row.get(f"{f}.ece", np.nan)) else f"{e:.2f}" for f in eces]
        cells += [f"{row.get(f'{a}.fixed', 0):.0f} / {row.get(f'{a}.broken', 0):.0f}" for a in actions]
        cells += [f"{row['truth.f1.gain']:+.4f}" for _ in extra]
        cells.append(f"{row['overall.min_precision']:.2f} / {row['overall.min_recall']:.2f}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS), metavar="VARIANT",
                    help="which variants to run (default: all): " + ", ".join(VARIANTS))
    ap.add_argument("--train", action="store_true", help="also train curated and raw per seed (truth.f1_macro)")
    ap.add_argument("--rerun", metavar="STAGE", help="run this stage and those reading it again (after a code change)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per stage (default: all)")
    ap.add_argument("--markdown", type=Path, metavar="MD", help="also write the tables to this file")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "bench")
    ap.add_argument("--repo", type=Path, default=REPO, help="project tree whose stages run")
    args = ap.parse_args()

    bench = _noise_bench()
    pd.set_option("display.width", 250)
    table = pd.DataFrame([run_variant(bench, name, args) for name in args.variants]).set_index("variant")
    print("\n== mean over seeds " + ", ".join(SEEDS))
    print(table.T.to_string(float_format=lambda v: f"{v:.3f}"))
    text = markdown(table)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
