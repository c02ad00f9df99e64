"""benchmarks/noise.py reruns stages on dvc.yaml's own graph (not a hand-kept copy)."""
import importlib.util
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_noise", REPO / "benchmarks" / "noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage_graph_follows_the_repos_dvc_yaml():
    reads, upstream = _bench().stage_graph(REPO)
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(reads) == set(upstream) == set(stages)
    assert {"relabel", "embed", "issue_types"} <= set(upstream["oof"])      # duplicates share a fold
    assert upstream["ingest"] == ["check", "synth"]                          # ${data.root} is synth's out
    assert "train" in upstream["evaluate"]                                   # models/val_... inside train's out
    assert reads["noise"] == ["noise.find", "noise.types.threshold", "relabel.age_edges"]


def test_stage_graph_sees_deps_inside_outputs(tmp_path):
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "a": {"cmd": "x", "params": ["a.k"], "outs": ["out/dir"]},
        "b": {"cmd": "y", "deps": ["out/dir/file.csv", "elsewhere"], "params": ["b", {"other.yaml": ["z"]}],
              "metrics": [{"m.json": {"cache": False}}]},
        "c": {"cmd": "z", "deps": ["m.json", "out/directory"]}}}))
    reads, upstream = _bench().stage_graph(tmp_path)
    assert upstream == {"a": [], "b": ["a"], "c": ["b"]}   # out/directory is not inside out/dir
    assert reads == {"a": ["a.k"], "b": ["b"], "c": []}
    bench = _bench()
    assert bench._digest({"a": {"k": 1}}, ["a.k"]) != bench._digest({"a": {"k": 2}}, ["a.k"])
    assert bench._digest({"a": {"k": 1}, "b": 3}, ["a.k"]) == bench._digest({"a": {"k": 1}, "b": 4}, ["a.k"])
