"""Shared test helpers."""

import shutil
import subprocess
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
