"""Benchmark: NMI/AMI at scale (issue 28), the full k-means figure vs its estimates, same run.

Data: Gaussian classes as bench/scale.py (centres x SCALE + unit noise, L2-normalised; a well
and a weakly separated variant). Rows per case:

  full        kmeans_assignment over all items, n_init=3, seeds 0 and 1 (the seed spread)
  estimate    clustering_sampled.estimate, seed 0 (the full run's restarts, compared on --sample
              items; its fits are the full run's, computed once and timed in both rows)
  (a) sample  k-means fitted and scored on 3 random samples of --sample-per-class x classes items
  (b) fit64   one restart fitted on 64 points per cluster, all items assigned, 3 fits

Each with its value, 95% interval, |error| vs the full figure (seed 0) and seconds.

--big N:C:D (e.g. 1000000:1000:256) times one large case part by part, the k-means fits shared:
the full figure's cost = 3 fits + 3 searches of all items + sklearn NMI + sklearn AMI; the
estimate's = the same 3 fits + restarts compared on --sample items + 1 search + scores().

Usage: OMP_NUM_THREADS=2 python bench/clustering_scale.py [--cases 50000:100:128 ...] [--big N:C:D]
Writes bench/results/clustering_scale.json (--big: clustering_scale_big.json), prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from spacelens.evaluate import clustering_sampled as cs  # noqa: E402
from spacelens.evaluate.clustering import kmeans_run  # noqa: E402

ROOT = Path(__file__).resolve().parent


def data(n: int, classes: int, d: int, scale: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, d)).astype(np.float32) * scale
    x = centres[labels] + rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, labels


def full_from_runs(x, labels, runs) -> dict:
    """What kmeans_assignment + clustering_metrics do with these restarts: best inertia over all
    items, sklearn's NMI and AMI."""
    from spacelens.evaluate.clustering import clustering_metrics

    best, best_inertia = None, np.inf
    for idx in runs:
        dist, assign = idx.search(x, 1)
        if dist.sum(dtype=np.float64) < best_inertia:
            best, best_inertia = assign[:, 0], dist.sum(dtype=np.float64)
    return clustering_metrics(labels, best)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=["50000:100:128"], help="n:classes:dim")
    ap.add_argument("--scales", nargs="+", type=float, default=[0.5, 0.3], help="well / weakly separated")
    ap.add_argument("--sample", type=int, default=50_000, help="items the estimate compares restarts on")
    ap.add_argument("--sample-per-class", type=int, default=64)
    ap.add_argument("--big", default=None, help="n:classes:dim, timed part by part (fits shared)")
    args = ap.parse_args()
    if args.big:
        big(args)
        return
    rows = []
    for case in args.cases:
        n, c, d = map(int, case.split(":"))
        for scale in args.scales:
            x, labels = data(n, c, d, scale)
            where = f"{n:,} x {d}, {c} classes, scale {scale}"
            fulls = []
            for seed in (0, 1):   # the full path, its restarts kept for the estimate (the same ones it runs)
                runs, t_fit = timed(lambda: [kmeans_run(x, c, seed=seed, run=r) for r in range(3)])
                full, t_score = timed(lambda: full_from_runs(x, labels, runs))
                fulls.append(full)
                rows.append({"case": where, "method": f"full (seed {seed})", "NMI": full["NMI"], "AMI": full["AMI"],
                             "ci_NMI": None, "ci_AMI": None, "seconds": t_fit + t_score})
                if seed == 0:
                    est, t_est = timed(lambda: cs.from_runs(x, labels, runs, sample=args.sample, seed=0))
                    rows.append({"case": where, "method": "estimate", "NMI": est["NMI"], "AMI": est["AMI"],
                                 "ci_NMI": est["ci95"]["NMI"], "ci_AMI": est["ci95"]["AMI"],
                                 "seconds": t_fit + t_est})
            for method, fn in (("(a) sample", lambda: cs.subsample_kmeans(x, labels, c, sample=args.sample_per_class * c)),
                               ("(b) fit64", lambda: cs.fit_sample_assign_all(x, labels, c, points_per_cluster=64))):
                est, sec = timed(fn)
                rows.append({"case": where, "method": method, "NMI": est["NMI"], "AMI": est["AMI"],
                             "ci_NMI": est["ci95"]["NMI"], "ci_AMI": est["ci95"]["AMI"], "seconds": sec})
            for r in rows:
                if r["case"] == where:
                    r["err_NMI"] = abs(r["NMI"] - fulls[0]["NMI"])
                    r["covers_full"] = (None if r["ci_NMI"] is None else
                                        bool(r["ci_NMI"][0] - 1e-9 <= fulls[0]["NMI"] <= r["ci_NMI"][1] + 1e-9))
            print(f"done {where}", flush=True)

    def ci(v):
        return "-" if v is None else f"{v[0]:.4f}-{v[1]:.4f}"
    print("| case | method | NMI | 95% CI | AMI | 95% CI | NMI error vs full | covers | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['method']} | {r['NMI']:.4f} | {ci(r['ci_NMI'])} | {r['AMI']:.4f} | "
              f"{ci(r['ci_AMI'])} | {r['err_NMI']:.4f} | {r['covers_full'] if r['covers_full'] is not None else '-'} "
              f"| {r['seconds']:.1f} |")
    out = ROOT / "results" / "clustering_scale.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    tmp.replace(out)


def big(args) -> None:
    from spacelens.evaluate.clustering import ami, kmeans_run, nmi

    n, c, d = map(int, args.big.split(":"))
    x, labels = data(n, c, d, args.scales[0])
    t = {}
    runs = []
    for r in range(3):
        idx, sec = timed(lambda: kmeans_run(x, c, seed=0, run=r))
        runs.append(idx)
        t[f"fit {r}"] = sec
    best, best_inertia = None, np.inf
    t["full: 3 searches of all items"] = 0.0
    for idx in runs:
        (dist, assign), sec = timed(lambda: idx.search(x, 1))
        t["full: 3 searches of all items"] += sec
        if dist.sum(dtype=np.float64) < best_inertia:
            best, best_inertia = assign[:, 0], dist.sum(dtype=np.float64)
    full_nmi, t["full: sklearn NMI"] = timed(lambda: nmi(labels, best))
    full_ami, t["full: sklearn AMI"] = timed(lambda: ami(labels, best))
    est, t["estimate: compare on sample, search, scores"] = timed(
        lambda: cs.from_runs(x, labels, runs, sample=args.sample, seed=0))
    fits = sum(v for k, v in t.items() if k.startswith("fit"))
    total_full = fits + sum(v for k, v in t.items() if k.startswith("full"))
    total_est = fits + t["estimate: compare on sample, search, scores"]
    print(f"| part ({n:,} x {d}, {c} classes) | seconds |\n|---|---|")
    for k, v in t.items():
        print(f"| {k} | {v:.1f} |")
    print(f"| **full total** | {total_full:.1f} |\n| **estimate total** | {total_est:.1f} |")
    print(f"full NMI {full_nmi:.4f} AMI {full_ami:.4f}; estimate NMI {est['NMI']:.4f} {est['ci95']['NMI']} "
          f"AMI {est['AMI']:.4f} {est['ci95']['AMI']} ({est['runs_scored']} restart(s) scored)")
    out = ROOT / "results" / "clustering_scale_big.json"
    out.write_text(json.dumps({"case": args.big, "seconds": t, "full_total": total_full, "estimate_total": total_est,
                               "full": {"NMI": full_nmi, "AMI": full_ami}, "estimate": est}, indent=1))


if __name__ == "__main__":
    main()
