"""DVC stage: generate the embedded synthetic dataset into data/synthetic (atomically)."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from pipeline.synth import generate

OUT = Path("data/synthetic")

if __name__ == "__main__":
    params = yaml.safe_load(open("params.yaml"))
    cfg = params["synth"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and swap in at the end: a half-written set is never picked up.
    tmp = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=OUT.parent))
    try:
        stats = generate(
            tmp, persons=int(cfg["persons"]), eval_persons=int(cfg["eval_persons"]),
            seed=int(params["seed"]), image_size=tuple(cfg["image_size"]),
            gender_noise=float(cfg["gender_noise"]), swap_noise=float(cfg["swap_noise"]),
            age_noise=float(cfg["age_noise"]), workers=int(cfg.get("workers", 0)),
        )
        old = OUT.with_name(f".{OUT.name}-old-{os.getpid()}")
        if OUT.exists():
            os.replace(OUT, old)
        os.replace(tmp, OUT)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stats["out"] = str(OUT)
    print(json.dumps(stats))
