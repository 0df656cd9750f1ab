"""spacelens evaluate vs pytorch-metric-learning's AccuracyCalculator, same data, same run.

For each case (N items, d = 128, C classes, labels uniform at random, clustered Gaussian
vectors) each tool runs in its own subprocess, so peak memory is per case:

- kNN metrics: the five retrieval metrics, k = max_bin_count, L2 distance (PML's default
  ``FaissKNN`` = faiss ``IndexFlatL2``; spacelens ``metric="l2"``, exact engine). spacelens is
  timed twice: first run (no cached graph: builds it, or streams when too large) and a second
  run (reuses the cached graph where one was stored).
- math: the metric computation alone. Both tools get the same precomputed neighbour indices
  (k = max_bin_count; about 70% same-label neighbours), PML through a ``knn_func`` that returns
  them, spacelens through ``retrieval_metrics``. Cheap to run at every size, and the part where
  PML's dense n x k torch tensors exhaust memory.
- clustering: NMI + AMI. PML: faiss k-means (random init, 25 iterations, 1 run). spacelens:
  greedy k-means++ (16 sampled points per cluster) + faiss Lloyd until the inertia settles,
  n_init restarts. Different algorithms: reported with each one's NMI, not ranked.

Peak memory is sampled from /proc/<pid>/status (RSS and private "anon" memory). A child whose
RSS passes ``--cap-gb`` is killed and reported as over the cap (instead of letting it exhaust
the shared machine). Seconds are of the evaluation call only (data generation, imports and
registering the space excluded); "x" columns are PML / spacelens.

    OMP_NUM_THREADS=2 python bench/evaluate.py                 # 10k and 50k, all modes
    OMP_NUM_THREADS=2 python bench/evaluate.py --n 10000 --modes knn --repeat 5 --merge   # medians
    OMP_NUM_THREADS=2 python bench/evaluate.py --n 200000 --modes knn math --knn-max-n 200000 --merge
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import proc_status  # noqa: E402  (the shared /proc sampler)

HERE = Path(__file__).resolve().parent
METRICS = ("precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision",
           "mean_reciprocal_rank")


# -- the children ----------------------------------------------------------------------------

def make_data(n: int, d: int, n_classes: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    centers = rng.normal(size=(n_classes, d)).astype(np.float32)
    x = centers[labels] * 0.6
    x += rng.normal(size=(n, d)).astype(np.float32)
    return x.astype(np.float32), labels


def make_knn(labels, seed: int, dtype, same_share: float = 0.7):
    """Neighbour indices (n x k, k = max_bin_count - 1): each a random member of the query's
    class with probability ``same_share``, else a random item. Generated in seeded row chunks,
    so every process gets the same matrix."""
    import numpy as np

    n = len(labels)
    counts = np.bincount(labels)
    k = int(counts.max()) - 1
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.empty((n, k), dtype=dtype)
    step = max(1, (1 << 24) // k)
    for i, s in enumerate(range(0, n, step)):
        e = min(n, s + step)
        rng = np.random.default_rng([seed, i])
        y = labels[s:e, None]
        same = order[starts[y] + (rng.random((e - s, k)) * counts[y]).astype(np.int64)]
        other = rng.integers(0, n, size=(e - s, k))
        out[s:e] = np.where(rng.random((e - s, k)) < same_share, same, other)
    return out, k


def _maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(args) -> dict:
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    out = {}
    if args.what == "math":
        import numpy as np

        labels = np.random.default_rng(args.seed).integers(0, args.classes, args.n)
        if args.tool == "pml":
            import torch
            from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

            torch.set_num_threads(threads)
            idx, k = make_knn(labels, args.seed, np.int64)
            idx = torch.from_numpy(idx)

            def given(query, k_, reference, ref_includes_query):
                assert k_ == k
                return torch.empty(0), idx          # PML does not use the distances

            calc = AccuracyCalculator(include=METRICS, k="max_bin_count", knn_func=given, device=torch.device("cpu"))
            dummy = np.zeros((args.n, 1), dtype=np.float32)
            out["rss_before"] = _maxrss()
            t, c = time.perf_counter(), time.process_time()
            res = calc.get_accuracy(dummy, labels)
            out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - c
        else:
            from spacelens.evaluate import retrieval_metrics

            idx, k = make_knn(labels, args.seed, np.int32)
            out["rss_before"] = _maxrss()
            t, c = time.perf_counter(), time.process_time()
            res = retrieval_metrics(idx, labels, labels, ref_includes_query=True).metrics
            out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - c
        out["k"] = k
        out["metrics"] = {m: float(res[m]) for m in METRICS}
        out["rss_child_max"] = _maxrss()
        return out
    x, labels = make_data(args.n, args.d, args.classes, args.seed)
    if args.tool == "pml":
        import torch
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

        torch.set_num_threads(threads)
        include = METRICS if args.what == "knn" else ("NMI", "AMI")
        calc = AccuracyCalculator(include=include, k="max_bin_count", device=torch.device("cpu"))
        out["rss_before"] = _maxrss()
        t, c = time.perf_counter(), time.process_time()
        res = calc.get_accuracy(x, labels)
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - c
        out["metrics"] = {k: float(v) for k, v in res.items()}
    else:
        import importlib

        import faiss  # noqa: F401  (imported outside the timing, as PML's imports are)
        import pandas as pd

        import spacelens
        for module in ("spacelens.neighbors", "spacelens.evaluate.core"):   # idem: loaded lazily by the API
            importlib.import_module(module)

        if args.what == "knn":
            with tempfile.TemporaryDirectory(dir=args.tmp) as home:
                table = pd.DataFrame({"id": [str(i) for i in range(args.n)], "label": labels})
                spacelens.add(x, table, dataset_name="bench", experiment_name="e", space_name="s", home=home)
                del x
                out["rss_before"] = _maxrss()
                t, c = time.perf_counter(), time.process_time()
                res = spacelens.evaluate("s", label_field="label", metric="l2", clustering=False, home=home)
                out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - c
                out["knn_source"] = res["info"]["knn"]
                out["k"] = res["info"]["k"]
                out["metrics"] = {m: res[m] for m in METRICS}
                t = time.perf_counter()
                res2 = spacelens.evaluate("s", label_field="label", metric="l2", clustering=False, home=home)
                out["seconds_second_run"] = time.perf_counter() - t
                out["knn_source_second_run"] = res2["info"]["knn"]
        else:
            import sklearn.cluster  # noqa: F401  (imports outside the timing, as PML's are)

            from spacelens.evaluate import clustering_metrics, kmeans_assignment

            out["rss_before"] = _maxrss()
            t, c = time.perf_counter(), time.process_time()
            assign = kmeans_assignment(x, args.classes, seed=0, n_init=args.n_init)
            res = clustering_metrics(labels, assign)
            out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - c
            out["metrics"] = res
    out["rss_child_max"] = _maxrss()
    return out


# -- the parent: run a child, sample memory, enforce the cap -----------------------------------

def run_child(argv: list[str], cap_bytes: int, timeout: float) -> dict:
    peak = {"VmRSS": 0, "RssAnon": 0}
    state = {"over_cap": False}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = f.name
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--result", result_path, *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SPACELENS_NO_PROGRESS": "1"})
    done = threading.Event()

    def sample():
        while not done.is_set():
            s = proc_status(proc.pid)
            for k, v in s.items():
                peak[k] = max(peak[k], v)
            if s.get("VmRSS", 0) > cap_bytes:
                state["over_cap"] = True
                proc.send_signal(signal.SIGKILL)
                return
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        _, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        timed_out = True
    done.set()
    th.join()
    res = {"peak_rss": peak["VmRSS"], "peak_anon": peak["RssAnon"], "rc": proc.returncode}
    if state["over_cap"]:
        res["status"] = f"killed: RSS over the {cap_bytes / 2**30:.0f} GiB cap"
    elif timed_out:
        res["status"] = f"killed: over the {timeout:.0f} s limit"
    elif proc.returncode != 0:
        last = (err.strip().splitlines() or ["?"])[-1]
        res["status"] = f"failed (exit {proc.returncode}): {last[:160]}"
    else:
        res["status"] = "ok"
        res.update(json.loads(Path(result_path).read_text()))
    Path(result_path).unlink(missing_ok=True)
    return res


def run_pair(common: list[str], cap: int, timeout: float, repeat: int) -> tuple[dict, dict]:
    """Both tools on one case, ``repeat`` times alternating; each side's median-time run.

    Sub-second cases move by +-50% with the machine's other load: alternating the tools and
    taking medians lets both see the same conditions."""
    runs = {"spacelens": [], "pml": []}
    for _ in range(max(1, repeat)):
        for tool in runs:
            runs[tool].append(run_child(["--tool", tool, *common], cap, timeout))
    picked = []
    for tool, rs in runs.items():
        ok = sorted((r for r in rs if r["status"] == "ok"), key=lambda r: r["seconds"])
        best = ok[len(ok) // 2] if ok else rs[-1]
        if len(rs) > 1:
            best = dict(best, repeats=len(rs), all_seconds=[r.get("seconds") for r in rs])
        picked.append(best)
    return picked[0], picked[1]


def gib(b) -> str:
    return f"{b / 2**30:.2f}" if b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--classes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap-gb", type=float, default=10.0, help="kill a child whose RSS passes this")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per child")
    ap.add_argument("--cluster-max-n", type=int, default=50_000, help="run the clustering comparison up to this N")
    ap.add_argument("--n-init", type=int, default=3, help="spacelens k-means restarts")
    ap.add_argument("--tmp", default=None, help="folder for the temporary registries")
    ap.add_argument("--out", default=str(HERE / "results" / "evaluate.json"))
    ap.add_argument("--merge", action="store_true", help="add to --out, replacing only the cases measured now")
    # child mode
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--tool", choices=["spacelens", "pml"], help=argparse.SUPPRESS)
    ap.add_argument("--what", choices=["knn", "math", "cluster"], default="knn", help=argparse.SUPPRESS)
    ap.add_argument("--modes", nargs="+", default=["knn", "math", "cluster"], choices=["knn", "math", "cluster"],
                    help="what to compare (default: all three)")
    ap.add_argument("--knn-max-n", type=int, default=50_000, help="run the full kNN pipeline up to this N")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each case this many times, the tools alternating, and report medians")
    args = ap.parse_args()
    if args.child:
        args.n, args.classes = args.n[0], args.classes[0]
        Path(args.result).write_text(json.dumps(child(args)))
        return

    import numpy as np

    def versions():
        import faiss
        import sklearn
        import torch
        import pytorch_metric_learning

        import spacelens
        return {"python": platform.python_version(), "numpy": np.__version__, "faiss": faiss.__version__,
                "torch": torch.__version__, "pytorch_metric_learning": pytorch_metric_learning.__version__,
                "scikit-learn": sklearn.__version__, "spacelens": spacelens.__version__}

    cap = int(args.cap_gb * 2**30)
    meta = {"cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_avg_start": os.getloadavg(), "cap_gb": args.cap_gb, "d": args.d, "versions": versions(),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    rows = []
    print(f"{'N':>7} {'C':>5} {'what':>7} {'k':>5} | {'spacelens s':>11} {'CPU s':>7} {'2nd run s':>9} {'RSS GiB':>7} "
          f"{'anon':>5} | {'PML s':>8} {'CPU s':>7} {'RSS GiB':>7} {'anon':>5} | {'x time':>6} {'x RSS':>5} "
          f"{'max |diff|':>10}")
    for n in args.n:
        for c in args.classes:
            whats = [w for w in args.modes
                     if (w != "cluster" or n <= args.cluster_max_n) and (w != "knn" or n <= args.knn_max_n)]
            for what in whats:
                common = ["--n", str(n), "--classes", str(c), "--d", str(args.d), "--seed", str(args.seed),
                          "--what", what, "--n-init", str(args.n_init)] + (["--tmp", args.tmp] if args.tmp else [])
                ours, theirs = run_pair(common, cap, args.timeout, args.repeat)
                row = {"n": n, "classes": c, "d": args.d, "what": what, "spacelens": ours, "pml": theirs}
                if ours["status"] == "ok" and theirs["status"] == "ok":
                    row["time_ratio"] = theirs["seconds"] / ours["seconds"]
                    row["rss_ratio"] = theirs["peak_rss"] / max(ours["peak_rss"], 1)
                    keys = ("NMI", "AMI") if what == "cluster" else METRICS
                    row["max_abs_diff"] = max(abs(ours["metrics"][m] - theirs["metrics"][m]) for m in keys)
                rows.append(row)

                def t(r, key="seconds"):
                    return f"{r[key]:.2f}" if r["status"] == "ok" and r.get(key) is not None else "-"
                status = "" if theirs["status"] == "ok" else f"  PML: {theirs['status']}"
                status += "" if ours["status"] == "ok" else f"  spacelens: {ours['status']}"
                print(f"{n:>7} {c:>5} {what:>7} {ours.get('k', '-'):>5} | {t(ours):>11} {t(ours, 'cpu_seconds'):>7} "
                      f"{t(ours, 'seconds_second_run'):>9} {gib(ours['peak_rss']):>7} {gib(ours['peak_anon']):>5} | "
                      f"{t(theirs):>8} {t(theirs, 'cpu_seconds'):>7} {gib(theirs['peak_rss']):>7} "
                      f"{gib(theirs['peak_anon']):>5} | "
                      f"{row.get('time_ratio', float('nan')):>6.2f} {row.get('rss_ratio', float('nan')):>5.2f} "
                      f"{row.get('max_abs_diff', float('nan')):>10.2e}{status}", flush=True)
    meta["load_avg_end"] = os.getloadavg()
    for r in rows:
        r["run"] = meta["date"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [meta]
    if args.merge and out.exists():   # keep earlier runs' cases that this run did not measure
        old = json.loads(out.read_text())
        done = {(r["n"], r["classes"], r["what"]) for r in rows}
        rows = [r for r in old.get("rows", []) if (r["n"], r["classes"], r["what"]) not in done] + rows
        runs = old.get("runs", []) + runs
        rows.sort(key=lambda r: (r["n"], r["classes"], ("knn", "math", "cluster").index(r["what"])))
    out.write_text(json.dumps({"runs": runs, "rows": rows}, indent=2))
    print(f"wrote {args.out}; load average {meta['load_avg_start']} -> {meta['load_avg_end']}")


if __name__ == "__main__":
    main()
