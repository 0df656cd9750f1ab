"""The spacelens demo on scikit-learn's bundled digits (no download).

Registers the digits dataset (1,797 8x8 images, 10 classes) and two real embedding spaces of
it: the raw pixels, and the hidden layer of a small neural network (scikit-learn's
MLPClassifier) trained on the train split. Then it compares and evaluates them.

Run:  SPACELENS_HOME=.demo-home python examples/demo.py
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

import spacelens


def digits_table() -> tuple[pd.DataFrame, np.ndarray]:
    """The digits as a metadata table (id, label, split, ink) plus their pixel vectors."""
    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0
    rng = np.random.default_rng(0)
    split = np.where(rng.random(len(x)) < 0.7, "train", "val")
    table = pd.DataFrame({
        "id": [f"digit{i:04d}" for i in range(len(x))],
        "label": digits.target,
        "split": split,
        "ink": x.sum(axis=1).round(2),
    })
    return table, x


def mlp_hidden(x: np.ndarray, y: np.ndarray, train: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hidden-layer activations of an MLP trained on the train rows: a learned embedding."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x[train], y[train])
    return np.maximum(x @ mlp.coefs_[0] + mlp.intercepts_[0], 0).astype(np.float32)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default=None, help="registry folder (default $SPACELENS_HOME)")
    args = ap.parse_args(argv)
    home = spacelens.open_registry(args.home)
    table, x = digits_table()
    train = (table["split"] == "train").to_numpy()
    spaces = {
        "digits-pixels": ("pixels", "raw 8x8 intensities", x),
        "digits-mlp": ("mlp-64", "sklearn MLPClassifier hidden layer", mlp_hidden(x, table["label"].to_numpy(), train)),
    }
    for name, (model, _, vectors) in spaces.items():
        spacelens.add(vectors, table, dataset_name="digits", experiment_name=f"demo-{model}", model_name=model,
                      space_name=name, overwrite=True, home=home)
        print(f"registered {name}: {vectors.shape[0]} x {vectors.shape[1]} ({spaces[name][1]})")


if __name__ == "__main__":
    main()
