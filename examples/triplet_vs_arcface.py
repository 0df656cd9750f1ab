"""Triplet vs ArcFace on scikit-learn's digits: train, log every epoch, evaluate, compare.

The seed workflow of spacelens, end to end and offline (the 1,797 8x8 digits ship with
scikit-learn):

1. register the digits metadata table (id, label, split, pixel stats, image) with its raw-pixel
   space; each digit is written as a small PNG into the registry folder (``digit-images/``),
   the dataset's image folder, so the analyzer shows the digits in tooltips and neighbour tables;
2. train a small CNN with a 512-d embedding head three times with pytorch-metric-learning
   (MPerClassSampler, Adam): TripletMarginLoss + MultiSimilarityMiner (seed 0), ArcFaceLoss
   (seed 0), and the Triplet recipe again with seed 1 as a baseline; the tester evaluates the
   val split after every epoch and :class:`spacelens.integrations.pml.SpacelensLogger` logs it
   as space ``<experiment>.epoch_<n>.val`` with the recipe as experiment params;
3. print evaluate (MAP@R, P@1, ...) of the last epochs, compare Triplet vs ArcFace with the
   reseeded Triplet run as baseline, and the evolution over epochs of both runs (with plots).

    python examples/triplet_vs_arcface.py --home /tmp/digits-home           # ~20 epochs per run
    python examples/triplet_vs_arcface.py --home /tmp/digits-home --quick   # 3 epochs, a demo

Deterministic for a given --seed and --threads (default 2).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-metric-learning's per-epoch bars
import warnings  # noqa: E402

# pytorch-metric-learning's trainer formats its loss tensor for a progress bar; harmless here
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")

import numpy as np
import pandas as pd

EXPERIMENTS = {  # experiment name -> (loss, seed)
    "digits-triplet": ("triplet", 0),
    "digits-arcface": ("arcface", 0),
    "digits-triplet-seed1": ("triplet", 1),
}


def digits_table(val_fraction: float = 0.3, split_seed: int = 0):
    """The digits metadata table (id, label, split, pixel stats) and images (n, 1, 8, 8) in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    n = len(d.target)
    images = (d.images / 16.0).astype(np.float32)[:, None]
    _, val_idx = train_test_split(np.arange(n), test_size=val_fraction, stratify=d.target, random_state=split_seed)
    split = np.full(n, "train", dtype=object)
    split[val_idx] = "val"
    flat = images.reshape(n, -1)
    table = pd.DataFrame({"id": [f"digit{i:04d}" for i in range(n)], "label": d.target.astype(int),
                          "split": split, "ink": (flat > 0).sum(1), "mean_intensity": flat.mean(1).round(4)})
    return table, images


IMAGE_FOLDER = "digit-images"  # inside the registry folder: the dataset's image folder


def with_digit_images(table: pd.DataFrame, images: np.ndarray, home) -> tuple[pd.DataFrame, Path]:
    """Write each digit as a 32x32 grey PNG (8x8 upscaled, nearest; ink dark on white) into
    ``HOME/digit-images/`` and return the table with an ``image`` column (paths relative to
    that folder) and the folder, to register as the dataset's image folder."""
    import matplotlib.image

    folder = Path(home) / IMAGE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i}.png" for i in table["id"]]
    for name, im in zip(names, images.reshape(len(table), 8, 8)):
        big = np.kron(im, np.ones((4, 4), dtype=im.dtype))  # nearest-neighbour upscale
        matplotlib.image.imsave(folder / name, big, cmap="gray_r", vmin=0.0, vmax=1.0)
    return table.assign(image=names), folder


def register_digits(table: pd.DataFrame, images: np.ndarray, reg, **add) -> pd.DataFrame:
    """Register the digits dataset with its images and raw-pixel space; returns the table.

    A registry holding the digits dataset of an earlier version of this story (the same table
    without the ``image`` column) has that dataset and its spaces replaced, said in one line.
    """
    import spacelens

    full, folder = with_digit_images(table, images, reg.home)
    old = next((d for d in reg.list("datasets") if d.name == "digits"), None)
    if old is not None and [c["name"] for c in old.columns] == list(table.columns):
        gone = spacelens.rm("dataset", "digits", cascade=True, home=reg)
        print(f"Replacing the digits dataset of an earlier demo (now with images): removed {len(gone)} "
              "entries", flush=True)
    spacelens.add(images.reshape(len(table), -1), full, dataset_name="digits", images=folder, home=reg, **add)
    return full


