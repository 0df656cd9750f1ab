"""The spacelens demo on scikit-learn's bundled digits (no download); `make demo` runs it.

With torch installed (as `make demo` does) it runs the seed workflow of
``examples/triplet_vs_arcface.py``: train Triplet and ArcFace embedders, log every epoch,
evaluate, compare with a reseeded baseline, show the evolution over epochs, and write a
shareable HTML report on Triplet vs ArcFace (the reseeded Triplet as baseline, labels = digit
class). Without torch it registers two spaces any machine can make (raw pixels, and the hidden
layer of scikit-learn's MLPClassifier), evaluates and compares those and writes their report.
Either way each digit is also written as a small PNG into the registry folder (its dataset's
image folder), so the analyzer shows the digits in its tooltips and neighbour tables.
Either way it says where the report is and how to open the analyzer on the result.

    SPACELENS_HOME=.demo-home python examples/demo.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np

import spacelens

sys.path.insert(0, str(Path(__file__).parent))
from triplet_vs_arcface import digits_table, register_digits  # noqa: E402  (numpy/pandas/sklearn/matplotlib)


def mlp_hidden(x: np.ndarray, y: np.ndarray, train: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hidden-layer activations of an MLP trained on the train rows: a learned embedding without torch."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x[train], y[train])
    return np.maximum(x @ mlp.coefs_[0] + mlp.intercepts_[0], 0).astype(np.float32)


def without_torch(home) -> None:
    table, images = digits_table()
    x = images.reshape(len(table), -1)
    train = (table["split"] == "train").to_numpy()
    register_digits(table, images, home, experiment_name="digits-pixels", model_name="raw-pixels",
                    space_name="digits.pixels", overwrite=True)
    spacelens.add(mlp_hidden(x, table["label"].to_numpy(), train), dataset_name="digits",
                  experiment_name="digits-mlp", model_name="sklearn-mlp-64", space_name="digits.mlp",
                  overwrite=True, home=home)
    print("Registered digits.pixels and digits.mlp (1,797 items each)\n")
    for name in ("digits.pixels", "digits.mlp"):
        m = spacelens.evaluate(name, label_field="label", home=home)
        print(f"evaluate {name:14} MAP@R {m['mean_average_precision_at_r']:.3f}  P@1 {m['precision_at_1']:.3f}")
    cmp = spacelens.compare("digits.pixels", "digits.mlp", k=10, home=home)
    print(f"\ncompare digits.pixels vs digits.mlp: mean kNN Jaccard (k=10) {cmp.mean:.3f}")
    write_report(home, "digits.pixels", "digits.mlp", None, "report-pixels-vs-mlp.html")
    audit_digits(home, "digits.mlp", split_field="split", other="digits.pixels")
    ready_to_look(home, "digits.pixels", "digits.mlp", k=10)


def audit_digits(home, space: str, split_field: str | None = None, other: str | None = None) -> None:
    """Can the evaluation be trusted? The audit's answer sentence (spacelens audit SPACE)."""
    res = spacelens.audit(space, label_field="label", split_field=split_field, other=other, home=home)
    print(f"\nAudit of {space}: {res.answer}")
    for row in res.to_frame().head(3).itertuples():
        print(f"  - {row.kind} {row.id}: {row.reason}")


def write_report(home, a: str, b: str, baseline: str | None, filename: str) -> Path:
    """The shareable report on ``a`` vs ``b`` (HTML + JSON) in the registry folder; says where."""
    path = Path(home.home) / filename
    out = spacelens.report(a, b, path, baseline=baseline, label_field="label", k="5,10,20", home=home)
    print(f"\nReport on {a} vs {b}" + (f" (baseline {baseline})" if baseline else "") + ":")
    for sentence in out["summary"][:3]:
        print(f"  - {sentence}")
    print(f"Written to {out['html']} (open it in any browser; it fetches nothing) and {out['json']}")
    return path


def ready_to_look(home, a: str, b: str, k: int = 10) -> None:
    """Leave the analyzer's first view ready: both maps computed, the pair compared last.

    The page opens on the most recently stored comparison, so the pair the demo is about is
    compared again at the very end (a second: the kNN graphs are cached), after any other
    comparison the story stored on the way (the evolution over epochs compares many pairs).
    """
    for name in (a, b):
        m = spacelens.api.project(name, method="pca", home=home)
        f = m.faithfulness
        print(f"map {name}: PCA, kNN preservation {f['knn_preservation']:.3f}, "
              f"trustworthiness {f['trustworthiness']:.3f}")
    spacelens.api.compare(a, b, k=k, home=home)
    print(f"The analyzer opens on {a} vs {b} (k={k}): spacelens ui --home {home.home}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default=None, help="registry folder (default $SPACELENS_HOME)")
    ap.add_argument("--quick", action="store_true", help="3 training epochs instead of 20")
    args = ap.parse_args(argv)
    home = spacelens.open_registry(args.home)
    if importlib.util.find_spec("torch") and importlib.util.find_spec("pytorch_metric_learning"):
        from triplet_vs_arcface import main as story

        # one torch thread: deterministic, and robust on a busy 2-core machine, where two threads
        # spin-wait (measured: 10x the CPU time under load for the same result quality)
        result = story(["--home", str(home.home), "--threads", "1"] + (["--quick"] if args.quick else []))
        last = result["epochs"]
        write_report(home, f"digits-triplet.epoch_{last}.val", f"digits-arcface.epoch_{last}.val",
                     f"digits-triplet-seed1.epoch_{last}.val", "report-triplet-vs-arcface.html")
        audit_digits(home, f"digits-triplet.epoch_{last}.val", other=f"digits-arcface.epoch_{last}.val")
        print()
        ready_to_look(home, f"digits-triplet.epoch_{last}.val", f"digits-arcface.epoch_{last}.val", k=10)
    else:
        print("torch is not installed: running the torch-free demo (pip install torch==2.13.0 "
              "'spacelens[pml]' for the Triplet vs ArcFace story)\n")
        without_torch(home)


if __name__ == "__main__":
    main()
