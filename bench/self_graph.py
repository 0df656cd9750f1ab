"""Benchmark: the exact self-graph (spacelens) against bare faiss flat at the same k, one run.

Three ways to the k nearest other rows of every row of an n x d space (cosine), at k = 10 and
50, timed alternately in one process:

- faiss: what a faiss user writes: ``faiss.knn(x, x, k + 1)`` on the normalised rows (the
  kernel of ``IndexFlatIP.search``), self not even dropped: the floor.
- exact (flat): ``ExactEngine(symmetric=False).build_graph``: faiss's flat kernel over all
  queries, then the exact ranking (near-ties in float64, ties by lower row, boundary check).
- exact (symmetric): ``ExactEngine(symmetric=True).build_graph``: candidates from half the
  products (:mod:`spacelens.neighbors.symmetric`), then the same ranking. Its neighbours are
  asserted identical to the flat path's.

Data: 200 Gaussian clusters plus noise (neighbour lists as in real embeddings: hubs, dense
classes). The machine is shared: each case reports its best wall time and its best CPU time
(process time, all threads), and the ratios to faiss of both; CPU time is the steadier one
when other work competes for the cores. Usage:
``OMP_NUM_THREADS=2 python bench/self_graph.py [--sizes 30000x128 30000x256 30000x768] [--k 10 50]
[--reps 1]``. Writes bench/results/self_graph.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((200, d), dtype=np.float32)
    x = centers[rng.integers(0, 200, n)] + 0.8 * rng.standard_normal((n, d), dtype=np.float32)
    return x


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    import faiss

    from spacelens.neighbors import ExactEngine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["30000x128", "30000x256", "30000x768"])
    ap.add_argument("--k", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "self_graph.json"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        x = data(n, d)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        for k in args.k:
            best: dict[str, list[float]] = {}
            ref = None
            for _ in range(args.reps):
                cases = {
                    "faiss": lambda: faiss.knn(xn, xn, k + 1, metric=faiss.METRIC_INNER_PRODUCT),
                    "exact (flat)": lambda: ExactEngine(symmetric=False).build_graph(x, k, "cosine"),
                    "exact (symmetric)": lambda: ExactEngine(symmetric=True).build_graph(x, k, "cosine"),
                }
                for name, fn in cases.items():
                    out, w, c = timed(fn)
                    b = best.setdefault(name, [np.inf, np.inf])
                    b[0], b[1] = min(b[0], w), min(b[1], c)
                    if name == "exact (flat)":
                        ref = out
                    elif name == "exact (symmetric)":
                        assert np.array_equal(out.indices, ref.indices), "symmetric path changed neighbours"
                        gap = float(np.abs(out.distances - ref.distances).max())
                    del out
            for name, (w, c) in best.items():
                rows.append({"n": n, "d": d, "k": k, "path": name, "wall_s": round(w, 3), "cpu_s": round(c, 3),
                             "wall_x_faiss": round(w / best["faiss"][0], 3),
                             "cpu_x_faiss": round(c / best["faiss"][1], 3),
                             **({"max_distance_gap": gap, "same_indices": True}
                                if name == "exact (symmetric)" else {})})
            print(f"{n} x {d}, k={k}: " + ", ".join(f"{r['path']} {r['wall_s']}s/{r['cpu_s']}cpu"
                                                      for r in rows[-3:]), flush=True)
    out = Path(args.out)
    out.write_text(json.dumps({"omp_threads": os.environ.get("OMP_NUM_THREADS"), "faiss": faiss.__version__,
                               "load_avg_end": os.getloadavg()[0], "rows": rows}, indent=1))
    print("\n| n x d | k | path | wall s | x faiss (wall) | CPU s | x faiss (CPU) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} x {r['d']} | {r['k']} | {r['path']} | {r['wall_s']} | {r['wall_x_faiss']:.2f} | "
              f"{r['cpu_s']} | {r['cpu_x_faiss']:.2f} |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
