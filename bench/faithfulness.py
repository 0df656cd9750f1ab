"""Benchmark: a PCA map's sampled faithfulness at N items, phase by phase: two products vs one.

What `spacelens project A --method pca` spends beyond the map itself at scale (issue 15 asks
for a PCA map with its faithfulness in under 30 s at 1M): the exact neighbours of the 2,000
sampled items among all N (kNN preservation), their map neighbours (k-d tree), and the ranks
of those map neighbours among all N (trustworthiness: a 2,000 x N product in blocks, then k
counts per row). The rank counting runs both ways in the same process, alternating, and the
two must give identical values: the k numpy passes, and the compiled kernel used at scale.
The floor is the two products' flops (2 x 2 x 2,000 x N x d) at the GEMM speed measured here.
Then, in the same process, what `project` runs now: `sampled_faithfulness`, one exact search of
the sample whose own product (block by block) also ranks the map neighbours; its neighbours
must be the exact search's and its trustworthiness the separate product's, value for value.

Data: A of bench/scale.py (N x 256, 1,000 Gaussian classes, centres x 0.5 + unit noise).
Usage: OMP_NUM_THREADS=2 python bench/faithfulness.py [--n 1000000]
Writes bench/results/faithfulness_<N>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scale import space_a  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    from spacelens.neighbors import exact_search, prepare
    from spacelens.neighbors.cost import gemm_speed
    from spacelens.project import faithfulness as fa
    from spacelens.project.maps import pca_map

    n, k = args.n, args.k
    vectors, _ = space_a(n, 1000, np.random.default_rng(0))
    d = vectors.shape[1]
    times: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        times[name] = round(time.perf_counter() - t, 2)
        print(f"{name}: {times[name]} s", flush=True)
        return out

    x = timed("prepare (normalised copy)", lambda: prepare(vectors, "cosine"))
    coords = timed("PCA map", lambda: pca_map(x))
    rows = fa.sample_items(n, fa.TRUST_SAMPLE, 0)
    high, _ = timed("exact neighbours of the sample", lambda: exact_search(
        np.ascontiguousarray(vectors[rows]), vectors, k, "cosine", query_rows=rows))
    low = timed("map neighbours (k-d tree)", lambda: fa.map_knn(coords, k, rows))
    fa._rank_penalties_compiled()   # import and compile (or load from the disk cache) outside the timing
    results = {}
    for rnd in range(2):
        for how, threshold in (("numpy ranks", 1 << 62), ("compiled ranks", 0)):
            fa._COMPILED_RANKS_MIN = threshold
            t = time.perf_counter()
            results[how] = fa.trustworthiness_rows(x, rows, low, "cosine")
            sec = time.perf_counter() - t
            times[f"trustworthiness, {how}"] = round(min(sec, times.get(f"trustworthiness, {how}", sec)), 2)
            print(f"trustworthiness, {how} (round {rnd + 1}): {sec:.2f} s", flush=True)
    assert np.array_equal(results["numpy ranks"], results["compiled ranks"])
    # One product: what project runs (exact search of the sample + map neighbours + ranks).
    seen = []
    real_preservation = fa.knn_preservation
    fa.knn_preservation = lambda h, lo: seen.append(np.array(h)) or real_preservation(h, lo)
    est = timed("one product: sampled_faithfulness (search + map neighbours + ranks)",
                lambda: fa.sampled_faithfulness(vectors, x, coords, "cosine", k))
    fa.knn_preservation = real_preservation
    assert np.array_equal(est["rows"], rows) and np.array_equal(seen[0], high)
    assert np.array_equal(est["trust"], results["compiled ranks"])
    flops = 2 * 2 * len(rows) * n * d
    gflops = gemm_speed() / 1e9
    floor = flops / (gflops * 1e9)
    one = "one product: sampled_faithfulness (search + map neighbours + ranks)"
    total_old = sum(v for key, v in times.items() if "compiled" not in key and key != one)
    total_new = sum(v for key, v in times.items() if "numpy ranks" not in key and key != one)
    total_one = times["prepare (normalised copy)"] + times["PCA map"] + times[one]
    out = {"n": n, "dim": d, "k": k, "sample": int(len(rows)), "gflops": round(gflops, 1), "seconds": times,
           "total_numpy_ranks": round(total_old, 1), "total_compiled_ranks": round(total_new, 1),
           "total_one_product": round(total_one, 1),
           "floor_two_products": round(floor, 1), "floor_one_product": round(floor / 2, 1)}
    path = ROOT / "bench" / "results" / f"faithfulness_{n}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"\nN = {n:,} x {d}, {len(rows):,} sampled items, k = {k}; GEMM {gflops:.0f} GFLOP/s\n")
    print("| phase | seconds |\n|---|---:|")
    for key, v in times.items():
        print(f"| {key} | {v} |")
    print(f"| total with numpy ranks | {total_old:.1f} |\n| total with compiled ranks | {total_new:.1f} |")
    print(f"| total with one product | {total_one:.1f} |")
    print(f"| floor: two 2,000 x N x d products at {gflops:.0f} GFLOP/s | {floor:.1f} |")
    print(f"| floor: one product | {floor / 2:.1f} |")
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
