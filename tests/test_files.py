"""Atomic writes: nothing half-written, nothing left behind, same bytes whatever the temp name."""

import subprocess
import sys

import pytest

from pipeline.files import atomic_dir, atomic_path, clear_stale


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_temporaries_of_dead_processes_are_cleared_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f".crops.npy.tmp-{dead}.npy").mkdir()
    (tmp_path / f".crops.npy.tmp-{dead}.npy" / "crops.npy").write_bytes(b"x" * 10)
    (tmp_path / f".synthetic.old-{dead}").mkdir()
    with atomic_path(tmp_path / "crops.npy") as tmp:
        tmp.write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".synthetic.old-{dead}", "crops.npy"]
    with atomic_dir(tmp_path / "synthetic") as tmp:
        (tmp / "a.txt").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.npy", "synthetic"]
    assert clear_stale(tmp_path / "crops.npy") == []


def test_torch_checkpoints_are_byte_identical_across_processes(tmp_path):
    """torch.save names its zip archive after the file: the temporary keeps the real name."""
    code = ("import sys, torch\nfrom pipeline.files import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    torch.save({'w': torch.arange(4.0)}, tmp)\n")
    out = []
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "fold0.pt")], check=True)
        out.append((tmp_path / "fold0.pt").read_bytes())
    assert out[0] == out[1]
