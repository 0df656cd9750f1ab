"""Benchmark: the exact engine's two ways of finding a block's candidates, at the sizes that matter.

``faiss_knn`` (faiss's flat kernel: GEMM in 4,096 x 1,024 tiles, heap after each tile) against
``scored_knn`` (one numpy GEMM of the whole query block against the whole base, then faiss's
heap selection over the scores): same candidates (asserted), seconds and GFLOP/s, each timed
twice alternately in one process, with the GEMM speed spacelens measures for its estimates as
the baseline. Usage:
``OMP_NUM_THREADS=2 python bench/exact_kernel.py [--n 1000000] [--d 128 256] [--k 61] [--reps 2]``
Writes bench/results/exact_kernel_<N>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BLOCK_ELEMENTS = 1 << 27     # scores per block of queries (the scored path's block: ~512 MB)


def main() -> None:
    from spacelens.neighbors.cost import gemm_speed
    from spacelens.neighbors.metrics import faiss_knn, scored_knn

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--k", type=int, default=61, help="candidates per query (k 50 + self + extra)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--queries", type=int, default=None,
                    help="queries per comparison (default: one scored block, 2^27 / n); with more, "
                         "faiss_knn gets them in one call (as the engine's 8,192-query blocks) and "
                         "scored_knn in blocks of 2^27 / n")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    speed = gemm_speed() / 1e9
    for d in args.d:
        base = rng.standard_normal((args.n, d), dtype=np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        blk = max(1, BLOCK_ELEMENTS // args.n)
        nq = args.queries or blk
        q = np.ascontiguousarray(base[:nq])
        flops = 2.0 * nq * args.n * d
        times = {"faiss_knn": [], "scored_knn": []}
        for _ in range(args.reps):
            t = time.perf_counter()
            _, c1 = faiss_knn(q, base, args.k, "cosine")
            times["faiss_knn"].append(time.perf_counter() - t)
            t = time.perf_counter()
            parts = []
            for s0 in range(0, nq, blk):
                s, _, c = scored_knn(q[s0:s0 + blk], base, args.k, "cosine")
                del s
                parts.append(c)
            c2 = np.concatenate(parts)
            times["scored_knn"].append(time.perf_counter() - t)
            # the same candidates up to float32 near-ties at the boundary (the engine re-ranks those)
            same = np.mean([len(set(a[:-8]) & set(b)) / len(a[:-8]) for a, b in zip(c1, c2)])
            assert same > 0.999, same
        for name, ts in times.items():
            best = min(ts)
            rows.append({"n": args.n, "d": d, "queries": nq, "k": args.k, "kernel": name, "seconds": round(best, 3),
                         "gflops": round(flops / best / 1e9, 1), "times": [round(t, 3) for t in ts]})
        del base
    out = ROOT / "bench" / "results" / f"exact_kernel_{args.n}{'' if not args.queries else f'_q{args.queries}'}.json"
    out.write_text(json.dumps({"gemm_gflops_measured": round(speed, 1), "rows": rows}, indent=1))
    print(f"\nGEMM speed spacelens measures (2048 x 256 x 2048): {speed:.0f} GFLOP/s\n")
    print("| base | queries | kernel | best s | GFLOP/s | x faiss_knn |\n|---|---|---|---|---|---|")
    for r in rows:
        ref = next(x for x in rows if x["d"] == r["d"] and x["kernel"] == "faiss_knn")
        print(f"| {r['n']:,} x {r['d']} | {r['queries']} | {r['kernel']} | {r['seconds']} | {r['gflops']} | "
              f"{ref['seconds'] / r['seconds']:.2f} |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
