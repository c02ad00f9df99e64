import shutil
from pathlib import Path

import yaml

from pipeline.review.rerun import downstream, rerun_plan

REPO = Path(__file__).resolve().parents[1]


def test_review_decisions_rerun_only_what_follows_oof():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert downstream(stages, "data/corrections.csv") == ["rebalance", "train", "predict", "evaluate"]
    # a relabel change (iterative cleaning through corrections/) does retrain the OOF models
    assert {"relabel", "oof", "noise"} <= set(downstream(stages, "corrections"))


def test_plan_is_pending_until_dvc_lock_records_the_file(tmp_path):
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    path = tmp_path / "data" / "corrections.csv"
    path.parent.mkdir()
    path.write_text("person_id,image_id,field,value,decision,source\n")
    plan = rerun_plan("data/corrections.csv", root=tmp_path)
    assert plan["pending"] and plan["message"].startswith("next `dvc repro` reruns rebalance, train")
    assert "oof" in plan["message"].split("(")[1]  # named among the stages that stay
    import hashlib
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    lock = {"schema": "2.0", "stages": {"rebalance": {"deps": [{"path": "data/corrections.csv", "md5": md5}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert not rerun_plan(str(path), root=tmp_path)["pending"]  # absolute paths are read against the root
    path.write_text(path.read_text() + "000001,*,gender,female,accept,me\n")
    assert rerun_plan("data/corrections.csv", root=tmp_path)["pending"]
