"""Benchmark: float16 vs float32 storage of epoch logs (issue 28, item 4).

The seeds' workload is 150 epochs of a 10,000 x 512 validation split (200 classes). This logs a
few epochs of a generated run shaped like it (class structure that sharpens epoch by epoch,
each item keeping its own offset) twice in one registry, as float32 and as float16, and reports:

- bytes on disk per epoch and logging seconds per epoch (same run, interleaved), with 150
  epochs extrapolated;
- agreement of every figure ``evolution --label-field`` shows, float16 against float32 per
  epoch: P@1, R-precision, MAP@R, MAP, MRR, NMI, AMI and the Jaccard to the previous and to
  the last epoch (max absolute difference), and per item the kNN sets (share of items whose
  k nearest neighbours are the same set, and mean Jaccard between the two storages); beside
  NMI/AMI, their own noise floor: the same float32 space clustered from another k-means seed;
- the same on sklearn's digits (1,797 x 64, 10 classes) with a few noisy epochs.

Prints a table and writes bench/results/evolution_storage.json.
Usage: OMP_NUM_THREADS=2 python bench/evolution_storage.py [--n 10000] [--d 512] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("SPACELENS_NO_PROGRESS", "1")

import spacelens  # noqa: E402
from spacelens.registry import Registry  # noqa: E402

K = 10


def generated_run(n: int, d: int, n_classes: int, epochs: int, seed: int = 0):
    """Labels and per-epoch embeddings: centres grow out of per-item noise as training goes on."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    centres = rng.standard_normal((n_classes, d)).astype(np.float32) / np.sqrt(d)
    own = rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    out = []
    for e in range(epochs):
        strength = 0.15 + 0.3 * e / max(1, epochs - 1)   # P@1 from ~0.1 to ~0.99: not saturated
        x = strength * centres[labels] + own + 0.3 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
        out.append(x.astype(np.float32))
    return labels, out


def digits_run(epochs: int, seed: int = 0):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    out = [(x + (1.5 - e / max(1, epochs - 1)) * rng.standard_normal(x.shape)).astype(np.float32)
           for e in range(epochs)]
    return y, out


def run_case(name: str, labels, epochs_x, home: Path) -> dict:
    n = len(labels)
    table = pd.DataFrame({"id": [f"i{i:06d}" for i in range(n)], "label": labels})
    reg = Registry(home)
    spacelens.add(epochs_x[0], table, dataset_name=name, experiment_name=f"{name}-seed", space_name=f"{name}-seed",
                  home=reg)
    spacelens.rm("space", f"{name}-seed", home=reg)
    log_s = {"float32": [], "float16": []}
    for e, x in enumerate(epochs_x):
        order = ("float32", "float16") if e % 2 == 0 else ("float16", "float32")   # interleaved: fair timing
        for dt in order:
            t0 = time.perf_counter()
            spacelens.log_space(f"{name}.{dt}.epoch_{e}", x, dataset=name, experiment=f"{name}.{dt}", step=e,
                                split="val", dtype=dt, home=reg)
            log_s[dt].append(time.perf_counter() - t0)
    size = {dt: int(np.mean([reg.store.path(s.array_file).stat().st_size
                             for s in reg.spaces_of(experiment=f"{name}.{dt}")])) for dt in log_s}
    evo, evo_s = {}, {}
    for dt in log_s:
        t0 = time.perf_counter()
        evo[dt] = spacelens.evolution(f"{name}.{dt}", k=K, label_field="label", home=reg)
        evo_s[dt] = time.perf_counter() - t0
    diffs: dict[str, float] = {}
    for r32, r16 in zip(evo["float32"].epochs, evo["float16"].epochs):
        for key in ("jaccard_prev", "jaccard_last"):
            a, b = getattr(r32, key), getattr(r16, key)
            if a is not None:
                diffs[key] = max(diffs.get(key, 0.0), abs(a - b))
        for m, a in r32.metrics.items():
            b = r16.metrics.get(m)
            if a is not None and b is not None:
                diffs[m] = max(diffs.get(m, 0.0), abs(a - b))
    # The noise floor of the clustering figures: k-means from another seed, float32 both times.
    seed_diff: dict[str, float] = {}
    for r32 in evo["float32"].epochs:
        other = spacelens.evaluate(r32.space, label_field="label", seed=1, home=reg)
        for m in ("NMI", "AMI"):
            if r32.metrics.get(m) is not None and other.get(m) is not None:
                seed_diff[m] = max(seed_diff.get(m, 0.0), abs(r32.metrics[m] - other[m]))
    same_sets, cross_j = [], []
    for e in range(len(epochs_x)):
        c = spacelens.compare(f"{name}.float32.epoch_{e}", f"{name}.float16.epoch_{e}", k=K, cka=False, home=reg)
        same_sets.append(float((np.asarray(c.jaccard) == 1.0).mean()))
        cross_j.append(float(c.mean))
    return {
        "case": name, "n": n, "d": int(epochs_x[0].shape[1]), "n_classes": int(len(np.unique(labels))),
        "epochs": len(epochs_x), "k": K,
        "bytes_per_epoch": size,
        "bytes_150_epochs": {dt: 150 * v for dt, v in size.items()},
        "log_seconds_per_epoch": {dt: float(np.median(v)) for dt, v in log_s.items()},
        "evolution_seconds_first": evo_s,
        "max_abs_diff": diffs,
        "kmeans_seed_max_abs_diff_float32": seed_diff,
        "knn_sets_identical_share": {"min": min(same_sets), "mean": float(np.mean(same_sets))},
        "jaccard_float16_vs_float32": {"min": min(cross_j), "mean": float(np.mean(cross_j))},
        "figures_float32_last_epoch": {"jaccard_prev": evo["float32"].epochs[-1].jaccard_prev,
                                       **evo["float32"].epochs[-1].metrics},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    os.environ.setdefault("SPACELENS_TRASH_GRACE_S", "0")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        labels, xs = generated_run(args.n, args.d, args.classes, args.epochs)
        results.append(run_case("generated", labels, xs, Path(tmp) / "home"))
        y, dx = digits_run(max(3, args.epochs // 2))
        results.append(run_case("digits", y, dx, Path(tmp) / "home"))
    head = (f"{'case':<10} {'MB/epoch f32':>12} {'f16':>6} {'log s f32':>9} {'f16':>6} {'same kNN sets':>13} "
            f"{'max |diff| (metric)':>28}")
    print(head)
    for r in results:
        worst = max(r["max_abs_diff"].items(), key=lambda kv: kv[1])
        print(f"{r['case']:<10} {r['bytes_per_epoch']['float32'] / 1e6:>12.2f} {r['bytes_per_epoch']['float16'] / 1e6:>6.2f}"
              f" {r['log_seconds_per_epoch']['float32']:>9.3f} {r['log_seconds_per_epoch']['float16']:>6.3f}"
              f" {r['knn_sets_identical_share']['min']:>12.2%} {worst[1]:>20.2e} ({worst[0]})")
        for m, v in sorted(r["max_abs_diff"].items()):
            floor = r["kmeans_seed_max_abs_diff_float32"].get(m)
            note = f"   (k-means seed 0 vs 1, both float32: {floor:.2e})" if floor is not None else ""
            print(f"    {m:<32} {v:.2e}{note}")
    out = Path(__file__).parent / "results" / "evolution_storage.json"
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2, default=float) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
