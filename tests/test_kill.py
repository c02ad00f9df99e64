"""Kills and bad parameters through DVC itself, on a tiny profile in a temporary copy of the repo:
a killed stage leaves no orphan workers, its rerun leaves no temporary files and gives the same
outputs as the uninterrupted run; a bad `dvc exp run -S` stops in the check stage, every output
in place."""

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run, tiny_copy

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")]

def _env() -> dict:
    import sys

    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "PYTHONHASHSEED": "0"}


def _digests(repo: Path) -> dict[str, str]:
    """md5 of every pipeline output (the training curves included: they hold no timings)."""
    out = {}
    for top in ("data", "models", "reports", "submission.csv"):
        for p in sorted([repo / top] if (repo / top).is_file() else (repo / top).rglob("*")):
            rel = p.relative_to(repo).as_posix()
            if p.is_file() and rel != "data/corrections.csv":
                out[rel] = hashlib.md5(p.read_bytes()).hexdigest()
    return out


def _temporaries(repo: Path) -> list[str]:
    return sorted(p.relative_to(repo).as_posix() for top in ("data", "models", "reports") if (repo / top).exists()
                  for p in (repo / top).rglob(".*") if ".tmp-" in p.name or ".old-" in p.name)


def _group(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes in process group `pgid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text[text.rindex(")") + 2:].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append((int(stat.parent.name), cmd))
    return out


def _wait_gone(pgid: int, seconds: float = 20) -> list[tuple[int, str]]:
    deadline = time.time() + seconds
    while (left := _group(pgid)) and time.time() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def repo(tiny_reproduced, tmp_path_factory) -> Path:
    """A copy of the tiny profile's reproduced repo (2 face workers, 2 train epochs)."""
    return tiny_copy(tiny_reproduced, tmp_path_factory.mktemp("kill") / "repo")


@pytest.fixture(scope="module")
def reference(repo) -> dict[str, str]:
    return _digests(repo)


@pytest.mark.parametrize("setting,line", [
    ("noise.action=bogus", "params: noise.action = 'bogus': should be 'relabel', 'drop' or 'none'"),
    ("train.model=not_a_model", "params: train.model = 'not_a_model': not a timm model"),
    ("train.epochs=0", "params: train.epochs = 0: should be greater than 0"),
])
def test_bad_exp_run_fails_in_check_and_keeps_every_output(repo, reference, setting, line):
    start = time.perf_counter()
    proc = subprocess.run(["dvc", "exp", "run", "-S", setting], cwd=repo, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    subprocess.run(["git", "checkout", "params.yaml"], cwd=repo, check=True)
    out = proc.stdout + proc.stderr
    print(f"{setting}: failed after {seconds:.1f} s")
    assert proc.returncode != 0
    assert line in out, out[-2000:]
    assert "Running stage 'check'" in out and "Traceback" not in out
    assert [s for s in ("synth", "ingest", "faces", "oof", "noise", "rebalance", "train")
            if f"Running stage '{s}'" in out] == []
    assert _digests(repo) == reference


def _default_sigint() -> None:
    # A shell's background job (`make test &`) starts with SIGINT ignored, and an ignored signal
    # stays ignored through exec: give the run Ctrl-C back, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(repo: Path, stage: str) -> subprocess.Popen:
    return subprocess.Popen(["dvc", "repro", "--force", "-s", stage], cwd=repo, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_default_sigint)


def _stage_pid(pgid: int, stage: str) -> int | None:
    pids = [pid for pid, cmd in _group(pgid) if f"stages/{stage}.py" in cmd]
    return min(pids) if pids else None


def _rerun_matches(repo: Path, reference: dict[str, str], stage: str) -> None:
    run(["dvc", "repro", stage], repo)
    assert _temporaries(repo) == []
    now = _digests(repo)
    changed = sorted(k for k in set(now) | set(reference) if now.get(k) != reference.get(k))
    assert changed == [], f"outputs differ from the uninterrupted run: {changed}"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_faces_killed_with_workers_running(repo, reference, sig):
    """Signal only the stage process while its 2 spawned workers run: the workers end with it
    (after SIGKILL by the kernel's parent-death signal); after SIGINT (Ctrl-C) the stage also
    removes its temporary files at once, after SIGKILL the rerun does."""
    proc = _start(repo, "faces")
    deadline = time.time() + 120
    while time.time() < deadline:
        pid = _stage_pid(proc.pid, "faces")
        workers = [p for p, cmd in _group(proc.pid) if "multiprocessing" in cmd]
        if pid and len(workers) >= 2 and list((repo / "data/interim").glob(".crops.npy.tmp-*")):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("faces never ran with its workers")
    os.kill(pid, sig)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert _wait_gone(proc.pid) == []  # no orphan workers
    if sig == signal.SIGINT:
        assert _temporaries(repo) == []
    _rerun_matches(repo, reference, "faces")


@pytest.mark.parametrize("stage,after", [("oof", "oof fold 1/3 epoch 1/1"), ("train", "train fold 0 epoch 1/2")])
def test_training_stage_killed_mid_run(repo, reference, stage, after):
    """SIGKILL to the whole `dvc repro` process group once the stage has logged its first epoch."""
    proc = _start(repo, stage)
    seen = []
    for text in proc.stdout:
        seen.append(text)
        if after in text:
            break
    else:
        pytest.fail(f"{stage} never logged {after!r}:\n{''.join(seen)[-2000:]}")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert _wait_gone(proc.pid) == []
    _rerun_matches(repo, reference, stage)
