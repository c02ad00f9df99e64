"""Shared test helpers."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _deep_update(d: dict, u: dict) -> None:
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(d.setdefault(k, {}), dict):
            _deep_update(d[k], v)
        else:
            d[k] = v


def copy_repo(dst: Path, *overrides: dict) -> Path:
    """The working tree's tracked and untracked (not ignored) files but dvc.lock, copied to `dst`,
    with each of `overrides` merged into its params.yaml in turn (for a fresh git + dvc repo)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith("dvc.lock"):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dst / f)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    for u in overrides:
        _deep_update(params, u)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dst


@pytest.fixture
def write_params():
    """write_params(folder, overrides): the repo's params.yaml with `overrides` merged in (and no
    corrections files), written to folder/params.yaml; every stage script checks all of it."""
    def write(folder: Path, overrides: dict) -> Path:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        _deep_update(params, {"relabel": {"corrections": []}, "rebalance": {"corrections": []}})
        _deep_update(params, overrides)
        path = Path(folder) / "params.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        return path
    return write


# The tiny profile the DVC tests run end to end (2 face workers and 2 train epochs: the kill tests
# stop a stage while its workers run or after its first epoch)
TINY = {
    "synth": {"persons": 16, "eval_persons": 4, "image_size": [96, 128]},
    "faces": {"size": 32, "workers": 2},
    "oof": {"folds": 3, "method": "ensemble", "model": "resnet10t", "img_size": 32, "epochs": 1, "batch_size": 32},
    "rebalance": {"folds": 3},
    "train": {"model": "resnet10t", "img_size": 32, "epochs": 2, "batch_size": 32},
}


def dvc_env(**extra: str) -> dict:
    """The environment the DVC tests run commands in: this venv on PATH, no analytics, fixed hashing."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "PYTHONHASHSEED": "0", **extra}


def run(args: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run a command (dvc, git) in `cwd` (in `dvc_env()` by default); its stdout, or a failure with
    both streams' tails."""
    proc = subprocess.run(args, cwd=cwd, env=env or dvc_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


def git_init(repo: Path, message: str) -> Path:
    """`repo` as a fresh git repository with everything in it committed."""
    run(["git", "init", "-q"], repo)
    commit(repo, message)
    return repo


@pytest.fixture(scope="session")
def tiny_reproduced(tmp_path_factory) -> Path:
    """The working tree as a fresh git + dvc repo on the TINY profile, `dvc repro` run once and
    committed with its dvc.lock (its log in .git/first_repro.log). Modules take a
    copy (`tiny_copy`): one full run serves the DVC and the kill tests."""
    dst = copy_repo(tmp_path_factory.mktemp("tiny"), TINY)
    git_init(dst, "tiny")
    log = run(["dvc", "repro"], dst)
    commit(dst, "lock")
    (dst / ".git" / "first_repro.log").write_text(log)
    return dst


def tiny_copy(tiny_reproduced: Path, dst: Path) -> Path:
    """A copy of the reproduced tiny repo (git history, DVC cache and outputs) at `dst`."""
    shutil.copytree(tiny_reproduced, dst, symlinks=True)
    return dst


# The slow test files, in two units of work of about equal time: the files sharing the reproduced
# tiny repo (`tiny_reproduced`, built once per process) and the others.
SHARED_TINY = ("tests/test_kill.py", "tests/test_pipeline_dvc.py")


def _slow_modules() -> set[str]:
    """Test files with slow tests (DVC runs, several processes): those that use the `slow` marker."""
    here = Path(__file__).parent
    return {f"tests/{p.name}" for p in here.glob("test_*.py") if "mark.slow" in p.read_text()}


def pytest_xdist_make_scheduler(config, log):
    """Under `pytest -n 2` (make test): the slow test files are two units of work, the ones that
    share the reproduced tiny repo (built once, in one process) and the rest, each run in turn by
    one process from the start; the quick tests fill in after. Slow tests spread one by one would
    run side by side in all combinations, and each wants both cores (face workers, gloo
    processes, queue workers)."""
    from xdist.scheduler import LoadScopeScheduling

    slow = _slow_modules()

    class SlowTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::")[0]
            if file in SHARED_TINY:
                return "slow-tiny"
            return "slow-other" if file in slow else nodeid

    return SlowTogether(config, log)


def pytest_collection_modifyitems(items: list) -> None:
    """The slow test files first, so both processes start on them at once."""
    slow = _slow_modules()
    items.sort(key=lambda item: (0 if item.nodeid.split("::")[0] in SHARED_TINY else
                                 1 if item.nodeid.split("::")[0] in slow else 2))
