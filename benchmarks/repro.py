"""What makes CPU training differ between machines: the same fit under different thread counts and
instruction sets (the knobs a different CPU turns), each in a fresh process, compared bit for bit.

    python benchmarks/repro.py --manifest data/interim/manifest.parquet --crops data/interim/crops.npy

Each variant prints the digest of the trained weights, the max |difference| of its validation
probabilities from the first variant, and its validation macro F1. ATEN_CPU_CAPABILITY and
ONEDNN_MAX_CPU_ISA cap the vector instructions torch's own kernels and oneDNN's convolutions may
use, which is what a CPU without AVX-512 (or without AVX2) gets anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

VARIANTS = {  # name -> (torch threads, environment)
    "1 thread": (1, {}),
    "1 thread, again": (1, {}),
    "2 threads": (2, {}),
    "4 threads (oversubscribed)": (4, {}),
    "1 thread, ATen AVX2 cap": (1, {"ATEN_CPU_CAPABILITY": "avx2"}),
    "1 thread, ATen no SIMD": (1, {"ATEN_CPU_CAPABILITY": "default"}),
    "1 thread, oneDNN AVX2 cap": (1, {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
    "1 thread, oneDNN SSE4.1 cap": (1, {"ONEDNN_MAX_CPU_ISA": "SSE41"}),
}


def one(args: argparse.Namespace) -> None:
    """Child: fit once with the given threads, print a JSON line."""
    import hashlib

    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import f1_score

    from pipeline import labels as L
    from pipeline.model.train import TrainConfig, fit, predict_proba

    torch.set_num_threads(args.threads)
    m = pd.read_parquet(args.manifest)
    train = m[m["split"] == "train"].reset_index(drop=True)
    crops = np.load(args.crops, mmap_mode="r")[: len(train)]
    y = L.encode(L.codes(train["mask"], L.MASKS), L.codes(train["gender"], L.GENDERS),
                 L.age_bin(train["age"].to_numpy(), (30, 58)))
    persons = train["person_id"].astype(str).to_numpy()
    val = np.isin(persons, np.unique(persons)[::4])
    cfg = TrainConfig(model="resnet10t", heads="multi", img_size=64, epochs=args.epochs, batch_size=64,
                      lr=3e-3, drop_rate=0.3)
    model, _ = fit(crops, y, np.flatnonzero(~val), cfg=cfg, progress=False)
    probs = predict_proba(model, crops, np.flatnonzero(val))
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values())).hexdigest()
    np.save(args.out, probs)
    print(json.dumps({"digest": digest[:16], "f1": f1_score(y[val], probs.argmax(1), average="macro"),
                      "isa": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default="data/interim/manifest.parquet")
    ap.add_argument("--crops", default="data/interim/crops.npy")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        return one(args)
    import numpy as np

    first = None
    print(f"{'variant':30} {'weights':16} {'max |dp|':>9} {'val F1':>7}  ISA")
    for name, (threads, env) in VARIANTS.items():
        out = f"/tmp/repro-{os.getpid()}-{len(name)}-{threads}.npy"
        proc = subprocess.run([sys.executable, __file__, "--manifest", args.manifest, "--crops", args.crops,
                               "--epochs", str(args.epochs), "--threads", str(threads), "--out", out],
                              env={**os.environ, **env}, capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        probs = np.load(out)
        os.unlink(out)
        first = probs if first is None else first
        print(f"{name:30} {r['digest']:16} {np.abs(probs - first).max():9.2e} {r['f1']:7.4f}  {r['isa']}",
              flush=True)


if __name__ == "__main__":
    main()
