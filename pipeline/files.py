"""Atomic writes and params loading shared by the stage scripts: a half-written output is never
picked up by DVC or by the next stage.

Temporary outputs live in `.<name>.tmp-<pid><suffix>` beside their target. They are removed when
the block fails; after a SIGKILL, when nothing can run, the next write of the same target removes
those whose process is gone."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import yaml


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def clear_stale(path: str | Path) -> list[Path]:
    """Remove the temporary siblings of `path` left by killed processes; returns them."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:tmp|old)-(\d+)")
    stale = [p for p in path.parent.glob(f".{path.name}.*")
             if (m := pattern.match(p.name)) and not _alive(int(m.group(1)))] if path.parent.is_dir() else []
    for p in stale:
        _remove(p)
    return stale


def temp_path(path: str | Path, kind: str = "tmp") -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path that replaces `path` only if the block succeeds. It has the same
    name, in a temporary folder beside `path`: writers that record their file name (torch.save
    names its archive after it) write the same bytes as to `path` itself."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    folder = temp_path(path)
    _remove(folder)
    folder.mkdir()
    try:
        yield folder / path.name
        os.replace(folder / path.name, path)
    finally:
        _remove(folder)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to `path`; it replaces the folder `path` only if the
    block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    tmp, old = temp_path(path), temp_path(path, "old")
    _remove(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        _remove(tmp)
        _remove(old)


def _write(path: str | Path, writer: Callable[[Path], None]) -> None:
    with atomic_path(path) as tmp:
        writer(tmp)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    _write(path, lambda p: df.to_parquet(p, index=False))


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    _write(path, lambda p: df.to_csv(p, index=False))


def write_json(obj: Any, path: str | Path, *, sort_keys: bool = True) -> None:
    """`sort_keys=False` keeps the caller's order (a metrics file read by people first)."""
    _write(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n"))


def write_npy(array: np.ndarray, path: str | Path) -> None:
    def save(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, array)
    _write(path, save)


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    def save(p: Path) -> None:
        with open(p, "wb") as f:
            np.savez(f, **arrays)
    _write(path, save)
