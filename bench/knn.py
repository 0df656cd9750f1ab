"""Benchmark: the kNN graph of one space (issue 4) against a bare faiss IndexFlatIP search.

Prints a table and writes bench/results/knn.json. Each case runs in its own process on the
same .npy file (N x d float32, clustered), k = 10, cosine, self excluded. The baseline is what
any faiss user would write: normalise, IndexFlatIP.add, search k + 1 (no exact ties, no
self-exclusion logic). Target: spacelens exact within 1.3x of it. Approximate engines are
shown with their recall@10 against exact (on 1,000 sampled queries).
Usage: OMP_NUM_THREADS=2 python bench/knn.py [--n 20000] [--d 512] [--approx]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import python_cmd, run_measured  # noqa: E402

MB = 2**20

BASELINE = """
import json, time, numpy as np, faiss
x = np.load({path!r}, mmap_mode="r")
t = time.perf_counter()
x = np.ascontiguousarray(x, dtype=np.float32)
x = x / np.linalg.norm(x, axis=1, keepdims=True)
index = faiss.IndexFlatIP(x.shape[1]); index.add(x)
D, I = index.search(x, {k} + 1)
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""

SPACELENS = """
import json, time, numpy as np
from spacelens.neighbors import get_engine, measure_recall, KnnGraph
x = np.load({path!r}, mmap_mode="r")
eng = get_engine({engine!r})
t = time.perf_counter()
idx, dist = eng.search(x, x, {k}, "cosine", query_rows=np.arange(len(x)))
seconds = time.perf_counter() - t
recall = 1.0 if {engine!r} == "exact" else measure_recall(x, eng, {k}, "cosine", graph=KnnGraph(idx, dist, "cosine", eng.name))
print(json.dumps({{"seconds": seconds, "recall": recall}}))
"""


def make_data(path: Path, n: int, d: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(200, d)).astype(np.float32) * 2
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 10_000):
        m = min(10_000, n - s)
        arr[s:s + m] = centers[rng.integers(0, 200, m)] + rng.standard_normal((m, d), dtype=np.float32)
    arr.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--approx", action="store_true", help="also time the hnsw and ivf engines")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        make_data(path, args.n, args.d)
        cases = [("baseline: faiss IndexFlatIP", BASELINE.format(path=str(path), k=args.k)),
                 ("spacelens exact", SPACELENS.format(path=str(path), k=args.k, engine="exact"))]
        if args.approx:
            cases += [(f"spacelens {e}", SPACELENS.format(path=str(path), k=args.k, engine=e)) for e in ("ivf", "hnsw")]
        rows = []
        for label, code in cases:
            r = run_measured(python_cmd(code), {"SPACELENS_NO_PROGRESS": "1"})
            if r["rc"] != 0:
                raise SystemExit(f"{label} failed: {r['stderr']}")
            res = json.loads(r["stdout"].strip().splitlines()[-1])
            rows.append({"case": label, "seconds": round(res["seconds"], 2), "recall": res.get("recall"),
                         "peak_rss_mb": round(r["peak_rss"] / MB), "peak_anon_mb": round(r["peak_anon"] / MB)})
    base = rows[0]["seconds"]
    for row in rows:
        row["x_baseline"] = round(row["seconds"] / base, 3)
    space_mb = args.n * args.d * 4 / MB
    print(f"kNN graph, N={args.n:,} d={args.d} k={args.k} cosine (space {space_mb:.0f} MB)")
    print(f"| case | seconds | x baseline | recall@{args.k} | peak RSS MB | peak anon MB |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        rec = "" if row["recall"] is None else f"{row['recall']:.4f}"
        print(f"| {row['case']} | {row['seconds']:.2f} | {row['x_baseline']:.3f} | {rec} | {row['peak_rss_mb']} "
              f"| {row['peak_anon_mb']} |")
    out = Path(__file__).parent / "results" / "knn.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"n": args.n, "d": args.d, "k": args.k, "space_mb": round(space_mb), "rows": rows},
                              indent=2) + "\n")


if __name__ == "__main__":
    main()
