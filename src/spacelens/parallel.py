"""A few threads for numpy-heavy steps.

numpy releases the GIL in gathers, sorts, einsum and most reductions, so the single-threaded
work between BLAS calls (ranking candidates, scoring neighbour lists) can use every core with
plain threads: no processes, no copies. Results come back in order, so sums over them are
deterministic.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set (as BLAS and faiss honour it), else the usable CPUs."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def thread_map(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, run in up to ``threads`` threads (serial for one)."""
    items = list(items)
    threads = min(len(items), threads or default_threads())
    if threads <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def spans(n: int, parts: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into ``parts`` contiguous ``(start, stop)`` pieces of near-equal size."""
    parts = max(1, min(parts, n))
    cuts = [n * i // parts for i in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))
