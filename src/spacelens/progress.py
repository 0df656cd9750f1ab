"""One switch for progress bars on long work (copying, kNN graphs, maps).

Core code calls :func:`progress`; bars show on an interactive terminal, or when the
CLI turns them on, and never in library use inside notebooks' pipes or tests.
Independently of the bars, :func:`observe` hands every step to a callback (the
analyzer's jobs report percent done from it, and cancel a job by raising in it).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Optional

_enabled: bool | None = None
Observer = Callable[[str, float, Optional[float]], None]
_observer: ContextVar[Observer | None] = ContextVar("spacelens_progress_observer", default=None)


def set_progress(enabled: bool | None) -> None:
    """Force progress bars on/off; ``None`` means: on when stderr is a terminal."""
    global _enabled
    _enabled = enabled


def progress_enabled() -> bool:
    if os.environ.get("SPACELENS_NO_PROGRESS"):
        return False
    return sys.stderr.isatty() if _enabled is None else _enabled


@contextmanager
def observe(callback: Observer):
    """Call ``callback(description, done, total)`` at the start and every step of each
    progress bar opened in this context (whether or not bars are drawn).

    An exception raised by the callback propagates out of the step, which is how a
    caller stops long work cooperatively (nothing is stored until the work is done).
    """
    token = _observer.set(callback)
    try:
        yield
    finally:
        _observer.reset(token)


class _Task:
    def __init__(self, bar, task_id, description: str = "", total: float | None = None, observer=None):
        self._bar, self._id = bar, task_id
        self._description, self._total, self._done, self._observer = description, total, 0.0, observer
        if observer is not None:
            observer(description, 0.0, total)

    def advance(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._id, n)
        if self._observer is not None:
            self._done += n
            self._observer(self._description, self._done, self._total)


@contextmanager
def progress(description: str, total: float | None):
    """Context manager yielding an object with ``advance(n)``; a no-op when disabled."""
    observer = _observer.get()
    if not progress_enabled():
        yield _Task(None, None, description, total, observer)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        yield _Task(bar, bar.add_task(description, total=total), description, total, observer)


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
