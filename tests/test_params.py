"""params.yaml schema: every bad value is one line naming key, value and what is allowed."""

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline import params as P

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A folder with the repo's corrections files, so the file checks pass for the defaults."""
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "data" / "corrections.csv", tmp_path / "data" / "corrections.csv")
    return tmp_path


def _check(workdir: Path, change=None, text: str | None = None) -> list[str]:
    p = copy.deepcopy(BASE)
    if change:
        change(p)
    (workdir / "params.yaml").write_text(text if text is not None else yaml.safe_dump(p, sort_keys=False))
    return P.check(workdir / "params.yaml")


def test_the_repo_params_pass(workdir):
    assert _check(workdir) == []


def _set(section: str, **kw):
    def change(p):
        target = p
        for part in section.split("."):
            target = target[part]
        target.update(kw)
    return change


BAD = [  # (change, words the one line must contain)
    (_set("noise", action="bogus"), ["noise.action", "'bogus'", "'relabel', 'drop' or 'none'"]),
    (_set("noise.per_field", age="move"), ["noise.per_field.age", "'move'", "'relabel'"]),
    (_set("noise.find", person_rule="majority"), ["noise.find.person_rule", "'majority'", "'vote'"]),
    (_set("noise.find", bogus_option=1), ["noise.find.bogus_option", "unknown key", "person_rule"]),
    (_set("noise.types", threshold="high"), ["noise.types.threshold", "'high'", "number"]),
    (_set("noise.types", agreement=1), ["noise.types.agreement", "1", "less than 1"]),
    (_set("noise.types", outlier_df=-1), ["noise.types.outlier_df", "-1", "greater than or equal to 0"]),
    (_set("noise", min_persons=-5), ["noise.min_persons", "-5", "greater than or equal to 0"]),
    (_set("embed", sizes=[128, 0]), ["embed.sizes[1]", "0", "greater than 0"]),
    (_set("embed", sizes=[]), ["embed.sizes", "at least 1"]),
    (_set("embed", age_band=-5), ["embed.age_band", "-5", "greater than or equal to 0"]),
    (_set("noise.per_field", duplicate="merge"), ["noise.per_field.duplicate", "'merge'", "'relabel'"]),
    (_set("noise.per_field", blur="drop"), ["noise.per_field.blur", "'quality'"]),
    (_set("synth", quality_noise=1.5), ["synth.quality_noise", "1.5", "less than or equal to 1"]),
    (_set("train", model="not_a_model"), ["train.model", "'not_a_model'", "not a timm model"]),
    (_set("oof", model="resnet10"), ["oof.model", "'resnet10'", "did you mean resnet10t"]),
    (_set("oof", method="knn"), ["oof.method", "'knn'", "'network', 'probe' or 'ensemble'"]),
    (_set("oof", probe_c=0), ["oof.probe_c", "0", "greater than 0"]),
    (_set("oof", draws=0), ["oof.draws", "0", "greater than 0"]),
    (_set("train", epochz=3), ["train.epochz", "unknown key", "epochs"]),
    (_set("train", epochs=0), ["train.epochs", "0", "greater than 0"]),
    (_set("train", heads="both"), ["train.heads", "'both'", "'joint' or 'multi'"]),
    (_set("train", schedule="linear"), ["train.schedule", "'linear'", "'cosine' or 'step'"]),
    (_set("train", loss="ce+hinge"), ["train.loss", "'ce+hinge'", "ce, focal, f1"]),
    (_set("train", lr="fast"), ["train.lr", "'fast'", "number"]),
    (_set("train", train_folds=[9]), ["train.train_folds", "fold 9", "0..4"]),
    (_set("train", seed="new"), ["train.seed", "'new'", "integer"]),
    (_set("faces", size=-1), ["faces.size", "-1", "greater than 0"]),
    (_set("faces", background="blur"), ["faces.background", "'blur'", "'selfie', 'rembg' or 'none'"]),
    (_set("faces", fill=[0, 0, 300]), ["faces.fill[2]", "300", "less than or equal to 255"]),
    (_set("synth", persons=0), ["synth.persons", "0", "greater than 0"]),
    (_set("rebalance", balance="oversample"), ["rebalance.balance", "'oversample'", "'weighted'"]),
    (_set("relabel", age_edges=[58, 30]), ["relabel.age_edges", "[58, 30]", "increasing"]),
    (lambda p: p.update(extras={"a": 1}), ["extras", "unknown key", "top-level keys are"]),
    (lambda p: p.pop("predict"), ["predict", "missing"]),
    (_set("data", root="data/raw"), ["data.root", "'data/raw'", "train/train.csv"]),
    (_set("faces", background="rembg", rembg_model="models/none.onnx"), ["faces.rembg_model", "models/none.onnx",
                                                                        "not found"]),
    (_set("train", pretrained_file="weights/b4.pth"), ["train.pretrained_file", "weights/b4.pth", "not found"]),
    (_set("relabel", corrections=["data/corrections.csv", "data/typo.csv"]),
     ["relabel.corrections[1]", "data/typo.csv", "not found"]),
]


