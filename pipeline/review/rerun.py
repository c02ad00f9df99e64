"""What the next `dvc repro` reruns when a file changes, read from dvc.yaml and dvc.lock alone
(no DVC call, so it is cheap enough to answer after every decision)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


def _paths(entries: list[Any] | None) -> list[str]:
    """dvc.yaml deps/outs/metrics/plots entries (strings or one-key mappings) -> paths."""
    out = []
    for entry in entries or []:
        out.extend(entry.keys() if isinstance(entry, dict) else [entry])
    return [str(p).rstrip("/") for p in out]


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def downstream(stages: dict[str, dict[str, Any]], changed: str) -> list[str]:
    """Names of the stages that depend on `changed` and of every stage below them, in dvc.yaml order."""
    hit: list[str] = []
    touched = [changed.rstrip("/")]
    for name, stage in stages.items():  # dvc.yaml lists a stage after the stages it depends on
        if any(_overlaps(dep, t) for dep in _paths(stage.get("deps")) for t in touched):
            hit.append(name)
            touched += [p for key in ("outs", "metrics", "plots") for p in _paths(stage.get(key))]
    return hit


def _md5(path: Path) -> str | None:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None


def recorded_md5(lock: dict[str, Any], stage: str, path: str) -> str | None:
    for dep in (lock.get("stages", {}).get(stage, {}) or {}).get("deps", []) or []:
        if dep.get("path") == path:
            return dep.get("md5")
    return None


@lru_cache(maxsize=8)
def _yaml(path: Path, mtime_ns: int) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _load(path: Path) -> dict[str, Any]:
    """A YAML file as a dict ({} when missing), parsed again only when it changes."""
    return _yaml(path, path.stat().st_mtime_ns) if path.is_file() else {}


def rerun_plan(changed: str = "data/corrections.csv", *, root: str | Path = ".") -> dict[str, Any]:
    """{"stages": what a change of `changed` reruns, "pending": whether the file differs from what
    dvc.lock recorded (so the next `dvc repro` will rerun them), "message": one line for people}."""
    root = Path(root)
    if Path(changed).is_absolute():
        changed = os.path.relpath(changed, root.resolve())
    if not (root / "dvc.yaml").is_file():
        return {"stages": [], "pending": False, "message": f"no dvc.yaml in {root.resolve()}"}
    stages = _load(root / "dvc.yaml").get("stages", {})
    names = downstream(stages, changed)
    lock = _load(root / "dvc.lock")
    direct = [n for n in names if any(_overlaps(d, changed) for d in _paths(stages[n].get("deps")))]
    current = _md5(root / changed)
    pending = any(recorded_md5(lock, n, changed) != current for n in direct)
    kept = [n for n in stages if n not in names]
    chain = ", ".join(names) or "nothing"
    message = (f"next `dvc repro` reruns {chain}" if pending else f"{changed} is applied; a change reruns {chain}")
    if names and kept:
        message += f" ({', '.join(kept)} stay)"
    return {"stages": names, "pending": pending, "message": message}
