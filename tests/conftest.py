"""Shared test helpers."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _deep_update(d: dict, u: dict) -> None:
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            _deep_update(d[k], v)
        else:
            d[k] = v


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