@pytest.mark.parametrize("change,words", BAD, ids=[w[0] for _, w in BAD])
def test_each_bad_value_is_one_line_naming_key_value_and_allowed(workdir, change, words):
    problems = _check(workdir, change)
    assert len(problems) == 1, problems
    for word in words:
        assert word in problems[0], problems[0]
    assert "Traceback" not in problems[0] and "\n" not in problems[0]


def test_yaml_strings_that_are_numbers_and_new_knobs_pass(workdir):
    # YAML 1.1 reads 3e-3 as a string; TrainConfig.from_dict coerces it, so the check does too
    assert _check(workdir, _set("train", lr="3e-3", label_smoothing=0.1, schedule="step")) == []
    assert _check(workdir, _set("train", seed=7)) == []  # training draws apart from the project seed


def test_issue_types_knobs_pass(workdir):
    assert _check(workdir, _set("noise.per_field", duplicate="drop", outlier="none", quality="relabel")) == []
    assert _check(workdir, _set("noise.types", threshold=0.7, use_datalab=False, agreement=0.0)) == []
    assert _check(workdir, _set("embed", sizes=[64])) == []


def test_broken_yaml_is_one_line(workdir):
    problems = _check(workdir, text="seed: 0\ntrain: [unclosed\n")
    assert len(problems) == 1 and "not valid YAML" in problems[0]


def test_timm_list_is_the_installed_timm():
    import timm

    lines = P.TIMM_LIST.read_text().splitlines()
    assert lines[0].startswith(f"# timm {timm.__version__}:"), "run `python -m pipeline.params` to refresh it"
    assert set(lines[1:]) == set(timm.list_models())


@pytest.mark.parametrize("text,words", [  # the corrections reader's own check: file:line and what is wrong
    ("person_id,image_id,field,value,decision,source\n000001,*,gender,female,acept,me\n",
     ["corrections.csv:2", "decision 'acept'", "accept or reject"]),
    ("person_id,image_id,field,value,decision,source\n000001,*,gendr,female,accept,me\n",
     ["corrections.csv:2", "field 'gendr'", "mask, gender, age"]),
    ("person_id,image_id,field,value,decision,source\n000001,*,gender,femal,accept,me\n",
     ["corrections.csv:2", "value 'femal'", "'male', 'female'"]),
    ("person_id,image_id,field,value,decision,source\n000001,*,age,old-ish,accept,me\n",
     ["corrections.csv:2", "value 'old-ish'", "bin name"]),
    ("person_id,field,value\n000001,gender,female\n", ["corrections.csv:1", "lacks"]),
    ('person_id,image_id,field,value,decision,source\n"000001,*,gender\n', ["corrections.csv:2", "should be 6"]),
])
def test_bad_corrections_file_is_one_line_naming_the_file(workdir, text, words):
    (workdir / "data" / "corrections.csv").write_text(text)
    problems = _check(workdir)
    assert len(problems) == 1, problems
    assert "rebalance.corrections[0]" in problems[0] and "corrections.csv" in problems[0]
    for word in words:
        assert word in problems[0], problems[0]


def test_good_corrections_pass(workdir):
    (workdir / "data" / "corrections.csv").write_text(
        "person_id,image_id,field,value,decision,source\n000001,*,gender,female,accept,me\n"
        "000002,*,age,>=58,accept,me\n000003,*,mask,swap_incorrect_normal,reject,me\n"
        "000004,000004_x/mask1,mask,wear,accept,me\n")
    assert _check(workdir) == []


def _curate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("curate")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})


def test_curate_check_cli_exit_codes_and_speed(workdir):
    _check(workdir)
    ok = _curate("check", cwd=workdir)
    assert ok.returncode == 0 and "ok" in ok.stdout
    _check(workdir, lambda p: (p["noise"].update(action="bogus"), p["train"].update(model="not_a_model")))
    start = time.perf_counter()
    bad = _curate("check", cwd=workdir)
    seconds = time.perf_counter() - start
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert any(line.startswith("noise.action = 'bogus'") for line in lines)
    assert seconds < 60  # a few seconds on an idle machine; no torch, timm or cleanlab import


def test_a_stage_script_stops_on_bad_params_before_any_work(workdir):
    _check(workdir, _set("noise", action="bogus"))
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "check.py")], cwd=workdir,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("params: noise.action = 'bogus': should be 'relabel', 'drop' or 'none'")
    assert not (workdir / "reports" / "check.txt").exists()
