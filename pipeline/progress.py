"""Progress that reads well in a terminal and in a log: rich bars on a TTY; without one (a DVC
log, CI) plain lines instead, e.g. one per epoch naming the fold, its time and loss."""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.console import Console


def tty() -> bool:
    """True when rich bars are shown (stdout is a terminal)."""
    return Console().is_terminal


def log(line: str) -> None:
    print(line, flush=True)


def epoch_line(label: str, epoch: int, epochs: int, row: Mapping[str, float], seconds: float) -> str:
    """`oof fold 2/4 epoch 3/6: train_loss 1.234, val_f1_macro 0.512 (12.3 s, 410 img/s)`"""
    metrics = ", ".join(f"{k} {v:.4f}" if k.endswith("loss") else f"{k} {v:.3f}" for k, v in row.items()
                        if k in ("train_loss", "val_loss", "val_f1_macro"))
    rate = f", {row['imgs_per_s']:.0f} img/s" if "imgs_per_s" in row else ""
    return f"{label} epoch {epoch}/{epochs}: {metrics} ({seconds:.1f} s{rate})".lstrip()


class Ticker:
    """Counts done items; without a TTY logs `label: done/total (pct), elapsed` every `every` s."""

    def __init__(self, label: str, total: int, every: float = 30.0):
        self.label, self.total, self.every, self.done = label, total, every, 0
        self.start = self.last = time.perf_counter()
        self.quiet = tty()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if not self.quiet and now - self.last >= self.every:
            self.last = now
            log(f"{self.label}: {self.done}/{self.total} ({self.done / max(self.total, 1):.0%}), "
                f"{now - self.start:.0f} s")
