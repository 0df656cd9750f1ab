"""``spacelens evolution``: per-epoch Jaccard to the previous and last epoch, and metrics.

References: direct ``spacelens.compare`` / ``spacelens.evaluate`` calls, and a brute-force
float64 kNN Jaccard written here (cosine, self excluded, ties by lower row).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_labeled

import spacelens
from spacelens.errors import SpacelensError
from spacelens.evolution import EpochRow, _verdict, kept_fraction

EXP = "run"
STEPS_LOGGED = [3, 1, 4, 2]  # logged out of order on purpose: evolution orders by step


def brute_knn(x: np.ndarray, k: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    n = len(x)
    return np.array([np.lexsort((np.arange(n), -sim[i]))[:k] for i in range(n)])


def brute_jaccard(xa, xb, k) -> float:
    ga, gb = brute_knn(xa, k), brute_knn(xb, k)
    return float(np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(ga, gb)]))


@pytest.fixture
def epochs(home, tmp_path):
    """Dataset of 240 items; experiment 'run' with val spaces (even rows) at steps 1..4, one train space
    at step 1 and one space without a step. Later epochs are less noisy (training converging)."""
    data = make_labeled(tmp_path, n=240, d=16, n_classes=6, seed=1)
    spacelens.add(data.vectors, data.csv, dataset_name="items", experiment_name="raw", space_name="items.raw")
    ids = data.table["id"].to_numpy()
    val = np.arange(0, 240, 2)
    rng = np.random.default_rng(7)
    vectors = {}
    for step in STEPS_LOGGED:
        v = (data.vectors[val] + rng.normal(scale=2.0 / step, size=(len(val), 16))).astype(np.float32)
        perm = rng.permutation(len(val))  # rows given in any order, matched by id
        spacelens.log_space(f"{EXP}.epoch_{step}.val", v[perm], dataset="items", experiment=EXP, ids=ids[val][perm],
                            step=step, split="val")
        vectors[step] = v
    spacelens.log_space(f"{EXP}.epoch_1.train", data.vectors[1::2], dataset="items", experiment=EXP,
                        ids=ids[1::2], step=1, split="train")
    spacelens.log_space(f"{EXP}.final", data.vectors, dataset="items", experiment=EXP)  # no step: ignored
    return data, vectors


def test_jaccards_equal_direct_compare_and_brute_force(epochs):
    _, vectors = epochs
    ev = spacelens.evolution(EXP, split="val", k=5)
    assert ev.steps == [1, 2, 3, 4] and ev.split == "val"
    assert [r.space for r in ev.epochs] == [f"{EXP}.epoch_{s}.val" for s in (1, 2, 3, 4)]
    assert ev.epochs[0].jaccard_prev is None and ev.epochs[-1].jaccard_last == 1.0
    for i, r in enumerate(ev.epochs):
        if i:
            direct = spacelens.compare(ev.epochs[i - 1].space, r.space, k=5).mean
            assert r.jaccard_prev == pytest.approx(direct, abs=1e-12)
            assert r.jaccard_prev == pytest.approx(brute_jaccard(vectors[r.step - 1], vectors[r.step], 5), abs=1e-6)
        if r.step != 4:
            direct_last = spacelens.compare(r.space, f"{EXP}.epoch_4.val", k=5).mean
            assert r.jaccard_last == pytest.approx(direct_last, abs=1e-12)
            assert r.jaccard_last == pytest.approx(brute_jaccard(vectors[r.step], vectors[4], 5), abs=1e-6)
        assert r.n_rows == 120 and r.metrics == {}
    # less noise later: neighbourhoods settle, so the Jaccard to the previous epoch rises
    jp = [r.jaccard_prev for r in ev.epochs[1:]]
    assert jp == sorted(jp)


def test_metrics_equal_evaluate_and_a_brute_force_precision_at_1(epochs):
    data, vectors = epochs
    ev = spacelens.evolution(EXP, k=5, label_field="label")
    labels = data.labels[np.arange(0, 240, 2)]
    for r in ev.epochs:
        direct = spacelens.evaluate(r.space, label_field="label")
        for m in ("mean_average_precision_at_r", "precision_at_1", "r_precision", "NMI", "AMI"):
            assert r.metrics[m] == pytest.approx(direct[m], abs=1e-12)
        p1 = float(np.mean(labels[brute_knn(vectors[r.step], 1)[:, 0]] == labels))
        assert r.metrics["precision_at_1"] == pytest.approx(p1, abs=1e-12)
    assert ev.info["best"]["value"] == max(r.metrics["mean_average_precision_at_r"] for r in ev.epochs)


def test_second_run_reads_stored_results(epochs, monkeypatch):
    first = spacelens.evolution(EXP, k=5, label_field="label")

    def fail(*a, **k):
        raise AssertionError("recomputed instead of reading the stored result")

    monkeypatch.setattr(spacelens.api, "compare", fail)
    monkeypatch.setattr(spacelens.api, "evaluate", fail)
    again = spacelens.evolution(EXP, k=5, label_field="label")
    assert again.to_dict() == first.to_dict()


def test_other_split_and_errors(epochs):
    ev = spacelens.evolution(EXP, split="train", k=5)
    assert ev.steps == [1] and ev.verdict.startswith("Only one epoch")
    with pytest.raises(SpacelensError, match="no 'test' spaces.*train, val"):
        spacelens.evolution(EXP, split="test")
    with pytest.raises(SpacelensError, match="several splits"):
        spacelens.evolution(EXP, split=None)
    with pytest.raises(SpacelensError, match="no spaces logged with a step"):
        spacelens.evolution("raw")
    with pytest.raises(SpacelensError, match="no column 'klass'"):
        spacelens.evolution(EXP, label_field="klass")


def test_cli_json_table_and_plot(epochs, cli, tmp_path):
    png = tmp_path / "evo.png"
    res = cli("evolution", EXP, "--split", "val", "-k", "5", "--label-field", "label", "--plot", png, "--json",
              check=True)
    out = res.json()
    api = spacelens.evolution(EXP, k=5, label_field="label").to_dict()
    assert out["plot"] == str(png)
    out.pop("plot")
    assert out == json.loads(json.dumps(api))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    h, w = matplotlib.image.imread(png).shape[:2]
    assert w > h > 200  # two panels side by side
    table = cli("evolution", EXP, "-k", "5", check=True)
    for r in api["epochs"]:
        assert r["space"] in table.out
    assert f"{api['epochs'][1]['jaccard_prev']:.3f}" in table.out
    assert spacelens.evolution(EXP, k=5).verdict in " ".join(table.out.split())
    bad = cli("evolution", EXP, "--split", "test")
    assert bad.code == 1 and "--split" in bad.err and "Traceback" not in bad.err


def _rows(maps, jprev_last):
    rows = [EpochRow(i + 1, f"s{i + 1}", 10, None if i == 0 else 0.5, 0.5, {"mean_average_precision_at_r": m})
            for i, m in enumerate(maps)]
    rows[-1].jaccard_prev = jprev_last
    return rows


def test_verdicts_hand_worked():
    # 8 epochs: window 2; mean of the last 2 vs the 2 before
    assert _verdict(_rows([.5, .6, .7, .8, .80, .81, .83, .84], 0.9), 10).startswith("Still improving: MAP@R +0.030")
    assert _verdict(_rows([.5, .6, .7, .8, .84, .841, .842, .842], 0.9), 10).startswith("Plateau: MAP@R +0.00")
    flat = _verdict(_rows([.5, .6, .7, .8, .84, .841, .842, .842], 0.5), 10)
    assert flat.startswith("Retrieval is flat but the space still moves") and "kept 67%" in flat
    worse = _verdict(_rows([.5, .6, .7, .9, .88, .86, .80, .78], 0.5), 10)
    assert worse.startswith("Getting worse") and "best at epoch 4" in worse
    no_labels = [EpochRow(1, "a", 5, None, 0.3), EpochRow(2, "b", 5, 0.85, 1.0)]
    assert _verdict(no_labels, 10).startswith("Neighbourhoods have settled")
    # J = s / (2k - s): s = 8 of k = 10 shared gives J = 8/12, i.e. 80% kept
    assert kept_fraction(8 / 12) == pytest.approx(0.8)