def build(seed: int):
    """The small CNN: two conv blocks as trunk (1024 features), a linear 512-d embedder."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    trunk = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten())
    embedder = nn.Linear(64 * 4 * 4, 512)
    return trunk, embedder


class Digits:
    """A map-style dataset of (image, label); yields items in the given order."""

    def __init__(self, images, labels):
        import torch

        self.x = torch.from_numpy(np.ascontiguousarray(images))
        self.y = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def train_run(experiment: str, loss_name: str, seed: int, epochs: int, table, images, home,
              *, train_rows=None, val_rows=None, batch_size: int = 64, m_per_class: int = 8,
              lr: float = 1e-3, label_field: str | None = None, verbose: bool = True):
    """Train one recipe with pytorch-metric-learning, logging every epoch's val space."""
    import torch
    from pytorch_metric_learning import losses, miners, samplers, testers, trainers
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    from spacelens.integrations.pml import SpacelensLogger

    random.seed(seed)
    np.random.seed(seed)  # MPerClassSampler draws from numpy's global generator
    torch.manual_seed(seed)
    train_rows = np.flatnonzero(table["split"].to_numpy() == "train") if train_rows is None else train_rows
    val_rows = np.flatnonzero(table["split"].to_numpy() == "val") if val_rows is None else val_rows
    labels = table["label"].to_numpy()
    train_ds = Digits(images[train_rows], labels[train_rows])
    val_ds = Digits(images[val_rows], labels[val_rows])

    trunk, embedder = build(seed)
    if loss_name == "triplet":
        loss = losses.TripletMarginLoss(margin=0.1)
        mining = {"tuple_miner": miners.MultiSimilarityMiner(epsilon=0.1)}
    elif loss_name == "arcface":
        loss = losses.ArcFaceLoss(num_classes=int(labels.max()) + 1, embedding_size=512)
        mining = {}
    else:
        raise ValueError(loss_name)
    optimizers = {"trunk_optimizer": torch.optim.Adam(trunk.parameters(), lr=lr),
                  "embedder_optimizer": torch.optim.Adam(embedder.parameters(), lr=lr)}
    if any(True for _ in loss.parameters()):
        optimizers["metric_loss_optimizer"] = torch.optim.Adam(loss.parameters(), lr=lr)
    sampler = samplers.MPerClassSampler(labels[train_rows], m=m_per_class, batch_size=batch_size,
                                        length_before_new_iter=len(train_rows))

    logger = SpacelensLogger(experiment, dataset="digits", ids={"val": table["id"].to_numpy()[val_rows]},
                             home=home, model_name="digits-cnn-512", label_field=label_field,
                             params={"seed": seed, "epochs": epochs})
    tester = testers.GlobalEmbeddingSpaceTester(
        end_of_testing_hook=logger.end_of_testing_hook, batch_size=256, dataloader_num_workers=0,
        data_device=torch.device("cpu"),
        accuracy_calculator=AccuracyCalculator(
            include=("mean_average_precision_at_r", "precision_at_1", "r_precision"), k="max_bin_count"))
    trainer = trainers.MetricLossOnly(
        models={"trunk": trunk, "embedder": embedder}, optimizers=optimizers, batch_size=batch_size,
        loss_funcs={"metric_loss": loss}, mining_funcs=mining, dataset=train_ds, sampler=sampler,
        dataloader_num_workers=0, data_device=torch.device("cpu"),
        end_of_epoch_hook=logger.end_of_epoch_hook(tester, {"val": val_ds}))
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train(num_epochs=epochs)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if verbose:
        print(f"  {experiment}: {epochs} epochs in {seconds:.1f} s ({seconds / epochs:.2f} s/epoch; CPU time "
              f"{cpu:.1f} s; training + testing + logging)", flush=True)
    return {"experiment": experiment, "seconds": seconds, "cpu_seconds": cpu, "spaces": list(logger.logged),
            "trunk": trunk, "embedder": embedder, "val_ds": val_ds}


