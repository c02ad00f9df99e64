"""Progress that reads well in a terminal and in a log: rich bars on a TTY; without one (a DVC
log, CI) plain lines instead, e.g. one per epoch naming the fold, its time and loss."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

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


def duration(seconds: float) -> str:
    """`42 s`, `6 min 05 s`, `1 h 02 min`: how long, the way a person reads it."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Ticker:
    """Counts done items; without a TTY logs `label: done/total (pct), elapsed, ETA left` each
    time another tenth of the total is done (one line per 10 %, the last at 100 %)."""

    def __init__(self, label: str, total: int, lines: int = 10):
        self.label, self.total, self.lines, self.done, self.logged = label, total, lines, 0, 0
        self.start = time.perf_counter()
        self.quiet = tty()

    def advance(self, n: int = 1) -> None:
        self.done += n
        level = self.done * self.lines // max(self.total, 1)  # integers: the 100 % line always comes
        if self.quiet or not self.total or level <= self.logged:
            return
        self.logged = level
        elapsed = time.perf_counter() - self.start
        left = elapsed * (self.total - self.done) / self.done
        log(f"{self.label}: {self.done}/{self.total} ({self.done / self.total:.0%}), {duration(elapsed)}"
            + (f", ETA {duration(left)} left" if self.done < self.total else ""))

    def resize(self, total: int | None = None, label: str | None = None) -> None:
        """More (or less) work than first said: the tenths count from the new total."""
        self.total = self.total if total is None else total
        self.label = self.label if label is None else label
        self.logged = self.done * self.lines // max(self.total, 1)


@contextmanager
def track(label: str, total: int, *, enabled: bool = True, transient: bool = False
          ) -> Iterator[Callable[..., None]]:
    """`advance(n=1, total=None, label=None)` for `total` items: a rich bar (done/total, elapsed,
    time left) on a terminal, a `Ticker` line per 10 % with the ETA in a log, nothing when not
    `enabled`. `total` / `label` change the work mid-way (a second pass over the misses)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    on_tty = enabled and tty()
    tick = Ticker(label, total) if enabled and not on_tty else None
    with Progress(*columns, disable=not on_tty, transient=transient) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1, *, total: int | None = None, label: str | None = None) -> None:
            if total is not None or label is not None:
                bar.update(task, total=total, description=label)
                if tick:
                    tick.resize(total, label)
            if n:
                bar.advance(task, n)
                if tick:
                    tick.advance(n)

        yield advance
