"""The first line of every stage script: params checked, and SIGTERM ending the stage the way
Ctrl-C does, so `finally` blocks remove temporary files and stop worker pools."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from pipeline.params import load_checked


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def start(params: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml as plain data once it passes `curate check` (else: one line per problem, exit 2)."""
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)
    return load_checked(params)