def _metrics(d: dict) -> dict:
    return {k: float(v) for k, v in d.items() if k != "info" and isinstance(v, (int, float, np.floating))}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", default=None, help="registry folder (default $SPACELENS_HOME or ~/.spacelens)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per run (default 20)")
    p.add_argument("--quick", action="store_true", help="3 epochs per run: a demo in seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of the two main runs; the baseline uses seed+1")
    p.add_argument("--threads", type=int, default=2, help="torch threads (results depend on it; default 2)")
    p.add_argument("-k", type=int, default=10, help="neighbours for Jaccard (default 10)")
    p.add_argument("--out", default=None, help="folder for the PNG plots (default HOME/figures)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    args = p.parse_args(argv)
    epochs = 3 if args.quick else args.epochs

    import torch

    import spacelens
    from spacelens.api import open_registry

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    reg = open_registry(args.home)
    out = Path(args.out) if args.out else reg.home / "figures"
    out.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.perf_counter(), time.process_time()

    table, images = digits_table()
    table = register_digits(table, images, reg, experiment_name="digits-pixels", space_name="digits.pixels",
                            model_name="raw-pixels", overwrite=True)
    print(f"Registered dataset 'digits' ({len(table)} items, {int((table.split == 'val').sum())} in val) "
          f"in {reg.home}", flush=True)

    print(f"Training {len(EXPERIMENTS)} runs x {epochs} epochs on {args.threads} thread(s):", flush=True)
    runs = {}
    for exp, (loss_name, seed) in EXPERIMENTS.items():
        runs[exp] = train_run(exp, loss_name, args.seed + seed, epochs, table, images, reg)
    last = {exp: f"{exp}.epoch_{epochs}.val" for exp in EXPERIMENTS}
    t_train = time.perf_counter() - t_start

    # -- evaluate the last epochs (and the raw pixels, for scale) ---------------------------
    from spacelens.integrations.pml import pml_accuracies

    print("\nEvaluate (val split, label = digit class):")
    evals = {}
    for name in [*last.values()]:
        evals[name] = _metrics(spacelens.api.evaluate(name, label_field="label", home=reg))
    from spacelens.evolution import SHORT

    keys = [k for k in ("mean_average_precision_at_r", "r_precision", "precision_at_1", "NMI", "AMI")
            if any(k in m for m in evals.values())]
    print(f"  {'space':<34}" + "".join(f"{SHORT[k]:>8}" for k in keys) + f"{'MAP@R by the PML tester':>25}")
    for name, m in evals.items():
        acc = (pml_accuracies(name, home=reg) or {}).get("accuracies", {})
        pml = acc.get("mean_average_precision_at_r_level0", float("nan"))
        print(f"  {name:<34}" + "".join(f"{m.get(k, float('nan')):>8.4f}" for k in keys) + f"{pml:>25.4f}")

    # -- compare, with the reseeded run as baseline -------------------------------------------
    a, b, a2 = last["digits-triplet"], last["digits-arcface"], last["digits-triplet-seed1"]
    cmp = spacelens.api.compare(a, b, k=args.k, baseline=a2, home=reg)
    ab, aa2 = cmp.mean, cmp.baseline.mean
    print(f"\nCompare (mean kNN Jaccard, k={args.k}, over {len(cmp.ids)} val items; chance "
          f"{cmp.info['chance']:.3f}):")
    print(f"  Triplet vs ArcFace                       {ab:.3f}")
    print(f"  Triplet seed {args.seed} vs seed {args.seed + 1} (baseline)        {aa2:.3f}")
    print(f"  -> {cmp.info['baseline_reading']}")
    print(f"  same from the CLI: spacelens compare {a} {b} --baseline {a2} -k {args.k}")

    # -- evolution over epochs ------------------------------------------------------------------
    from spacelens.evolution import format_table

    evo = {}
    for exp in ("digits-triplet", "digits-arcface"):
        png = out / f"evolution_{exp}.png"
        ev = spacelens.evolution(exp, split="val", k=args.k, label_field="label", plot=png, home=reg)
        print(f"\nEvolution of {exp} (val, k={args.k}); plot: {png}")
        print(format_table(ev))
        evo[exp] = ev.to_dict()
    total, cpu = time.perf_counter() - t_start, time.process_time() - c_start
    print(f"\nDone in {total:.1f} s ({t_train:.1f} s training; CPU time {cpu:.1f} s). Look at the spaces with:")
    home_opt = f" --home {reg.home}" if args.home else ""
    print(f"  spacelens ls spaces{home_opt}")
    print(f"  spacelens ui{home_opt}      # the analyzer: maps, neighbours, comparisons")
    result = {"epochs": epochs, "threads": args.threads, "seconds_total": total, "seconds_training": t_train,
              "cpu_seconds": cpu,
              "evaluate": evals, "compare": {"triplet_vs_arcface": ab, "triplet_seed_baseline": aa2},
              "evolution": evo}
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
