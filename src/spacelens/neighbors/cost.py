"""How long a kNN search will take here: this machine's float32 GEMM speed, measured once.

An exact kNN graph of N rows of d dims is a GEMM of 2·N²·d flops plus the top-k selection;
faiss's brute force runs within ~1.1-1.2x of the GEMM floor (MEASURED.md), and spacelens's
exact ranking adds a few % more, so the estimate is ``EXACT_OVERHEAD · 2·nq·nb·d / speed``.
``speed`` is measured once per process on a small float32 GEMM (about 50 ms, in as many
threads as faiss uses), unless ``SPACELENS_GFLOPS`` sets it (e.g. for a machine whose small
GEMMs run slower or faster than its large ones) or :func:`set_gemm_speed` does (tests).
Without a measurement (``measure=False``), :data:`DEFAULT_GFLOPS` is used: what a 2-core
AVX-512 machine reaches (~150-200 GFLOP/s in MEASURED.md, taken low).
"""

from __future__ import annotations

import os
import time

DEFAULT_GFLOPS = 100.0
EXACT_OVERHEAD = 1.3   # faiss brute force and exact ranking vs the bare GEMM
_speed: float | None = None   # flop/s, once measured or set


def set_gemm_speed(flops_per_second: float | None) -> None:
    """Fix the GEMM speed used for estimates (flop/s); None measures it again when next asked."""
    global _speed
    _speed = None if flops_per_second is None else float(flops_per_second)


def gemm_speed(measure: bool = True) -> float:
    """float32 GEMM flop/s of this process: ``SPACELENS_GFLOPS``, else set, else measured once."""
    global _speed
    env = os.environ.get("SPACELENS_GFLOPS")
    if env:
        try:
            return float(env) * 1e9
        except ValueError:
            pass
    if _speed is None:
        if not measure:
            return DEFAULT_GFLOPS * 1e9
        _speed = _measure()
    return _speed


def _measure() -> float:
    """Best of three 2048 x 256 by 256 x 2048 float32 products (~2 Gflop each)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 256), dtype=np.float32)
    b = rng.standard_normal((256, 2048), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * 2048 * 256 * 2048 / max(best, 1e-6)


def exact_seconds(n_queries: int, n_base: int, dim: int, measure: bool = True) -> float:
    """Predicted seconds of an exact search of ``n_queries`` among ``n_base`` rows of ``dim``."""
    flops = 2.0 * n_queries * n_base * dim
    if flops < 1e9 and _speed is None and not os.environ.get("SPACELENS_GFLOPS"):
        return EXACT_OVERHEAD * flops / (DEFAULT_GFLOPS * 1e9)   # well under a second: no measurement
    return EXACT_OVERHEAD * flops / gemm_speed(measure)


def format_seconds(seconds: float) -> str:
    """``42 s``, ``7.5 min``, ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
