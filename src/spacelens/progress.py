"""One switch for progress bars on long work (copying, kNN graphs, maps).

Core code calls :func:`progress`; bars show on an interactive terminal, or when the
CLI turns them on, and never in library use inside notebooks' pipes or tests.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

_enabled: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """Force progress bars on/off; ``None`` means: on when stderr is a terminal."""
    global _enabled
    _enabled = enabled


def progress_enabled() -> bool:
    if os.environ.get("SPACELENS_NO_PROGRESS"):
        return False
    return sys.stderr.isatty() if _enabled is None else _enabled


class _Task:
    def __init__(self, bar, task_id):
        self._bar, self._id = bar, task_id

    def advance(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._id, n)


@contextmanager
def progress(description: str, total: float | None):
    """Context manager yielding an object with ``advance(n)``; a no-op when disabled."""
    if not progress_enabled():
        yield _Task(None, None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        yield _Task(bar, bar.add_task(description, total=total))


def announce(message: str) -> None:
    """One line about a long job before it starts (which engine, why, how long, how to change it).

    Printed to stderr where progress bars show (the CLI, a terminal); always logged to the
    ``spacelens`` logger, so library users can read it with :mod:`logging`.
    """
    import logging

    logging.getLogger("spacelens").info(message)
    if progress_enabled():
        from rich.console import Console

        Console(stderr=True).print(f"[cyan]note:[/cyan] {message}", highlight=False)
