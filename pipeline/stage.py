"""The first line of every stage script: params checked, and torch's CPU thread count pinned to
params' `cpu_threads`, so a 2-core and a 16-core machine run the same kernels and sum in the same
order (the thread count changes the trained weights; docs/reproducibility.md).

Signals keep their defaults on purpose. Ctrl-C (SIGINT) raises KeyboardInterrupt, so `finally`
blocks remove temporary files and cancel worker pools at once; SIGTERM and SIGKILL end the stage
where it stands, its workers follow (pipeline.workers) and the next run of the stage removes the
temporary files (pipeline.files). A Python SIGTERM handler would be inherited by forked pool
workers (cleanlab's) for a moment after the fork, long enough to swallow Pool.terminate()'s SIGTERM
and hang the stage: seen in the noise stage."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipeline.params import load_checked


def start(params: str | Path = "params.yaml", *, hub: bool = False) -> dict[str, Any]:
    """params.yaml as plain data once it passes `curate check` (else: one line per problem, exit 2).
    `hub`: also check that `pretrained: true` can get timm's hub weights (stages that load them)."""
    loaded = load_checked(params, hub=hub)
    pin_threads(loaded)
    return loaded


def pin_threads(params: dict[str, Any]) -> None:
    """torch's CPU threads = params' `cpu_threads` (0: torch's default), if torch is imported (stages
    that train or predict import it first; one that imports it later calls this after)."""
    torch = sys.modules.get("torch")
    if torch is not None and params.get("cpu_threads"):
        torch.set_num_threads(int(params["cpu_threads"]))
