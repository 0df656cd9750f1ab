"""Benchmark: approximate kNN graphs tuned to a target recall (issue 15) vs exact and bare faiss IVF.

Prints a table and writes bench/results/recall.json. Two kinds of data, N x d float32, k = 10,
cosine, self excluded, each case in its own process (its own peak memory):

- clustered: C Gaussian classes in 256 dims (centres x 0.5 + unit noise; C = N / 1000, as many
  items per class as space A of issue 15 at 1M), first d dims;
- weak: the same projected to d dims at random plus noise 0.4 (like space B of issue 15: hard
  for approximate search). With fewer items per class (e.g. 50k items in 1,000 classes) the
  clustered data is weakly structured too.

Cases: spacelens exact (the reference: its graph is compared with every other case's for the
true recall@10 of all N rows), bare faiss IVF (nlist 4·sqrt(N), nprobe 16: what a faiss user
writes; its neighbours as faiss returns them), spacelens ivf tuned to --recall (default 0.95),
and spacelens auto (which picks one of these by the estimated exact cost: below 60 s, exact).
Usage: OMP_NUM_THREADS=2 python bench/recall.py [--n 50000] [--d 128] [--recall 0.95]
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

BARE_IVF = """
import json, time, math, numpy as np, faiss
x = np.load({path!r})
t = time.perf_counter()
x = x / np.linalg.norm(x, axis=1, keepdims=True)
n, d = x.shape
nlist = max(1, min(int(round(4 * math.sqrt(n))), n // 39))
index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
index.cp.max_points_per_centroid = 64
index.train(x); index.add(x); index.nprobe = 16
D, I = index.search(x, {k} + 1)
seconds = time.perf_counter() - t
I = np.array([r[r != i][:{k}] for i, r in zip(range(n), I)])
np.save({out!r}, I.astype(np.int32))
print(json.dumps({{"seconds": seconds, "params": {{"nlist": nlist, "nprobe": 16}}}}))
"""

SPACELENS = """
import json, time, numpy as np
from spacelens.neighbors import get_engine
from spacelens.neighbors.cost import gemm_speed
x = np.load({path!r}, mmap_mode="r")
eng = get_engine({engine!r}, **{params!r})
t = time.perf_counter()
g = eng.build_graph(x, {k}, "cosine")
seconds = time.perf_counter() - t
np.save({out!r}, np.asarray(g.indices, dtype=np.int32))
info = {{k_: v for k_, v in g.info.items() if k_ in ("recall", "nprobe", "tuning")}}
print(json.dumps({{"seconds": seconds, "engine": g.engine, "info": info, "gflops": gemm_speed() / 1e9}}))
"""


def make_data(folder: Path, n: int, d: int, classes: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 256)).astype(np.float32) * 0.5
    a = centres[rng.integers(0, classes, n)] + rng.standard_normal((n, 256), dtype=np.float32)
    proj = rng.normal(size=(256, d)).astype(np.float32) / np.sqrt(256)
    weak = a @ proj + 0.4 * rng.standard_normal((n, d), dtype=np.float32)
    paths = {"clustered": folder / "clustered.npy", "weak": folder / "weak.npy"}
    np.save(paths["clustered"], np.ascontiguousarray(a[:, :d]))
    np.save(paths["weak"], weak.astype(np.float32))
    return paths


def true_recall(x: np.ndarray, got: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Recall@k of ``got`` against the exact graph (a row as near as the exact k-th counts)."""
    v = x / np.linalg.norm(x, axis=1, keepdims=True)
    kth = 1 - np.einsum("ij,ij->i", v, v[exact[:, k - 1]]).astype(np.float64)
    found = 0
    for s in range(0, len(x), 8192):
        e = min(len(x), s + 8192)
        dg = 1 - np.einsum("ijd,id->ij", v[got[s:e, :k]], v[s:e]).astype(np.float64)
        found += int((dg <= kth[s:e, None] + 1e-6).sum())
    return found / (len(x) * k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--recall", type=float, default=0.95)
    ap.add_argument("--classes", type=int, default=None, help="default: N / 1000")
    args = ap.parse_args()
    classes = args.classes or max(1, args.n // 1000)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = make_data(folder, args.n, args.d, classes)
        for kind, path in data.items():
            x = np.load(path)
            cases = [("spacelens exact", SPACELENS, {"engine": "exact", "params": {}}),
                     ("bare faiss IVF (nprobe 16)", BARE_IVF, {}),
                     (f"spacelens ivf, recall {args.recall:g}", SPACELENS,
                      {"engine": "ivf", "params": {"recall": args.recall}}),
                     ("spacelens auto", SPACELENS, {"engine": "auto", "params": {"recall": args.recall}})]
            exact = None
            base_s = None
            for label, template, fmt in cases:
                out = folder / "graph.npy"
                code = template.format(path=str(path), out=str(out), k=args.k, **fmt)
                r = run_measured(python_cmd(code))
                if r["rc"] != 0:
                    print(r.get("stderr", "")[-2000:], file=sys.stderr)
                    raise SystemExit(f"{label} failed")
                res = json.loads(r["stdout"].strip().splitlines()[-1])
                got = np.load(out)
                if exact is None:
                    exact, base_s = got, res["seconds"]
                rec = (res.get("info") or {}).get("recall")
                rows.append({"data": kind, "case": label, "engine": res.get("engine", "faiss ivf"),
                             "seconds": round(res["seconds"], 2), "x_exact": round(res["seconds"] / base_s, 3),
                             "true_recall": round(true_recall(x, got, exact, args.k), 4),
                             "reported_recall": rec and rec["mean"], "reported_ci95": rec and rec["ci95"],
                             "reached": rec and rec.get("reached"),
                             "effort": (res.get("info") or {}).get("nprobe") or (res.get("params") or {}).get("nprobe"),
                             "peak_rss_mb": round(r["peak_rss"] / MB), "peak_anon_mb": round(r["peak_anon"] / MB),
                             "gflops": res.get("gflops")})
                print(rows[-1], flush=True)
    head = "| data | case | engine | seconds | x exact | true recall@10 | reported (95% CI) | nprobe | RSS MB |"
    print(f"\nN = {args.n:,}, d = {args.d}, {classes:,} classes, k = {args.k}, cosine, target recall "
          f"{args.recall:g}\n")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in rows:
        rep = (f"{r['reported_recall']:.4f} ({r['reported_ci95'][0]:.3f}-{r['reported_ci95'][1]:.3f})"
               + ("" if r["reached"] in (None, True) else " NOT REACHED")) if r["reported_recall"] is not None else ""
        print(f"| {r['data']} | {r['case']} | {r['engine']} | {r['seconds']:.2f} | {r['x_exact']:.2f} | "
              f"{r['true_recall']:.4f} | {rep} | {r['effort'] or ''} | {r['peak_rss_mb']} |")
    out = Path(__file__).parent / "results" / "recall.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"n": args.n, "d": args.d, "classes": classes, "k": args.k, "target": args.recall, "rows": rows}, indent=1))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
