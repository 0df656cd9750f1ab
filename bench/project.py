"""Benchmark: 2D maps (PCA, UMAP, PCA -> UMAP) with and without the cached kNN graph.

Every case runs in a fresh Python process (so its peak RSS is its own). UMAP cases first fit
a 5,000-item slice in that process (same code path), so the timed fit excludes numba's JIT;
that first fit is reported apart, as umap-learn pays it in every new process for the kernels
it does not cache.
Cases, per N (d = 512, synthetic clustered data, cosine, n_neighbors = 15, seed = 0):

- graph          exact kNN graph (k = 14) built and stored: what "cached" saves
- pca            spacelens PCA map
- umap-cached    spacelens UMAP from the cached graph (umap-learn with precomputed_knn)
- umap-own       umap-learn computing its own neighbours (pynndescent), same settings [baseline]
- umap-own-par   the same without a seed (umap-learn then runs multi-threaded) [baseline]
- pca-umap       spacelens PCA -> 50 dims, kNN there (exact up to 20k items, faiss IVF beyond), UMAP
- pca-umap-own   PCA -> 50 dims, umap-learn computing its own neighbours [baseline]
- faithfulness   kNN preservation + trustworthiness (2,000 sampled items) of the UMAP map
- CASE@new       the same UMAP cases as a new process pays them: no warm-up fit, so numba's
                 JIT (what its on-disk cache does not hold) is inside the timed fit; the
                 comparison adds the import time too (numba's on-disk cache already filled, as
                 on any machine that has run the code once)

A separate small experiment times numba's JIT: the first process on a machine (empty
cache), later processes, and later processes without spacelens's cache switch for umap.

    OMP_NUM_THREADS=2 .venv/bin/python bench/project.py --sizes 20000 100000
Writes bench/results/project.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = ["graph", "pca", "umap-cached", "umap-own", "umap-own-par", "pca-umap", "pca-umap-own", "faithfulness",
         "umap-cached@new", "umap-own@new", "pca-umap@new", "pca-umap-own@new"]
BASELINE = {"umap-cached": "umap-own", "pca-umap": "pca-umap-own", "umap-cached@new": "umap-own@new",
            "pca-umap@new": "pca-umap-own@new"}


def make_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    """100 clusters with 32-dim structure inside a d-dim space, plus isotropic noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 100, n)
    centers = rng.normal(size=(100, d)).astype(np.float32) * 2
    basis = rng.normal(size=(100, 32, d)).astype(np.float32) / np.sqrt(32)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 10000):
        lab = labels[s:s + 10000]
        z = rng.normal(size=(len(lab), 32)).astype(np.float32)
        out[s:s + 10000] = (centers[lab] + np.einsum("ni,nid->nd", z, basis[lab])
                            + 0.3 * rng.normal(size=(len(lab), d)).astype(np.float32))
    return out


def _add(home: Path, x: np.ndarray, name: str) -> None:
    import pandas as pd

    import spacelens

    table = pd.DataFrame({"id": [f"{name}-{i}" for i in range(len(x))]})
    spacelens.add(x, table, dataset_name=name, experiment_name="e", space_name=name, home=home)


# -- child side: one case in this process ------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the parent's peak at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_case(case: str, x: np.ndarray, graph) -> None:
    from spacelens.project import maps
    from spacelens.project.core import measure

    if case == "pca":
        maps.pca_map(x)
    elif case == "umap-cached":
        maps.umap_map(x, graph.indices, graph.distances, "cosine", 15, 0)
    elif case == "umap-own":
        maps.umap_own_neighbors(x, "cosine", 15, seed=0)
    elif case == "umap-own-par":
        import warnings

        import umap
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            umap.UMAP(n_neighbors=15, metric="cosine", min_dist=maps.MIN_DIST).fit_transform(x)
    elif case == "pca-umap":
        maps.pca_umap_map(x, 15, 0)
    elif case == "pca-umap-own":
        maps.umap_own_neighbors(maps.pca_reduce(x, 50, 0), "euclidean", 15, seed=0)
    elif case == "faithfulness":
        coords = np.random.default_rng(0).normal(size=(len(x), 2)).astype(np.float32)  # cost is map-independent
        measure(x, coords, graph.indices, "cosine", 10, 2000)
    else:
        raise ValueError(case)


