"""One switch for progress bars on long work (copying, kNN graphs, maps).

Core code calls :func:`progress`; bars show on an interactive terminal, or when the
CLI turns them on, and never in library use inside notebooks' pipes or tests.
Independently of the bars, :func:`observe` hands every step to a callback (the
analyzer's jobs report percent done from it, and cancel a job by raising in it).

Bars nest: a bar opened inside another (a search block inside a whole evaluation) is drawn
as a row under it, and the callback keeps seeing the outer bar (its description, percent and
time left), called at every inner step too so that cancelling stays prompt. An outer bar of
unknown size (a named step, such as "UMAP map of A") has no percent to give, so there the
callback sees the outermost inner bar that has a size ("UMAP map of A · UMAP layout (500
epochs)", its percent and time left).

A step made of stages of different sizes (UMAP: building its graph, then the layout epochs)
moves its bar on with :meth:`_Task.stage`, which starts the count (and the time left) afresh.
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
_active: ContextVar["_Task | None"] = ContextVar("spacelens_progress_active", default=None)


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
    def __init__(self, bar, task_id, description: str = "", total: float | None = None, observer=None,
                 parent: "_Task | None" = None):
        self._bar, self._id = bar, task_id
        self._description, self._total, self._done, self._observer = description, total, 0.0, observer
        self._parent = parent
        self._notify()

    def _notify(self, path: tuple = ()) -> None:
        """The outermost bar's state to the observer (a nested bar reports through its root).

        ``path``: the bars below this one down to the bar that moved. A root of unknown size
        reports the outermost of them with a known size (else the one that moved), under both
        descriptions.
        """
        if self._parent is not None:
            self._parent._notify((self, *path))
        elif self._observer is not None:
            if self._total is None and path:
                inner = next((t for t in path if t._total is not None), path[-1])
                self._observer(f"{self._description} · {inner._description}", inner._done, inner._total)
            else:
                self._observer(self._description, self._done, self._total)

    def advance(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._id, n)
        self._done += n
        self._notify()

    def stage(self, description: str, total: float | None) -> None:
        """Move this bar on to the next stage of its step: a new description and size, the
        count back to 0 (so that percent and time left are those of the new stage)."""
        if self._bar is not None:
            self._bar.reset(self._id, total=total, description=description)
        self._description, self._total, self._done = description, total, 0.0
        self._notify()


def _columns():
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())


@contextmanager
def progress(description: str, total: float | None):
    """Context manager yielding an object with ``advance(n)``; a no-op when disabled.

    The bar shows percent done, time elapsed and time left (when ``total`` is known).
    """
    parent = _active.get()
    if parent is not None:                      # nested: a row under the outer bar
        bar = parent._bar
        task_id = bar.add_task(description, total=total) if bar is not None else None
        task = _Task(bar, task_id, description, total, parent=parent)
        token = _active.set(task)
        try:
            yield task
        finally:
            _active.reset(token)
            if bar is not None:
                bar.remove_task(task_id)
        return
    observer = _observer.get()
    if not progress_enabled():
        task = _Task(None, None, description, total, observer)
        token = _active.set(task)
        try:
            yield task
        finally:
            _active.reset(token)
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(*_columns(), console=Console(stderr=True), transient=True) as bar:
        task = _Task(bar, bar.add_task(description, total=total), description, total, observer)
        token = _active.set(task)
        try:
            yield task
        finally:
            _active.reset(token)


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
