"""Benchmark: the embedded exact engine vs the dask engine on 1 and 2 local workers (issue 9).

One self-kNN graph (k = 10, cosine, self excluded) of N x d float32 clustered vectors (200
clusters + noise), stored as an ``.npy`` and memory-mapped, as a registry space is:

- exact: ``ExactEngine().search`` in this process (faiss with OMP_NUM_THREADS threads).
- dask, W workers: ``DaskEngine(n_workers=W)``: a LocalCluster of W worker processes x 1 thread
  (faiss 1 thread per task) started for the call; tasks read their blocks from the ``.npy``.
  "total" includes starting and stopping the cluster; "compute" is from workers ready to result.

Both engines must return the same ids and distances (checked). The scaling model in
bench/README.md ("## distributed") is fitted on the 1-worker run and checked on the 2-worker run;
this script prints both and the model's figures for 10M items.

    OMP_NUM_THREADS=2 python bench/distributed.py                 # N = 100,000, d = 256
    OMP_NUM_THREADS=2 python bench/distributed.py --n 20000       # quicker, on a busy machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This file is called distributed.py: keep its folder off the path so "import distributed" finds Dask.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def clustered(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(200, d)).astype(np.float32) * 2
    x = centers[rng.integers(0, 200, size=n)]
    x += rng.normal(size=(n, d)).astype(np.float32)
    return x


def model(n: int, d: int, k: int, workers: int, rate: float, block_rows: int, start: float) -> dict:
    """Expected seconds and bytes of an exact self-graph on ``workers`` single-thread workers.

    ``rate``: effective flop/s of one worker thread, fitted on a measured run, so it includes
    the per-task costs (scheduling, reading and preparing two blocks, exact re-ranking, merges).
    Block tasks are independent: W workers share them; the last one to start may run alone
    (list scheduling: sum / W + half the largest task on average).
    """
    blocks = -(-n // block_rows)
    flops = 2.0 * n * n * d
    t_max = 2.0 * block_rows * block_rows * d / rate
    compute = flops / rate / workers + (t_max / 2 if workers > 1 else 0.0)
    return {"n": n, "d": d, "k": k, "workers": workers, "block_rows": block_rows, "blocks": blocks,
            "block_tasks": blocks * blocks, "merge_tasks": blocks * (blocks - 1), "flops": flops,
            "bytes_read": 2 * blocks * n * d * 4, "bytes_partial_results": blocks * n * k * 12,
            "bytes_result": n * k * 8, "seconds_task": t_max, "seconds": start + compute,
            "seconds_compute": compute}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--block-rows", type=int, default=None, help="rows per block (default: the engine's)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "distributed.json")
    args = ap.parse_args()

    import faiss

    from spacelens.neighbors.dask_engine import DaskEngine
    from spacelens.neighbors.exact import ExactEngine

    n, d, k = args.n, args.d, args.k
    rows = np.arange(n)
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="spacelens-bench-") as tmp:
        path = Path(tmp) / "space.npy"
        np.save(path, clustered(n, d))
        x = np.load(path, mmap_mode="r")
        print(f"N = {n:,}, d = {d}, k = {k}, cosine; faiss threads (exact) = {faiss.omp_get_max_threads()}, "
              f"cores = {os.cpu_count()}, load avg = {os.getloadavg()[0]:.1f}", flush=True)

        t, cpu = time.perf_counter(), time.process_time()
        ref_i, ref_d = ExactEngine().search(x, x, k, "cosine", rows)
        t_exact, cpu_exact = time.perf_counter() - t, time.process_time() - cpu
        results.append({"engine": "exact", "workers": None, "threads": faiss.omp_get_max_threads(),
                        "seconds": round(t_exact, 2), "seconds_compute": round(t_exact, 2),
                        "cpu_seconds": round(cpu_exact, 2), "identical": True})
        print(f"  exact: {t_exact:.1f} s ({cpu_exact:.1f} CPU s)", flush=True)

        for w in args.workers:
            eng = DaskEngine(n_workers=w, threads_per_worker=1, task_threads=1, block_rows=args.block_rows)
            t = time.perf_counter()
            gi, gd = eng.search(x, x, k, "cosine", rows)
            total = time.perf_counter() - t
            same = bool(np.array_equal(gi, ref_i) and np.array_equal(gd, ref_d))
            run = eng.last_run
            results.append({"engine": "dask", "workers": w, "threads": 1, "seconds": round(total, 2),
                            "seconds_compute": run["seconds_compute"], "seconds_start": run["seconds_start"],
                            "cpu_seconds": round(run["task_cpu_seconds"], 2),
                            "identical": same, "block_rows": eng.blocks(n)[0][1], **{
                                key: run[key] for key in ("query_blocks", "block_tasks", "merge_tasks",
                                                          "bytes_read", "bytes_partial_results")}})
            print(f"  dask, {w} worker(s): {total:.1f} s (compute {run['seconds_compute']:.1f} s, tasks "
                  f"{run['task_cpu_seconds']:.1f} CPU s), identical to exact: {same}", flush=True)

    flops = 2.0 * n * n * d
    print("\n| engine | workers x threads | seconds (total) | seconds (compute) | x exact | CPU s | GFLOP/s "
          "| identical |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        wt = f"{r['workers']} x 1" if r["workers"] else f"in-process x {r['threads']}"
        r["ratio_vs_exact"] = round(r["seconds"] / t_exact, 2)
        r["gflops"] = round(flops / r["seconds_compute"] / 1e9, 1)
        print(f"| {r['engine']} | {wt} | {r['seconds']:.1f} | {r['seconds_compute']:.1f} | "
              f"{r['ratio_vs_exact']:.2f} | {r['cpu_seconds']:.1f} | {r['gflops']:.0f} | "
              f"{'yes' if r['identical'] else 'NO'} |")

    # Scaling model: fit the effective per-thread rate on the 1-worker run, check the others.
    # On a shared machine the wall time depends on the other jobs; the tasks' CPU seconds do not,
    # so the rate is also given per CPU second (what a dedicated core would deliver).
    one = next((r for r in results if r["workers"] == 1), None)
    check, big = {}, []
    if one is not None:
        rate = flops / one["seconds_compute"]
        rate_cpu = flops / one["cpu_seconds"]
        print(f"\nper worker thread: {rate / 1e9:.1f} GFLOP/s of wall time here, {rate_cpu / 1e9:.1f} GFLOP/s per "
              f"CPU second; CPU seconds of the tasks with W workers / with 1: "
              + ", ".join(f"{r['workers']}: {r['cpu_seconds'] / one['cpu_seconds']:.2f}"
                          for r in results if r["workers"]))
        for r in results:
            if r["workers"]:
                m = model(n, d, k, r["workers"], rate, r["block_rows"], r["seconds_start"])
                check[r["workers"]] = {"predicted_compute": round(m["seconds_compute"], 2),
                                       "measured_compute": r["seconds_compute"],
                                       "error": round(r["seconds_compute"] / m["seconds_compute"] - 1, 3)}
        print(f"\nmodel fitted on 1 worker: {rate / 1e9:.1f} GFLOP/s effective per worker thread")
        for w, c in check.items():
            r = next(r for r in results if r["workers"] == w)
            c["cpu_share_per_worker"] = round(r["cpu_seconds"] / (r["seconds_compute"] * w), 3)
            c["dedicated_compute"] = round(model(n, d, k, w, flops / r["cpu_seconds"], r["block_rows"],
                                                 0.0)["seconds_compute"], 2)
            print(f"  {w} worker(s): predicted compute {c['predicted_compute']:.1f} s, measured "
                  f"{c['measured_compute']:.1f} s ({c['error']:+.0%}); each worker got "
                  f"{c['cpu_share_per_worker']:.0%} of a core; on dedicated cores: {c['dedicated_compute']:.1f} s")
        big = [model(10_000_000, d, k, w, rate_cpu, 131072, 10.0) for w in (1, 16, 64, 256, 1024)]
        print(f"\n10M x {d}, k = {k}, dedicated cores at the per-CPU-second rate, block_rows 131072: "
              f"{big[0]['blocks']} blocks, {big[0]['block_tasks']:,} "
              f"block tasks of {big[0]['seconds_task']:.0f} s, {big[0]['bytes_read'] / 1e12:.2f} TB block reads, "
              f"{big[0]['bytes_partial_results'] / 1e9:.0f} GB partial results:")
        for m in big:
            print(f"  {m['workers']:>5} workers: {m['seconds'] / 3600:8.2f} h")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "n": n, "d": d, "k": k, "metric": "cosine",
        "load_avg": os.getloadavg(), "results": results, "model_check": check, "model_10M": big}, indent=1))
    print(f"\nwrote {args.out}")
    if not all(r["identical"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