def child(case: str, home: str, space: str) -> dict:
    """Time one case on a registered space; UMAP cases first fit a 5,000-item slice (same code
    path) so the timed fit excludes numba's JIT, which is reported apart."""
    t_start = time.perf_counter()
    from spacelens.neighbors import KnnGraph, exact_search, knn_graph, prepare
    from spacelens.project import maps
    from spacelens.registry import Registry

    reg = Registry(home)
    rec = reg.space(space)
    out = {}
    if case == "graph":
        t0, c0 = time.perf_counter(), time.process_time()
        knn_graph(reg, rec, 14, "cosine")
        out["seconds"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        out["peak_rss_mb"] = peak_rss_mb()
        return out
    x = prepare(reg.load_vectors(rec), "cosine")
    out["rss_data_mb"] = peak_rss_mb()
    t0 = time.perf_counter()
    import sklearn.decomposition  # noqa: F401
    if "umap" in case:
        import umap  # noqa: F401
        maps._enable_numba_cache()
    out["import_s"] = time.perf_counter() - t0
    fresh = case.endswith("@new")
    case = case.removesuffix("@new")
    if "umap" in case and not fresh and not os.environ.get("BENCH_NO_WARMUP"):
        m = min(len(x), 5000)
        xs = np.ascontiguousarray(x[:m])
        gi, gd = exact_search(xs, xs, 14, "cosine", query_rows=np.arange(m))
        t0, c0 = time.perf_counter(), time.process_time()
        _run_case(case, xs, KnnGraph(gi, gd, "cosine", "exact"))
        out["warmup_fit_s"], out["warmup_fit_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    graph = knn_graph(reg, rec, 14, "cosine") if case in ("umap-cached", "faithfulness") else None  # from cache
    t0, c0 = time.perf_counter(), time.process_time()
    _run_case(case, x, graph)
    out["seconds"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    out["peak_rss_mb"] = peak_rss_mb()
    out["process_s"], out["process_cpu_s"] = time.perf_counter() - t_start, time.process_time()
    return out


def run_child(case: str, home: Path, space: str, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--home", str(home), "--space", space]
    e = {**os.environ, "SPACELENS_NO_PROGRESS": "1", **(env or {})}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=e)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{p.stderr[-3000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_s"] = wall
    return res


def jit_experiment(home: Path, space: str) -> dict:
    """First process with an empty numba cache, then later processes, with and without the cache switch."""
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        env = {"NUMBA_CACHE_DIR": cache, "BENCH_NO_WARMUP": "1"}
        cold = run_child("umap-cached", home, space, env)
        warm = run_child("umap-cached", home, space, env)
        nocache = run_child("umap-cached", home, space, {**env, "BENCH_DISABLE_UMAP_CACHE": "1"})
    return {"first_process": cold, "later_process": warm, "later_process_without_umap_cache": nocache}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--cases", nargs="+", default=CASES)
    ap.add_argument("--jit-n", type=int, default=2000, help="items in the JIT experiment (0: skip it)")
    ap.add_argument("--child")
    ap.add_argument("--home")
    ap.add_argument("--space")
    args = ap.parse_args()
    if args.child:
        if os.environ.get("BENCH_DISABLE_UMAP_CACHE"):
            from spacelens.project import maps
            maps._enable_numba_cache = lambda: None
        print(json.dumps(child(args.child, args.home, args.space)))
        return

    conditions = {"python": platform.python_version(), "cpus": os.cpu_count(),
                  "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "loadavg_start": os.getloadavg(),
                  "machine": platform.machine(), "dim": args.dim, "metric": "cosine", "n_neighbors": 15,
                  "k_faithfulness": 10, "trust_sample": 2000}
    try:
        import numba
        import pynndescent
        import sklearn
        import umap
        conditions.update(umap=umap.__version__, numba=numba.__version__, pynndescent=pynndescent.__version__,
                          sklearn=sklearn.__version__)
    except Exception:
        pass
    results = {"conditions": conditions, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-project-") as tmp:
        home = Path(tmp) / "home"
        if args.jit_n:
            _add(home, make_data(args.jit_n, args.dim, 1), "jit")
            run_child("graph", home, "jit")
            results["jit"] = jit_experiment(home, "jit")
            j = results["jit"]
            print(f"numba JIT, UMAP from the cached graph at n={args.jit_n}, whole new process, wall / CPU s: "
                  + ", ".join(f"{label} {j[key]['process_s']:.1f} / {j[key]['process_cpu_s']:.1f}" for label, key in
                              (("first process", "first_process"), ("later", "later_process"),
                               ("later without the umap cache switch", "later_process_without_umap_cache"))),
                  flush=True)
        for n in args.sizes:
            name = f"n{n}"
            t0 = time.perf_counter()
            _add(home, make_data(n, args.dim), name)
            print(f"\nN = {n:,}, d = {args.dim} (data registered in {time.perf_counter() - t0:.1f} s)", flush=True)
            res = {}
            for case in ["graph"] + [c for c in args.cases if c != "graph"]:
                res[case] = run_child(case, home, name)
                r = res[case]
                print(f"  {case:14s} {r['seconds']:8.2f} s  CPU {r['cpu_s']:8.2f} s   peak RSS {r['peak_rss_mb']:7.0f} MB"
                      + (f"   (import {r['import_s']:.1f} s" if "import_s" in r else "")
                      + (f", first fit on 5k items incl. JIT {r['warmup_fit_s']:.1f} s" if "warmup_fit_s" in r else "")
                      + (")" if "import_s" in r else ""), flush=True)
            for ours, base in BASELINE.items():
                if ours in res and base in res:
                    imp = ours.endswith("@new")  # a new process pays the imports too
                    res[f"{ours}_speedup"] = ((res[base]["seconds"] + imp * res[base]["import_s"])
                                              / (res[ours]["seconds"] + imp * res[ours]["import_s"]))
                    res[f"{ours}_cpu_speedup"] = res[base]["cpu_s"] / res[ours]["cpu_s"]
                    res[f"{ours}_with_graph_build_speedup"] = (res[base]["seconds"]
                                                               / (res[ours]["seconds"] + res["graph"]["seconds"]))
            results["sizes"][str(n)] = res
            _print_table(n, res)
    conditions["loadavg_end"] = os.getloadavg()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "project.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {HERE / 'results' / 'project.json'}")


def _print_table(n: int, res: dict) -> None:
    print(f"\n| case (N = {n:,}) | wall s | CPU s | peak RSS MB | first fit in process (JIT), s | vs baseline (wall, CPU) |"
          "\n|---|---|---|---|---|---|")
    for case in CASES:
        if case not in res:
            continue
        r = res[case]
        ratio = (f"{res[case + '_speedup']:.2f}x, {res[case + '_cpu_speedup']:.2f}x"
                 if case + "_speedup" in res else "")
        warm = f"{r['warmup_fit_s']:.1f}" if "warmup_fit_s" in r else ""
        print(f"| {case} | {r['seconds']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {warm} | {ratio} |")
    if "umap-cached" in res:
        g, u = res["graph"], res["umap-cached"]
        print(f"| umap-cached + building the graph | {u['seconds'] + g['seconds']:.2f} | {u['cpu_s'] + g['cpu_s']:.2f} | "
              f"{max(u['peak_rss_mb'], g['peak_rss_mb']):.0f} | | "
              + (f"{res['umap-cached_with_graph_build_speedup']:.2f}x (wall) |"
                 if "umap-cached_with_graph_build_speedup" in res else " |"))


if __name__ == "__main__":
    main()
