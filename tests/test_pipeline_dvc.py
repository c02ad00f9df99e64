"""End to end through DVC itself, on a tiny profile in a temporary copy of the repo: repro, exp
run, a review decision's rerun, and a grid of 2 experiments queued with `dvc exp run --queue` and
run by `dvc queue start -j 2`, one of them needing an ignored file (`--copy-paths`)."""

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import dvc_env, run, tiny_copy

REPO = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def repo(tiny_reproduced, tmp_path_factory) -> Path:
    """A copy of the tiny profile's reproduced repo, committed with its dvc.lock."""
    return tiny_copy(tiny_reproduced, tmp_path_factory.mktemp("dvc") / "repo")


@pytest.mark.slow
def test_full_repro_is_reproducible_and_exp_run_changes_metrics(repo):
    log = (repo / ".git" / "first_repro.log").read_text()
    for stage in ("synth", "ingest", "faces", "embed", "oof", "noise", "train", "evaluate"):
        assert f"Running stage '{stage}'" in log
    assert "Data and pipelines are up to date" in run(["dvc", "repro"], repo)
    first = json.loads((repo / "reports/metrics.json").read_text())
    for key in ("f1_macro", "accuracy", "f1_mask", "f1_gender", "f1_age"):
        assert 0 <= first[key] <= 1
    assert {"f1_macro"} <= set(first["truth"]) and {"precision", "recall"} <= set(first["noise"])
    assert list(first)[:4] == ["f1_macro", "f1_mask", "f1_gender", "f1_age"]  # what a user reads first
    holdout = json.loads((repo / "reports/holdout.json").read_text())
    assert holdout["persons"] and len(holdout["labels_md5"]) == 32
    sub = (repo / "submission.csv").read_text().splitlines()
    assert sub[0] == "ImageID,ans" and len(sub) == 1 + 4 * 7
    import numpy as np
    import pandas as pd

    manifest = pd.read_parquet(repo / "data/interim/manifest.parquet")
    assert (manifest["split"] == "train").sum() == 16 * 7 and (manifest["split"] == "eval").sum() == 4 * 7

    oof = np.load(repo / "data/processed/oof.npz")  # ensemble: the networks', the crop's and the band's age
    assert oof["age_views"].shape == (16 * 7, 3) and np.isfinite(oof["age_views"]).all()

    # same seed, same numbers: the curated training set and the models again (the kill tests rerun
    # faces, oof and train and compare every output's bytes)
    out = run(["dvc", "repro", "--force", "--downstream", "rebalance"], repo)
    assert "Running stage 'train'" in out and "Running stage 'oof'" not in out
    assert json.loads((repo / "reports/metrics.json").read_text()) == first

    run(["dvc", "exp", "run", "-S", "noise.action=none", "-S", "train.epochs=1", "-n", "raw"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo))
    assert "raw" in json.dumps(shown)
    changed = json.loads((repo / "reports/metrics.json").read_text())
    assert changed != first
    # the raw arm is scored on the same held-out persons with the same (reviewed) labels
    assert json.loads((repo / "reports/holdout.json").read_text()) == holdout


@pytest.mark.slow
def test_a_review_decision_reruns_only_what_follows_oof(repo):
    """After a full run, accepting a fix changes data/corrections.csv: `dvc status` names rebalance
    alone, `dvc repro` skips oof and noise, and the fix reaches the training set."""
    import pandas as pd

    from pipeline.curation.corrections import append_decisions
    from pipeline.review.rerun import rerun_plan

    run(["dvc", "repro"], repo)
    assert rerun_plan(root=repo)["pending"] is False
    folds_before = pd.read_parquet(repo / "data/processed/train_set.parquet")["fold"]
    labels = pd.read_parquet(repo / "data/processed/labels.parquet")
    person = labels.iloc[0]
    flipped = "female" if int(person["gender"]) == 0 else "male"
    fix = pd.DataFrame([{"person_id": person["person_id"], "image_id": "*", "field": "gender", "given": "",
                         "suggested": flipped, "score": 1.0, "kind": "gender"}])
    append_decisions(repo / "data/corrections.csv", fix, "accept", "test")

    status = json.loads(run(["dvc", "status", "--json"], repo))
    assert list(status) == ["rebalance"]
    plan = rerun_plan(root=repo)
    assert plan["pending"] and plan["stages"] == ["rebalance", "train", "predict", "evaluate"]
    out = run(["dvc", "repro"], repo)
    for stage in ("relabel", "oof", "noise"):
        assert f"Running stage '{stage}'" not in out
    for stage in plan["stages"]:
        assert f"Running stage '{stage}'" in out
    train_set = pd.read_parquet(repo / "data/processed/train_set.parquet")
    rows = train_set[train_set["person_id"] == person["person_id"]]
    assert (rows["gender"] == 1 - int(person["gender"])).all() and rows["corrected"].str.contains("gender").all()
    assert train_set["fold"].equals(folds_before)  # a fix moves no person to another fold


@pytest.mark.slow
def test_a_queued_grid_of_two_runs_with_two_workers(tiny_reproduced, tmp_path_factory):
    """Two experiments queued, `dvc queue start -j 2`; the one naming an ignored file needs
    `--copy-paths` (the queue runs each experiment in a temporary copy of the git tree; DVC copies
    a file only into a folder the copy has: weights/.gitignore is tracked for that)."""
    import timm
    import torch

    root = tiny_copy(tiny_reproduced, tmp_path_factory.mktemp("queue") / "repo")
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet10t").state_dict(), root / "weights" / "r10t.pth")  # git-ignored
    one = ["-S", "train.train_folds=[0]"]  # one final model each: the queue is under test, not the ensemble
    run(["dvc", "exp", "run", "--queue", "-n", "epochs1", "-S", "train.epochs=1", *one], root)
    run(["dvc", "exp", "run", "--queue", "-n", "r10tfile", "-S", "train.pretrained_file=weights/r10t.pth", *one,
         "--copy-paths", "weights/r10t.pth"], root)
    t0 = time.perf_counter()
    # the workers are daemons that inherit the output pipes: not captured, so this returns at once
    # (an idle worker does not always stop by itself; `queue stop` below ends it)
    subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=root, env=dvc_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            state = run(["dvc", "queue", "status"], root)
            if not any(word in state for word in ("Queued", "Running")):
                break
            assert time.perf_counter() - t0 < 1200, state
            time.sleep(3)
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=root, env=dvc_env(), capture_output=True)
    print(f"queued grid of 2 with 2 workers: {time.perf_counter() - t0:.0f} s")
    assert state.count("Success") == 2, state + run(["dvc", "queue", "logs", "r10tfile"], root)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root))
    names = {e.get("name"): e for rev in shown for e in [rev, *[x for exp in rev.get("experiments") or []
                                                              for x in exp.get("revs", [])]]}
    f1 = {name: names[name]["data"]["metrics"]["reports/metrics.json"]["data"]["truth"]["f1_macro"]
          for name in ("master", "epochs1", "r10tfile")}  # metrics.json is in git: readable for every rev
    assert all(0 <= v <= 1 for v in f1.values()), f1
    assert f1["epochs1"] != f1["master"] or f1["r10tfile"] != f1["master"]  # the runs changed something
    table = run(["dvc", "exp", "show", "--only-changed", "--csv"], root)
    header = table.splitlines()[0]
    assert "train.epochs" in header and "train.pretrained_file" in header and "oof.model" not in header
