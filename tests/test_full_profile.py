"""The B4 full profile end to end through DVC at a tiny size (EfficientNet-B4 for the OOF models and a
2-fold final ensemble, pretrained: true from a Hugging Face cache the test fills, AMP and
channels_last set as on a GPU), then a grid of 2 experiments queued with `dvc exp run --queue` and
run by `dvc queue start -j 2`, one of them needing an ignored file (`--copy-paths`)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import copy_repo

REPO = Path(__file__).resolve().parents[1]

FULL_TINY = {  # the README's full profile, sizes cut so it runs in a minute on CPU
    "cpu_threads": 1,
    "synth": {"persons": 16, "eval_persons": 4, "image_size": [96, 128]},
    "faces": {"size": 48, "workers": 1},
    "oof": {"folds": 3, "method": "ensemble", "model": "efficientnet_b4", "pretrained": True, "img_size": 48, "epochs": 1,
            "batch_size": 16, "lr": 0.0003, "amp": "auto", "channels_last": True},
    "rebalance": {"folds": 3},
    "train": {"model": "efficientnet_b4", "pretrained": True, "img_size": 48, "epochs": 1, "batch_size": 16,
              "lr": 0.0003, "amp": "auto", "channels_last": True, "train_folds": [0, 1]},
}


def _env(hf_home: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "PYTHONHASHSEED": "0", "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}


def _run(args: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh git + dvc repo of the working tree on the tiny full profile; a Hugging Face cache
    holding EfficientNet-B4 weights (saved by the test, hub offline); weights/b4.pth, git-ignored."""
    import timm
    import torch
    from safetensors.torch import save_file
    from timm.models import get_pretrained_cfg

    dst = copy_repo(tmp_path_factory.mktemp("repo"), FULL_TINY, {"relabel": {"corrections": []}})

    torch.manual_seed(0)
    state = timm.create_model("efficientnet_b4").state_dict()
    hf = tmp_path_factory.mktemp("hf")
    snapshot = hf / "hub" / f"models--{get_pretrained_cfg('efficientnet_b4').hf_hub_id.replace('/', '--')}"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("b4test")
    (snapshot / "snapshots" / "b4test").mkdir(parents=True)
    save_file(state, str(snapshot / "snapshots" / "b4test" / "model.safetensors"))
    (dst / "weights").mkdir(exist_ok=True)
    torch.save(state, dst / "weights" / "b4.pth")

    env = _env(hf / "")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "full tiny"]):
        _run(cmd, dst, env)
    return dst, env


@pytest.fixture(scope="module")
def baseline(repo):
    """`dvc repro` of the tiny full profile, committed with its dvc.lock (what queued runs start from)."""
    root, env = repo
    out = _run(["dvc", "repro"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], root, env)
    return root, env, out


@pytest.mark.slow
def test_b4_full_profile_end_to_end(baseline):
    import torch

    root, env, out = baseline
    assert "Running stage 'oof'" in out and "Running stage 'evaluate'" in out
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert 0 <= metrics["f1_macro"] <= 1 and "f1_macro" in metrics["truth"]
    for k in (0, 1):
        cfg = torch.load(root / f"models/fold{k}.pt", weights_only=True)["config"]
        assert cfg["model"] == "efficientnet_b4" and cfg["pretrained"] and cfg["img_size"] == 48
    sub = (root / "submission.csv").read_text().splitlines()
    assert sub[0] == "ImageID,ans" and len(sub) == 1 + 4 * 7


def _queue_state(root: Path, env: dict) -> str:
    return _run(["dvc", "queue", "status"], root, env)


@pytest.mark.slow
def test_a_queued_grid_of_two_runs_with_two_workers(baseline):
    """Two experiments queued, `dvc queue start -j 2`; the one naming an ignored file needs
    `--copy-paths` (the queue runs each experiment in a temporary copy of the git tree; DVC copies
    a file only into a folder the copy has: weights/.gitignore is tracked for that)."""
    root, env, _ = baseline
    one = ["-S", "train.train_folds=[0]"]  # one final model each: the queue is under test, not the ensemble
    _run(["dvc", "exp", "run", "--queue", "-n", "epochs2", "-S", "train.epochs=2", *one], root, env)
    _run(["dvc", "exp", "run", "--queue", "-n", "b4file", "-S", "train.pretrained_file=weights/b4.pth", *one,
          "--copy-paths", "weights/b4.pth"], root, env)
    t0 = time.perf_counter()
    # the workers are daemons that inherit the output pipes: not captured, so this returns at once
    # (an idle worker does not always stop by itself; `queue stop` below ends it)
    subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            state = _queue_state(root, env)
            if not any(word in state for word in ("Queued", "Running")):
                break
            assert time.perf_counter() - t0 < 1200, state
            time.sleep(5)
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=root, env=env, capture_output=True)
    print(f"queued grid of 2 with 2 workers: {time.perf_counter() - t0:.0f} s")
    assert state.count("Success") == 2, state + _run(["dvc", "queue", "logs", "b4file"], root, env)
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], root, env))
    names = {e.get("name"): e for rev in shown for e in [rev, *[x for exp in rev.get("experiments") or []
                                                              for x in exp.get("revs", [])]]}
    f1 = {name: names[name]["data"]["metrics"]["reports/metrics.json"]["data"]["truth"]["f1_macro"]
          for name in ("master", "epochs2", "b4file")}  # metrics.json is in git: readable for every rev
    assert all(0 <= v <= 1 for v in f1.values()), f1
    table = _run(["dvc", "exp", "show", "--only-changed", "--csv"], root, env)
    header = table.splitlines()[0]
    assert "train.epochs" in header and "train.pretrained_file" in header and "oof.model" not in header
