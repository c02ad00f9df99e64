"""Out-of-fold perception profiles on any device, scored by the flags they give against the truth.

The flags rest on the out-of-fold models; this measures how much better flags get with stronger
perception (a pretrained backbone, a larger crop, more epochs), on a GPU when one is lent, without
the rest of the pipeline there. Three steps, so the middle one needs only torch, timm, numpy,
pandas and opencv (a bare GPU box has those, not mediapipe / cleanlab / dvc):

    # here: work dirs of benchmarks/noise.py (faces at the crop size wanted) -> one small bundle
    python benchmarks/oof_profiles.py pack data/bench/f128/seed0 data/bench/f128/seed1 --out gpu
    # anywhere: out-of-fold predictions per profile and work dir (JPEG crops decoded in memory)
    python benchmarks/oof_profiles.py run gpu --profile lite0pt:model=efficientnet_lite0,lr=1e-3 \\
        --set pretrained_file=gpu/efficientnet-lite0.pth --device cuda
    # here: the flags of each profile, scored against truth.csv of each work dir
    python benchmarks/oof_profiles.py score gpu data/bench/f128/seed0 data/bench/f128/seed1

Profiles are `NAME:key=value,...` over params.yaml's `oof` section (TrainConfig keys)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _case(work: Path) -> str:
    return work.name


def pack(works: list[Path], out: Path, *, quality: int = 90) -> None:
    """Per work dir: its train crops as JPEG bytes + the label columns the OOF needs."""
    import cv2

    from pipeline.curation.folds import person_strata

    out.mkdir(parents=True, exist_ok=True)
    for work in works:
        labels = pd.read_parquet(work / "data/processed/labels.parquet")
        crops = np.load(work / "data/interim/crops.npy", mmap_mode="r")[: len(labels)]
        blobs = [cv2.imencode(".jpg", c[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
                 for c in crops]
        params = yaml.safe_load((work / "params.yaml").read_text())
        np.savez(out / f"{_case(work)}.npz", jpeg=np.frombuffer(b"".join(blobs), np.uint8),
                 offsets=np.cumsum([0] + [len(b) for b in blobs]), image_id=labels["image_id"].to_numpy().astype(str),
                 label=labels["label"].to_numpy(), person_id=labels["person_id"].to_numpy().astype(str),
                 strat=person_strata(labels), age=labels["age"].to_numpy(float),
                 oof=json.dumps({**params["oof"], "seed": params["seed"]}))
        print(f"packed {work} -> {out / (_case(work) + '.npz')}: {len(blobs)} crops, "
              f"{sum(map(len, blobs)) / 2**20:.1f} MiB")


def _unpack(bundle: Path) -> tuple[np.ndarray, dict]:
    import cv2

    z = np.load(bundle)
    jpeg, off = z["jpeg"], z["offsets"]
    crops = np.stack([cv2.imdecode(jpeg[a:b], cv2.IMREAD_COLOR)[:, :, ::-1] for a, b in zip(off[:-1], off[1:])])
    return np.ascontiguousarray(crops), {k: z[k] for k in z.files if k not in ("jpeg", "offsets")}


def _parse_profile(spec: str) -> tuple[str, dict[str, str]]:
    name, _, kv = spec.partition(":")
    return name, dict(item.split("=", 1) for item in kv.split(",") if item)


def run(bundles: Path, profiles: list[str], *, sets: list[str], device: str | None, threads: int) -> None:
    """Out-of-fold predictions for every bundle x profile -> bundles/<case>.<profile>.oof.npz."""
    import torch

    torch.set_num_threads(threads)
    from pipeline.model.train import TrainConfig, out_of_fold

    common = dict(s.split("=", 1) for s in sets)
    for bundle in sorted(bundles.glob("*.npz")):
        if ".oof" in bundle.name:
            continue
        crops, meta = _unpack(bundle)
        base = json.loads(str(meta["oof"]))
        k = base.pop("folds")
        for spec in profiles:
            name, over = _parse_profile(spec)
            cfg = TrainConfig.from_dict({**base, **common, **over})
            start = time.perf_counter()
            oof = out_of_fold(crops, meta["label"], meta["person_id"], meta["strat"], k=k, cfg=cfg,
                              seed=int(base["seed"]), ages=meta["age"], progress=False, device=device)
            seconds = time.perf_counter() - start
            np.savez(bundles / f"{bundle.stem}.{name}.oof.npz", image_id=meta["image_id"], seconds=seconds,
                     config=json.dumps(cfg.to_dict()), **oof)
            err = float(np.median(np.abs(oof["age_years"] - meta["age"]))) if "age_years" in oof else float("nan")
            print(f"{bundle.stem} {name}: {seconds:.0f} s on {device or ('cuda' if torch.cuda.is_available() else 'cpu')}, "
                  f"accuracy {np.mean(oof['probs'].argmax(1) == meta['label']):.3f}, median |age - given| {err:.2f} y",
                  flush=True)


def score(bundles: Path, works: list[Path]) -> pd.DataFrame:
    """Per work dir x profile x field: the flags' precision, recall, AP and p@k (as `evaluate`)."""
    from pipeline.curation.metrics import oracle_age_ap, score_issues
    from pipeline.curation.noise import find_issues

    rows = []
    for work in works:
        params = yaml.safe_load((work / "params.yaml").read_text())
        edges = params["relabel"]["age_edges"]
        labels = pd.read_parquet(work / "data/processed/labels.parquet")
        truth = pd.read_csv(work / "data/synthetic/truth.csv", dtype={"person_id": str, "image_id": str})
        truth = truth[truth["split"] == "train"]
        for path in sorted(bundles.glob(f"{_case(work)}.*.oof.npz")):
            oof = dict(np.load(path))
            issues = find_issues(labels, oof, age_edges=edges, **params["noise"].get("find", {}))
            result = score_issues(issues, truth, age_edges=edges)
            profile = path.name.split(".")[1]
            for field in ("mask", "gender", "age"):
                rows.append({"case": _case(work), "profile": profile, "field": field,
                             **{k: result[field][k] for k in ("precision", "recall", "ap", "p_at_k", "flagged")}})
            rows.append({"case": _case(work), "profile": profile, "field": "overall",
                         **{k: result[k] for k in ("precision", "recall", "ap", "p_at_k", "flagged")},
                         "oracle_ap": oracle_age_ap(truth, age_edges=edges), "seconds": float(oof["seconds"])})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.round(3).to_string(index=False))
        print(table.groupby(["profile", "field"])[["precision", "recall", "ap", "p_at_k"]].mean().round(3))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="work dirs -> bundles (JPEG crops + labels)")
    p.add_argument("works", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="bundles -> out-of-fold predictions per profile")
    r.add_argument("bundles", type=Path)
    r.add_argument("--profile", action="append", required=True, help="NAME:key=value,... over the oof params")
    r.add_argument("--set", action="append", default=[], help="key=value for every profile")
    r.add_argument("--device", default=None)
    r.add_argument("--threads", type=int, default=2, help="torch CPU threads (params.yaml cpu_threads)")
    s = sub.add_parser("score", help="out-of-fold predictions -> flag quality against the truth")
    s.add_argument("bundles", type=Path)
    s.add_argument("works", nargs="+", type=Path)
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.works, args.out)
    elif args.cmd == "run":
        run(args.bundles, args.profile, sets=args.set, device=args.device, threads=args.threads)
    else:
        score(args.bundles, args.works)


if __name__ == "__main__":
    main()
