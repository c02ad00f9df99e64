"""The first line of every stage script: params checked; SIGTERM ending the stage the way Ctrl-C
does, so `finally` blocks remove temporary files and stop worker pools; torch's CPU thread count
pinned to params' `cpu_threads`, so a 2-core and a 16-core machine run the same kernels and sum in
the same order (the thread count changes the trained weights; see the README)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from pipeline.params import load_checked


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _default_signals() -> None:
    # forked pool workers (cleanlab's, ingest's) must die at once on SIGTERM, as Pool.terminate()
    # expects; a SystemExit there runs multiprocessing's exit handlers, which can deadlock
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start(params: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml as plain data once it passes `curate check` (else: one line per problem, exit 2)."""
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)
    os.register_at_fork(after_in_child=_default_signals)
    loaded = load_checked(params)
    torch = sys.modules.get("torch")  # stages that train or predict have imported it
    if torch is not None and loaded.get("cpu_threads"):
        torch.set_num_threads(int(loaded["cpu_threads"]))
    return loaded
