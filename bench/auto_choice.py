"""Benchmark: what the auto engine decides for a full kNN graph at N items, and on what it rests.

For the two spaces of bench/scale.py (A: N x 256, clustered; B: N x 128, a noisy random
projection of A, weakly structured) this runs what ``compare A B`` (auto) does before its long
search, and stops there: the exact cost estimate at this machine's measured GEMM speed; the
IVF index build; the tuning of ``nprobe`` to recall@k >= the target on 1,000 exactly searched
queries, each effort timed; and the decision the auto engine takes from those timings (IVF at
the tuned nprobe, or exact when IVF would take longer or cannot reach the target). The full
search itself is not run (at 1M on 2 cores it takes from tens of minutes to hours); its time
is projected from the timed sample, which is what the auto engine itself goes by.

Usage: OMP_NUM_THREADS=2 python bench/auto_choice.py [--n 1000000] [--k 50] [--recall 0.95] [--spaces AB]
(``--k 1100 --spaces A``: the full ``evaluate A`` at 1M, whose k is max_bin_count.)
Writes bench/results/auto_choice_<N>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scale import make_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def decide(x: np.ndarray, k: int, recall: float, engine: str = "ivf") -> dict:
    """The auto engine's steps up to its decision, timed, for an approximate ``engine``
    (ivf: what auto runs; hnsw: the alternative measured on the same data)."""
    from spacelens.neighbors.approx import ExactIsCheaper, HnswEngine, IvfEngine
    from spacelens.neighbors.cost import exact_seconds, gemm_speed
    from spacelens.neighbors.exact import prepare_search

    n, d = x.shape
    exact_est = exact_seconds(n, n, d)
    eng = (IvfEngine if engine == "ivf" else HnswEngine)(recall=recall)
    eng.exact_fallback = exact_est
    q, b, rows, k = prepare_search(x, x, k, "cosine", np.arange(n))
    t = time.perf_counter()
    index = eng.build(b.vec, "cosine")
    build = time.perf_counter() - t
    t = time.perf_counter()
    effort, tuning, per_query = eng._tune(index, q, b, k, "cosine", rows, "tuning")
    tune = time.perf_counter() - t
    projected = per_query * n
    try:
        eng._check_fallback(effort, tuning, projected, k)
        decision = f"{engine}, {eng.effort_name} {effort}"
    except ExactIsCheaper as why:
        decision = "exact (" + (f"{engine} slower" if projected > exact_est else "target not reached") + ")"
        print("  " + why.message, flush=True)
    size = index.nlist if engine == "ivf" else f"M {eng.M}, ef_construction {eng.ef_construction}"
    return {"n": n, "dim": d, "k": k, "engine": engine, "gflops": round(gemm_speed() / 1e9, 1), "index": size,
            "exact_estimate_s": round(exact_est, 1), "index_build_s": round(build, 1), "tuning_s": round(tune, 1),
            "tuning": tuning, "effort": effort, "recall_at_effort": tuning[-1][1],
            "projected_s": round(projected, 1), "decision": decision}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--k", type=int, default=50, help="the graph's k (compare builds k_max = 50)")
    ap.add_argument("--recall", type=float, default=0.95)
    ap.add_argument("--spaces", default="AB", help="which of the two spaces (e.g. A: evaluate's case)")
    ap.add_argument("--engine", default="ivf", choices=("ivf", "hnsw"),
                    help="the approximate engine tuned (auto's is ivf; hnsw for comparison)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp), args.n, args.classes)
        for side in [c.lower() for c in args.spaces]:
            x = np.load(data[side], mmap_mode="r")
            r = decide(np.asarray(x), args.k, args.recall, args.engine)
            r["space"] = side.upper()
            rows.append(r)
            print(json.dumps(r), flush=True)
    tag = ("" if args.k == 50 and args.spaces == "AB" else f"_k{args.k}_{args.spaces}") + \
        ("" if args.engine == "ivf" else f"_{args.engine}")
    out = ROOT / "bench" / "results" / f"auto_choice_{args.n}{tag}.json"
    out.write_text(json.dumps({"recall_target": args.recall, "rows": rows}, indent=1))
    print("\n| space | engine (index) | exact est. | build | tuning | effort | recall@k | projected search | decision |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['space']} {r['n']:,} x {r['dim']} | {r['engine']} ({r['index']}) | {r['exact_estimate_s']:.0f} s | "
              f"{r['index_build_s']:.0f} s | {r['tuning_s']:.0f} s | {r['effort']} | {r['recall_at_effort']:.3f} | "
              f"{r['projected_s']:.0f} s | {r['decision']} |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
