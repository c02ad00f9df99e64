"""Process pools that die with their parent: no orphan workers after the stage is killed, and
no waiting for queued work after Ctrl-C or an error."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In a worker: the kernel sends SIGKILL when the parent ends (Linux); exit now if it already has.
    Ctrl-C is left to the parent, which cancels the pool."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _init(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def process_pool(workers: int, *, initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 mp_context: Any = None) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor whose workers die with this process; on an error or interrupt the
    queued tasks are cancelled and the workers stopped instead of finishing the queue."""
    pool = ProcessPoolExecutor(workers, mp_context=mp_context, initializer=_init,
                               initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    except BaseException:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def pool_map(fn: Callable[[Any], Any], items: list, *, workers: int = 0, chunksize: int | None = None,
             advance: Callable[[int], None] | None = None) -> list:
    """[fn(x) for x in items] in order, over `process_pool(workers)` (0 = all cores; one worker,
    or fewer than two items per worker: in this process); `advance(1)` after each result (progress).
    Chunks default to about eight per worker, at most 256 items."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(items) < 2 * workers:
        return _gather(map(fn, items), advance)
    chunksize = chunksize or max(1, min(256, len(items) // (workers * 8)))
    with process_pool(workers) as pool:
        return _gather(pool.map(fn, items, chunksize=chunksize), advance)


def _gather(results: Iterator[Any], advance: Callable[[int], None] | None) -> list:
    """The results in a list, `advance(1)` after each as it arrives."""
    out = []
    for r in results:
        out.append(r)
        if advance:
            advance(1)
    return out
