"""The B4 full profile end to end through DVC at a tiny size (EfficientNet-B4 for the OOF models and a
2-fold final ensemble, pretrained: true from a Hugging Face cache the test fills, AMP and
channels_last set as on a GPU)."""

import json
from pathlib import Path

import pytest
from conftest import copy_repo, dvc_env, git_init, run as _run

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


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh git + dvc repo of the working tree on the tiny full profile; a Hugging Face cache
    holding EfficientNet-B4 weights (saved by the test, hub offline)."""
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

    env = dvc_env(HF_HOME=str(hf / ""), HF_HUB_OFFLINE="1")
    git_init(dst, "full tiny")
    return dst, env


@pytest.fixture(scope="module")
def baseline(repo):
    """`dvc repro` of the tiny full profile."""
    root, env = repo
    return root, env, _run(["dvc", "repro"], root, env)


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
