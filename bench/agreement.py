"""Benchmark: the issue-17 measures from cached graphs at N = 1M (seconds, one process).

Two kNN graphs of N items (k = 10) as the cache holds them: B's graph is A's with a third of
each row replaced by random other items (so about 2/3 of the neighbours are shared), and
per-edge kernel values as read off cosine distances. Times each measure on them: per-item
Jaccard and overlap@k, CKNNA, agreement per group (1,000 groups), label composition
(100 classes), the baseline difference (paired t interval and sign-flip p at its normal
limit), and linear + unbiased CKA (one blocked pass) on N x d vectors.

Goal (issue 17): each runs in seconds at N = 1M from the cached graphs.
Usage: OMP_NUM_THREADS=2 python bench/agreement.py [--n 1000000] [--d 64]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "agreement.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--d", type=int, default=64)
    args = ap.parse_args()
    n, k, d = args.n, args.k, args.d

    from spacelens.compare.agreement import cknna, overlap
    from spacelens.compare.cka import cka_pair
    from spacelens.compare.insight import agreement_by_group, label_composition
    from spacelens.compare.jaccard import jaccard
    from spacelens.evaluate.paired import paired_difference

    rng = np.random.default_rng(0)
    ga = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, k))) % n
    gb = ga.copy()
    swap = rng.random((n, k)) < 1 / 3
    gb[swap] = (np.arange(n)[:, None].repeat(k, 1)[swap] + rng.integers(1, n, size=swap.sum())) % n
    ka = rng.random((n, k))
    kb = rng.random((n, k))
    groups = rng.integers(0, 1000, size=n)
    labels = rng.integers(0, 100, size=n)
    rows = []

    def timed(name, fn):
        t = time.perf_counter()
        value = fn()
        rows.append({"measure": name, "seconds": round(time.perf_counter() - t, 3)})
        return value

    jac = timed("per-item Jaccard", lambda: jaccard(ga, gb, k))
    timed("per-item overlap@k", lambda: overlap(ga, gb, k))
    timed("CKNNA", lambda: cknna(ga, gb, ka, kb, k))
    timed("agreement by group (1,000 groups)", lambda: agreement_by_group(jac, groups))
    timed("label composition A and B (100 classes)",
          lambda: (label_composition(ga, labels, labels, 100), label_composition(gb, labels, labels, 100)))
    base = np.clip(jac + rng.normal(0, 0.05, n), 0, 1)
    timed("baseline difference (t interval + sign-flip p)", lambda: paired_difference(base, jac, interval="t"))
    xa = rng.normal(size=(n, d)).astype(np.float32)
    xb = (xa @ rng.normal(size=(d, d)).astype(np.float32) + rng.normal(size=(n, d)).astype(np.float32))
    timed(f"linear + unbiased CKA (N x {d}, one pass)", lambda: cka_pair(xa, xb, normalize_x=True, normalize_y=True))

    width = max(len(r["measure"]) for r in rows)
    print(f"N = {n:,}, k = {k}")
    for r in rows:
        print(f"{r['measure']:<{width}}  {r['seconds']:>7.2f} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"date": str(date.today()), "machine": platform.processor() or platform.machine(),
                                   "n": n, "k": k, "d": d, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
