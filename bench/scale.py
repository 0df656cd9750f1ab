"""Benchmark: the whole story of issue 15 at N items, through the real CLI, with baselines.

Space A = N x 256 (C Gaussian classes, centres x 0.5 + unit noise), space B = A projected to
128 dims at random + noise 0.4 (weakly structured, hard for approximate search), one dataset
with a label column. Each step runs `spacelens ...` in its own process (seconds, peak RSS) and
records the figure it reports with what it rests on (recall and its CI, or a 95% CI):

  add A, add B; compare A B (auto); compare A B --sample S; evaluate A --sample Q;
  evaluate A (auto); project A/B --method pca; project A/B --method umap.

Baselines in the same run: bare faiss IVF (what a faiss user writes: nlist 4·sqrt(N), nprobe
doubled from 16 until recall@10 on 1,000 exactly searched queries reaches the target, then all
N searched) for A and B; umap-learn fitting from raw vectors (its own neighbour search) at
min(N, --umap-n); pytorch-metric-learning's AccuracyCalculator at min(N, --pml-n) when torch
and PML are installed. The page load is measured by bench/ui.py.

--defaults runs the default story instead (issue 28: every verb within its budget, as a user
types it, no --sample or --engine): add A, add B, compare A B, evaluate A (with clustering),
evaluate A --vs B, answer, report, project A/B pca, and evolution over 10 logged epochs of
--epoch-n items (logged through the API in one process); each with seconds, peak memory and
what its figure rests on (sample and interval, or recall), and the story's total.

Usage: OMP_NUM_THREADS=2 python bench/scale.py [--n 1000000] [--defaults] [--epoch-n 200000] [--classes 1000] [--sample 2000]
       [--eval-sample 1000] [--recall 0.95] [--umap-n 200000] [--pml-n 20000] [--skip-umap]
Writes bench/results/scale_<N>.json and prints a markdown table.
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
ROOT = Path(__file__).resolve().parent.parent

BARE_IVF = """
import json, math, time, numpy as np, faiss
x = np.load({path!r}, mmap_mode="r")
t = time.perf_counter()
x = np.array(x, dtype=np.float32); faiss.normalize_L2(x)   # a copy: the file is mapped read-only
n, d = x.shape
nlist = max(1, min(int(round(4 * math.sqrt(n))), n // 39))
index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
index.cp.max_points_per_centroid = 64
index.train(x); index.add(x)
rng = np.random.default_rng(0)
q = np.sort(rng.choice(n, size=min(1000, n), replace=False))
flat = faiss.IndexFlatIP(d); flat.add(x)
_, truth = flat.search(x[q], 11)
truth = [set(r[r != i][:10].tolist()) for i, r in zip(q, truth)]
nprobe = 16
while True:
    index.nprobe = nprobe
    _, got = index.search(x[q], 11)
    rec = float(np.mean([len(set(r[r != i][:10].tolist()) & s) / 10 for i, r, s in zip(q, got, truth)]))
    if rec >= {recall} or nprobe >= nlist:
        break
    nprobe = min(nlist, nprobe * 2)
index.nprobe = nprobe
index.search(x, 11)
print(json.dumps({{"seconds": time.perf_counter() - t, "nlist": nlist, "nprobe": nprobe, "recall": rec}}))
"""

UMAP_RAW = """
import json, time, warnings, numpy as np, umap
x = np.load({path!r}, mmap_mode="r")[:{n}]
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    umap.UMAP(n_neighbors=15, metric="cosine", random_state=0).fit_transform(np.asarray(x))
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""

PML = """
import json, time, numpy as np, torch
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
x = torch.from_numpy(np.ascontiguousarray(np.load({path!r}, mmap_mode="r")[:{n}]))
y = torch.from_numpy(np.load({labels!r})[:{n}])
t = time.perf_counter()
r = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                       k="max_bin_count", knn_func=CustomKNN(CosineSimilarity()),
                       device=torch.device("cpu")).get_accuracy(x, y, x, y, ref_includes_query=True)
print(json.dumps({{"seconds": time.perf_counter() - t, **{{k: float(v) for k, v in r.items()}}}}))
"""


def space_a(n: int, classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(A, labels)``: A = n x 256 float32, ``classes`` Gaussian classes (centres x 0.5, unit noise)."""
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, 256)).astype(np.float32) * 0.5
    a = np.empty((n, 256), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        a[s:e] = centres[labels[s:e]] + rng.standard_normal((e - s, 256), dtype=np.float32)
    return a, labels


def make_data(folder: Path, n: int, classes: int) -> dict:
    """A (n x 256), B (n x 128) as .npy, the dataset (id, label) as Parquet, labels as .npy."""
    import pandas as pd

    rng = np.random.default_rng(0)
    a, labels = space_a(n, classes, rng)
    proj = (rng.normal(size=(256, 128)) / 16).astype(np.float32)
    b = a @ proj
    b += 0.4 * rng.standard_normal(b.shape, dtype=np.float32)
    paths = {"a": folder / "a.npy", "b": folder / "b.npy", "table": folder / "items.parquet",
             "labels": folder / "labels.npy"}
    np.save(paths["a"], a)
    np.save(paths["b"], b)
    np.save(paths["labels"], labels)
    pd.DataFrame({"id": np.char.add("item", np.arange(n).astype(str)), "label": labels}).to_parquet(paths["table"])
    return {k: str(v) for k, v in paths.items()}


def cli(home: str, *args) -> dict:
    """``spacelens ARGS`` in its own process: seconds, peak RSS, and its --json output when given."""
    cmd = [sys.executable, "-m", "spacelens", "--home", home, *map(str, args)]
    r = run_measured(cmd, env={"SPACELENS_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src")})
    out = {"seconds": round(r["seconds"], 2), "peak_rss_mb": round(r["peak_rss"] / MB), "rc": r["rc"]}
    if r["rc"] != 0:
        out["error"] = (r["stderr"] or r["stdout"])[-600:]
    elif "--json" in args:
        out["json"] = json.loads(r["stdout"])
    return out


def _ci(lo_hi) -> str:
    return "" if not lo_hi or lo_hi[0] is None else f"{lo_hi[0]:.4f}-{lo_hi[1]:.4f}"


def figures(step: str, out: dict) -> tuple[str, str]:
    """``(figure, what it rests on)`` of a step's JSON output."""
    js = out.get("json")
    if js is None:
        return ("failed: " + out.get("error", "")[-120:]) if out.get("rc") else "", ""
    if step.startswith("compare"):
        mean = js.get("mean", js.get("similarity"))
        if js.get("sample"):
            full = (js.get("budget") or {}).get("full_seconds")
            return f"mean Jaccard@10 {mean:.4f}", (f"95% CI {_ci(js['sample']['ci95'])} ({js['sample']['n']:,} items"
                                                    + (f"; full would take ~{full:.0f} s" if full else "") + ")")
        rest = f"engine {js.get('engine')}"
        if js.get("recall"):
            r = js["recall"]
            rest += f"; recall@10 A {r['a']:.3f} B {r['b']:.3f}"
        if js.get("exact_check"):
            c = js["exact_check"]
            rest += f"; exact check {c['mean']:.4f} (95% CI {_ci(c['ci95'])}, {c['n']:,} items)"
        return f"mean Jaccard@10 {mean:.4f}", rest
    if step.startswith("evaluate") and "--vs" not in step:
        info = js["info"]
        fig = f"MAP@R {js['mean_average_precision_at_r']:.4f}, P@1 {js['precision_at_1']:.4f}"
        if info.get("sample"):
            s = info["sample"]
            return fig, (f"95% CI MAP@R {_ci(s['ci95']['mean_average_precision_at_r'])}, P@1 "
                         f"{_ci(s['ci95']['precision_at_1'])} ({s['n']:,} queries)")
        rest = f"engine {info['engine']}, k {info['k']}"
        if info.get("recall"):
            rest += f"; recall@{info['recall']['k']} {info['recall']['mean']:.3f} (95% CI {_ci(info['recall']['ci95'])})"
        return fig, rest
    if step.startswith("project"):
        f = next(iter(js["maps"].values()))["faithfulness"]
        fig = f"kNN preservation@10 {f['knn_preservation']:.4f}, trustworthiness {f['trustworthiness']:.4f}"
        knn_items = f.get("knn_preservation_items", f.get("n_items"))
        knn = (f"kNN preservation of all {knn_items:,} items ({f.get('per_item')})" if knn_items != f.get("n_items")
               else f"kNN preservation 95% CI {_ci(f.get('knn_preservation_ci95'))}")
        graph = (f"; map from a graph of recall@{f['graph_recall']['k']} {f['graph_recall']['mean']:.3f}"
                 if f.get("graph_recall") else "")
        return fig, (f"{knn}; trustworthiness 95% CI {_ci(f.get('trustworthiness_ci95'))} "
                     f"({f.get('n_items', f.get('trust_items')):,} random items){graph}")
    return "", ""


LOG_EPOCHS = """
import numpy as np, pandas as pd, spacelens
a = np.load({path!r}, mmap_mode="r")[:{n}]
rng = np.random.default_rng(1)
drift = rng.standard_normal(a.shape, dtype=np.float32)
ids = np.char.add("item", np.arange({n}).astype(str))
for epoch in range({epochs}):
    x = np.asarray(a) + drift * (1.5 * ({epochs} - 1 - epoch) / {epochs})   # settling towards A
    spacelens.log_space(f"train.epoch_{{epoch}}.val", x, dataset="items", experiment="train", ids=ids, step=epoch,
                        split="val", home={home!r})
"""


def default_plan(data: dict, home: str, epoch_n: int, epochs: int, folder: Path) -> list:
    """The default story: every verb as typed, within its budget (issue 28)."""
    return [
        ("add A", ["add", "-e", data["a"], "-d", data["table"], "--dataset-name", "items",
                   "--experiment-name", "A", "--space-name", "A"]),
        ("add B", ["add", "-e", data["b"], "--dataset-name", "items", "--experiment-name", "B",
                   "--space-name", "B"]),
        ("compare A B", ["compare", "A", "B", "--no-items", "--json"]),
        ("evaluate A", ["evaluate", "A", "-l", "label", "--json"]),
        ("evaluate A --vs B", ["evaluate", "A", "--vs", "B", "-l", "label", "--json"]),
        ("answer A B", ["answer", "A", "B", "-l", "label", "--json"]),
        ("report A B", ["report", "A", "B", "-l", "label", "-o", str(folder / "report.html"), "--json"]),
        ("project A pca", ["project", "A", "--method", "pca", "--json"]),
        ("project B pca", ["project", "B", "--method", "pca", "--json"]),
        (f"log {epochs} epochs of {epoch_n:,}", LOG_EPOCHS.format(path=data["a"], n=epoch_n, epochs=epochs,
                                                                  home=home)),
        (f"evolution ({epochs} epochs of {epoch_n:,})", ["evolution", "train", "-l", "label", "--json"]),
    ]


def compact(step: str, js: dict) -> dict:
    """What a step's JSON keeps in the results file: the figures and what they rest on, not the
    per-class tables and item lists (a report at 1M is ~10 MB of JSON)."""
    if step.startswith("report"):
        return {k: js.get(k) for k in ("answer", "sampled", "agreement", "settings")}
    if "--vs" in step:
        return {k: js.get(k) for k in ("metrics", "verdict", "sample", "budget", "coverage", "answer")}
    if step.startswith("evaluate"):
        return {k: v for k, v in js.items() if k != "per_class"}
    return js


def budget_figure(step: str, js: dict) -> tuple[str, str]:
    """``(figure, rests on)`` of the default story's answer, report and evolution steps."""
    if step.startswith(("answer", "report")):
        ans = js.get("answer", js) if step.startswith("report") else js
        first = ans["sentences"][0]["text"] if ans.get("sentences") else ""
        return first[:140], (ans.get("sampled") or "full results")[:200]
    if step.startswith("evolution"):
        last = js["epochs"][-1] if js.get("epochs") else {}
        fig = f"last epoch MAP@R {last.get('metrics', {}).get('mean_average_precision_at_r')}"
        return fig, ((js.get("info") or {}).get("sampled") or {}).get("line", "full figures")[:200]
    if "--vs" in step:
        m = js["metrics"]["mean_average_precision_at_r"]
        return (f"MAP@R B - A {m['difference']:+.4f}",
                f"95% CI {_ci(m['ci95'])} ({m['n']:,} queries{', sampled' if js.get('sample') else ''})")
    return "", ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--eval-sample", type=int, default=1000)
    ap.add_argument("--recall", type=float, default=0.95)
    ap.add_argument("--umap-n", type=int, default=200_000)
    ap.add_argument("--pml-n", type=int, default=20_000)
    ap.add_argument("--skip-umap", action="store_true")
    ap.add_argument("--skip-graphs", action="store_true",
                    help="only the steps that build no full kNN graph: add, compare --sample, evaluate --sample, "
                         "PCA maps (their faithfulness is sampled); the full graphs take hours at 1M on 2 cores")
    ap.add_argument("--only", nargs="+", default=None, metavar="STEP",
                    help="run only the steps whose names start with these (e.g. 'add A' 'project A umap'), "
                         "and only the baselines that go with them; the data is generated as in a full run")
    ap.add_argument("--defaults", action="store_true", help="the default story (every verb within its budget)")
    ap.add_argument("--epoch-n", type=int, default=200_000, help="--defaults: items per logged epoch")
    ap.add_argument("--epochs", type=int, default=10, help="--defaults: logged epochs")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    n = args.n
    steps: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = str(folder / "home")
        data = make_data(folder, n, args.classes)
        plan = [
            ("add A", ["add", "-e", data["a"], "-d", data["table"], "--dataset-name", "items",
                       "--experiment-name", "A", "--space-name", "A"]),
            ("add B", ["add", "-e", data["b"], "--dataset-name", "items", "--experiment-name", "B",
                       "--space-name", "B"]),
            ("compare A B (auto)", ["compare", "A", "B", "-k", "10", "--recall", args.recall, "--no-cka",
                                    "--no-items", "--json"]),
            (f"compare A B --sample {args.sample}", ["compare", "A", "B", "-k", "10", "--sample", args.sample,
                                                     "--no-cka", "--no-items", "--json"]),
            (f"evaluate A --sample {args.eval_sample}", ["evaluate", "A", "-l", "label", "--sample",
                                                         args.eval_sample, "--no-clustering", "--json"]),
            ("evaluate A (auto)", ["evaluate", "A", "-l", "label", "--recall", args.recall, "--no-clustering",
                                   "--json"]),
            ("project A pca", ["project", "A", "--method", "pca", "--json"]),
            ("project B pca", ["project", "B", "--method", "pca", "--json"]),
        ]
        if args.skip_graphs:
            plan = [p for p in plan if p[0] not in ("compare A B (auto)", "evaluate A (auto)")]
        if not (args.skip_umap or args.skip_graphs):
            plan += [("project A umap", ["project", "A", "--method", "umap", "--json"]),
                     ("project A umap, seed 1 (graph stored)", ["project", "A", "--method", "umap", "--seed", "1",
                                                                "--json"]),
                     ("project B umap", ["project", "B", "--method", "umap", "--json"])]
        if args.defaults:
            plan = default_plan(data, home, min(args.epoch_n, n), args.epochs, folder)
        if args.only:
            plan = [p for p in plan if p[0].startswith(tuple(args.only))]
        names = [p[0] for p in plan]
        for name, cmd in plan:
            if isinstance(cmd, str):      # a Python snippet (logging epochs through the API)
                r = run_measured(python_cmd(cmd), env={"SPACELENS_NO_PROGRESS": "1"})
                out = {"seconds": round(r["seconds"], 2), "peak_rss_mb": round(r["peak_rss"] / MB), "rc": r["rc"],
                       **({"error": r["stderr"][-600:]} if r["rc"] else {})}
            else:
                out = cli(home, *cmd)
            fig, rest = figures(name, out)
            if args.defaults and "json" in out and not fig:
                fig, rest = budget_figure(name, out["json"])
            steps.append({"step": name, "seconds": out["seconds"], "peak_rss_mb": out["peak_rss_mb"],
                          "figure": fig, "rests_on": rest, "rc": out["rc"],
                          **({"output": compact(name, out["json"])} if "json" in out and not name.startswith("project")
                             else {})})
            print(f"{name}: {out['seconds']} s, {out['peak_rss_mb']} MB; {fig}; {rest}", flush=True)

        # -- baselines -----------------------------------------------------------------------
        baselines: list[dict] = []
        for side in ("a", "b") if "compare A B (auto)" in names else ():
            r = run_measured(python_cmd(BARE_IVF.format(path=data[side], recall=args.recall)))
            js = json.loads(r["stdout"]) if r["rc"] == 0 else {"error": r["stderr"][-300:]}
            baselines.append({**js, "step": f"bare faiss IVF, {side.upper()} (nprobe raised to recall {args.recall:g})",
                              "seconds": round(r["seconds"], 2), "peak_rss_mb": round(r["peak_rss"] / MB),
                              "figure": f"recall@10 {js.get('recall', float('nan')):.3f} on 1,000 queries",
                              "rests_on": f"nlist {js.get('nlist')}, nprobe {js.get('nprobe')}"})
        if any(name.endswith("umap") for name in names):
            m = min(n, args.umap_n)
            r = run_measured(python_cmd(UMAP_RAW.format(path=data["a"], n=m)))
            baselines.append({"step": f"umap-learn from raw vectors, A[:{m:,}]", "seconds": round(r["seconds"], 2),
                              "peak_rss_mb": round(r["peak_rss"] / MB), "figure": "", "rests_on": "its own pynndescent",
                              "rc": r["rc"]})
        try:
            import pytorch_metric_learning  # noqa: F401
            import torch  # noqa: F401
            have_pml = True
        except ImportError:
            have_pml = False
        if have_pml and (not args.only or "evaluate A (auto)" in names):
            m = min(n, args.pml_n)
            r = run_measured(python_cmd(PML.format(path=data["a"], labels=data["labels"], n=m)))
            js = json.loads(r["stdout"]) if r["rc"] == 0 else {}
            baselines.append({"step": f"AccuracyCalculator, A[:{m:,}]", "seconds": round(r["seconds"], 2),
                              "peak_rss_mb": round(r["peak_rss"] / MB),
                              "figure": (f"MAP@R {js['mean_average_precision_at_r']:.4f}, P@1 "
                                         f"{js['precision_at_1']:.4f}") if js else f"failed (rc {r['rc']})",
                              "rests_on": "exact, k = max_bin_count", "rc": r["rc"]})

    total = sum(s["seconds"] for s in steps)
    result = {"n": n, "dims": {"A": 256, "B": 128}, "classes": args.classes, "recall_target": args.recall,
              "steps": steps, "total_seconds": round(total, 1), "baselines": baselines,
              "page_load": "not run here (bench/ui.py)"}
    result["skipped_graphs"] = bool(args.skip_graphs)
    result["only"] = args.only
    tag = "_defaults" if args.defaults else "_sampled" if args.skip_graphs else "_only" if args.only else ""
    out = args.out or ROOT / "bench" / "results" / f"scale_{n}{tag}.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    if args.defaults:
        print(f"\nthe default story: {total:.0f} s in all (goal: under 300 s)")
    print(f"\nN = {n:,} (A {n:,} x 256, B {n:,} x 128, {args.classes:,} classes); total {total:.0f} s\n")
    print("| step | seconds | peak RSS MB | figure | rests on |\n|---|---|---|---|---|")
    for s in steps + baselines:
        print(f"| {s['step']} | {s['seconds']} | {s['peak_rss_mb']} | {s['figure']} | {s['rests_on']} |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
