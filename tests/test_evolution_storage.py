"""Training-scale evolution: float16 epoch logs and pruning old epochs' vectors.

References: float16 figures against the same data stored as float32 (the figures' tolerance:
kNN sets identical for >= 99% of items, retrieval metrics and Jaccards within 1e-3, NMI/AMI
within 1e-2 since k-means itself moves more than that from one seed to another, see
bench/evolution_storage.py), and a brute-force float64 P@1 on the rounded values; pruning
against the evolution and the results read before the prune, and bytes counted on disk.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.errors import SpacelensError
from spacelens.registry import PrunedError, Registry

RETRIEVAL = ("precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision",
             "mean_reciprocal_rank")


def _table(labels) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"i{i:05d}" for i in range(len(labels))], "label": labels})


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return ((x - x.mean(0)) / (x.std(0) + 1e-6)).astype(np.float32), y


def _generated(n=2000, d=64, n_classes=20, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = 1.5 * rng.standard_normal((n_classes, d))[y] + rng.standard_normal((n, d))
    return (x / np.sqrt(d)).astype(np.float32), y   # values ~0.2: the scale of trained embeddings


def _brute_p_at_1(x, labels) -> float:
    x = np.asarray(x, np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return float((labels[np.argmax(sim, axis=1)] == labels).mean())   # argmax: lowest row on ties


def _files_bytes(home) -> int:
    return sum(f.stat().st_size for f in (home / "objects").iterdir())


# -- float16 storage ------------------------------------------------------------------------------
def test_float16_stores_half_the_bytes_and_reads_back_float32(home):
    x, y = _generated(n=500, d=32)
    reg = Registry(home)
    s32 = spacelens.add(x, _table(y), dataset_name="ds", experiment_name="e", space_name="a32", home=reg)
    s16 = spacelens.log_space("a16", x, dataset="ds", experiment="e", step=1, split="val", dtype="float16", home=reg)
    assert (s32.dtype, s16.dtype) == ("float32", "float16")
    b32 = reg.store.path(s32.array_file).stat().st_size
    b16 = reg.store.path(s16.array_file).stat().st_size
    assert b32 - 128 == 2 * (b16 - 128) == 500 * 32 * 4   # .npy headers of 128 bytes, then the rows
    v = reg.load_vectors("a16")
    assert v.dtype == np.float32 and v.shape == (500, 32) and not v.flags.writeable
    np.testing.assert_array_equal(v, x.astype(np.float16).astype(np.float32))
    assert np.abs(v - x).max() <= np.abs(x).max() * 2.0**-11   # one rounding, half an ulp of float16
    # the hash and statistics describe what readers get: the same as a float32 copy of the rounded values
    same = spacelens.add(v, dataset_name="ds", experiment_name="e", space_name="rounded", home=reg)
    assert same.content_hash == s16.content_hash != s32.content_hash
    assert same.stats == s16.stats
    assert spacelens.load_space("a16", home=reg)[0].dtype == np.float32


def test_float16_refuses_what_it_cannot_hold(home):
    x, y = _generated(n=50, d=8)
    spacelens.add(x, _table(y), dataset_name="ds", experiment_name="e", space_name="base")
    big = x.copy()
    big[7, 3] = 1e5
    with pytest.raises(SpacelensError, match=r"too large for float16 \(first at row 7.*float32"):
        spacelens.log_space("big", big, dataset="ds", experiment="e", step=1, dtype="float16")
    tiny = x.copy()
    tiny[4] = 1e-9
    with pytest.raises(SpacelensError, match=r"Row 4 .* too small for float16.*float32"):
        spacelens.log_space("tiny", tiny, dataset="ds", experiment="e", step=1, dtype="float16")
    with pytest.raises(SpacelensError, match="cannot be stored as 'int8'.*float32, float16"):
        spacelens.log_space("bad", x, dataset="ds", experiment="e", step=1, dtype="int8")
    assert [s.name for s in spacelens.ls("spaces")] == ["base"]   # nothing half-registered


@pytest.mark.parametrize("data", ["digits", "generated"])
def test_float16_figures_agree_with_float32(home, data):
    x, y = _digits() if data == "digits" else _generated()
    reg = Registry(home)
    spacelens.add(x, _table(y), dataset_name="ds", experiment_name="e", space_name="f32", home=reg)
    spacelens.add(x, dataset_name="ds", experiment_name="e", space_name="f16", dtype="float16", home=reg)
    m32 = spacelens.evaluate("f32", label_field="label", home=reg)
    m16 = spacelens.evaluate("f16", label_field="label", home=reg)
    for m in RETRIEVAL:
        assert abs(m16[m] - m32[m]) <= 1e-3, m
    for m in ("NMI", "AMI"):
        assert abs(m16[m] - m32[m]) <= 1e-2, m
    # an independent reference: brute force in float64 on the rounded values
    assert m16["precision_at_1"] == pytest.approx(_brute_p_at_1(x.astype(np.float16), y), abs=1e-12)
    c = spacelens.compare("f32", "f16", k=10, cka=False, home=reg)
    assert (np.asarray(c.jaccard) == 1.0).mean() >= 0.99   # the same 10 neighbours for >= 99% of items
    assert c.mean >= 0.995
    # a Jaccard between epochs is the same whichever way the epochs were stored
    rng = np.random.default_rng(3)
    nxt = (x + 0.5 * np.abs(x).mean() * rng.standard_normal(x.shape)).astype(np.float32)
    spacelens.add(nxt, dataset_name="ds", experiment_name="e", space_name="n32", home=reg)
    spacelens.add(nxt, dataset_name="ds", experiment_name="e", space_name="n16", dtype="float16", home=reg)
    j32 = spacelens.compare("f32", "n32", k=10, cka=False, home=reg).mean
    j16 = spacelens.compare("f16", "n16", k=10, cka=False, home=reg).mean
    assert abs(j32 - j16) <= 1e-3


# -- pruning ------------------------------------------------------------------------------------
STEPS = list(range(1, 7))


@pytest.fixture
def run(home):
    """Experiment 'run': val epochs 1..6 (float16), evolution with labels computed (results stored),
    and a cached kNN graph of every epoch."""
    x, y = _generated(n=400, d=16, n_classes=8, seed=1)
    spacelens.add(x, _table(y), dataset_name="ds", experiment_name="raw", space_name="raw")
    rng = np.random.default_rng(5)
    for step in STEPS:
        v = (x + rng.standard_normal(x.shape) * 0.3 / step).astype(np.float32)
        spacelens.log_space(f"run.epoch_{step}.val", v, dataset="ds", experiment="run", step=step, split="val",
                            dtype="float16")
    ev = spacelens.evolution("run", label_field="label")
    for step in STEPS:
        spacelens.knn(f"run.epoch_{step}.val", k=7)
    return ev


def test_dry_run_changes_nothing_and_counts_the_bytes(run, home):
    reg = Registry(home)
    before = _files_bytes(home)
    plan = spacelens.prune("run", keep_last=2, keep_every=3)
    assert not plan.applied and _files_bytes(home) == before
    assert [p["step"] for p in plan.prune] == [1, 2, 4]
    assert {k["step"]: k["why"] for k in plan.keep} == {3: ["every 3"], 5: ["last 2"], 6: ["last 2", "every 3"]}
    assert all(s.pruned_at is None for s in reg.spaces_of(experiment="run"))
    # bytes: each pruned space's vector file and its kNN graph's files, counted here on disk
    want = 0
    for p in plan.prune:
        rec = reg.space(p["space"])
        want += reg.store.path(rec.array_file).stat().st_size
        want += sum(reg.store.path(f).stat().st_size for a in reg.find_artifacts(kind="knn_graph", space=rec.name)
                    for f in a.files.values())
    assert plan.bytes_freed == want > 0


def test_prune_keeps_records_and_results_and_frees_the_files(run, home):
    reg = Registry(home)
    names = [f"run.epoch_{s}.val" for s in (1, 2, 4)]
    files = {n: reg.store.path(reg.space(n).array_file) for n in names}
    results = {n: sorted((a.kind, a.id) for a in reg.find_artifacts(space=n) if a.kind != "knn_graph") for n in names}
    before = _files_bytes(home)
    plan = spacelens.prune("run", keep_last=2, keep_every=3, dry_run=False)
    assert plan.applied and [p["space"] for p in plan.prune] == names
    assert before - _files_bytes(home) == plan.bytes_freed   # trash grace is 0 in tests: freed at once
    assert not any(f.exists() for f in files.values())
    for n in names:
        rec = reg.space(n)
        assert rec.pruned_at is not None and rec.n_rows == 400 and rec.step is not None
        assert sorted((a.kind, a.id) for a in reg.find_artifacts(space=n)) == results[n]   # graphs went, rest stayed
        assert {a.kind for a in reg.find_artifacts(space=n)} >= {"evaluation", "comparison"}
    kept = reg.space("run.epoch_3.val")
    assert kept.pruned_at is None and reg.load_vectors(kept).shape == (400, 16)
    # evolution over the pruned run: the same figures, read from the stored results
    after = spacelens.evolution("run", label_field="label")
    assert json.dumps(after.to_dict(), sort_keys=True) == json.dumps(run.to_dict(), sort_keys=True)
    again = spacelens.prune("run", keep_last=2, keep_every=3, dry_run=False)
    assert again.prune == [] and again.already_pruned == names and again.bytes_freed == 0


@pytest.mark.filterwarnings("ignore:k=5 is below max_bin_count")
def test_what_needs_pruned_vectors_says_so(run, home):
    spacelens.prune("run", keep_last=1, dry_run=False)
    for call in (lambda: spacelens.load_space("run.epoch_1.val"),
                 lambda: spacelens.compare("run.epoch_1.val", "run.epoch_6.val", k=3),
                 lambda: spacelens.evaluate("run.epoch_2.val", label_field="label", k=5),
                 lambda: spacelens.knn("run.epoch_2.val", k=4),
                 lambda: spacelens.project("run.epoch_2.val", method="pca")):
        with pytest.raises(PrunedError, match=r"vectors were pruned on \d{4}-\d\d-\d\d; its stored results remain"
                                              r".*log the space again"):
            call()
    with pytest.raises(SpacelensError, match=r"Evolution \(k = 4, cosine\) needs a figure of 'run.epoch_1.val'.*"
                                             r"stored for it: comparisons at k = 10; evaluations on label"):
        spacelens.evolution("run", k=4)
    assert spacelens.evolution("run", k=10).steps == STEPS   # the stored settings still work
    # the fix the error names: logging the space again gives it vectors (and no pruned mark) again
    x = np.ones((400, 16), np.float32) + np.eye(400, 16, dtype=np.float32)
    again = spacelens.log_space("run.epoch_1.val", x, dataset="ds", experiment="run", step=1, split="val")
    assert again.pruned_at is None and np.array_equal(spacelens.load_space("run.epoch_1.val")[0], x)


def test_pruned_spaces_are_left_out_of_the_matrix_and_the_baselines(run, home, cli):
    """compare --all leaves pruned epochs out (and says so) instead of failing on them; its values
    are the pairwise comparisons of the rest. A pruned reseeded run is not proposed as a baseline."""
    from spacelens.answer import propose_baseline

    spacelens.prune("run", keep_last=2, dry_run=False)
    mat = spacelens.compare_all("ds", k=5, cka=False)
    kept = ["raw", "run.epoch_5.val", "run.epoch_6.val"]
    assert mat.spaces == kept and mat.info["pruned"] == [f"run.epoch_{s}.val" for s in (1, 2, 3, 4)]
    for i, a in enumerate(kept):
        for j, b in enumerate(kept[i + 1:], i + 1):
            assert mat.jaccard[i, j] == pytest.approx(spacelens.compare(a, b, k=5, cka=False).mean, abs=1e-12)
    res = cli("compare", "--all", "ds", "-k", "5", "--no-cka", check=True)
    assert "Left out, their vectors pruned: run.epoch_1.val, run.epoch_2.val" in " ".join(res.out.split())
    # one recipe run with two seeds; the second's epoch 1 pruned: no baseline for epoch 1, one for 6
    x, _ = _generated(n=400, d=16, n_classes=8, seed=2)
    for seed in (0, 1):
        for step in (1, 6):
            spacelens.log_space(f"s{seed}.epoch_{step}.val", x + seed, dataset="ds", experiment=f"s{seed}", step=step,
                                split="val", params={"lr": 0.1, "seed": seed})
    assert propose_baseline(Registry(home), "s0.epoch_1.val") == "s1.epoch_1.val"
    spacelens.prune("s1", keep_last=1, dry_run=False)
    reg = Registry(home)
    assert propose_baseline(reg, "s0.epoch_1.val") is None
    assert propose_baseline(reg, "s0.epoch_6.val") == "s1.epoch_6.val"


def test_keep_best_reads_stored_evaluations(run, home):
    best = max(run.epochs, key=lambda r: (r.metrics["mean_average_precision_at_r"], -r.step))
    plan = spacelens.prune("run", keep_last=1, keep_best="MAP@R")
    kept = {k["step"]: k["why"] for k in plan.keep}
    assert set(kept) == {6, best.step}
    assert any(w.startswith("best MAP@R") for w in kept[best.step])
    assert not plan.warnings


def test_prune_refuses_unclear_requests(run):
    with pytest.raises(SpacelensError, match="what to keep"):
        spacelens.prune("run")
    with pytest.raises(SpacelensError, match="keep_last=0 must be a positive"):
        spacelens.prune("run", keep_last=0)
    with pytest.raises(SpacelensError, match="'bogus' is not an evaluation metric"):
        spacelens.prune("run", keep_best="bogus")
    with pytest.raises(SpacelensError, match="no spaces logged with a step"):
        spacelens.prune("raw", keep_last=1)
    with pytest.raises(SpacelensError, match="no spaces logged with a step of split 'test'"):
        spacelens.prune("run", keep_last=1, split="test")


def test_prune_warns_when_figures_would_be_lost(home):
    x, y = _generated(n=100, d=8)
    spacelens.add(x, _table(y), dataset_name="ds", experiment_name="raw", space_name="raw")
    for step in (1, 2, 3):
        spacelens.log_space(f"e.{step}", x + step, dataset="ds", experiment="e", step=step)
    plan = spacelens.prune("e", keep_last=1)
    assert [p["results"] for p in plan.prune] == [0, 0]
    assert any("no stored results" in w and "spacelens evolution e" in w for w in plan.warnings)


def test_version_2_registry_opens_and_gains_the_column(home):
    x, y = _generated(n=60, d=8)
    spacelens.add(x, _table(y), dataset_name="ds", experiment_name="e", space_name="a")
    conn = sqlite3.connect(home / "registry.sqlite")
    conn.execute("ALTER TABLE spaces DROP COLUMN pruned_at")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    reg = Registry(home)
    rec = reg.space("a")
    assert rec.pruned_at is None and reg.load_vectors(rec).shape == (60, 8)
    conn = sqlite3.connect(home / "registry.sqlite")
    from spacelens.registry.schema import SCHEMA_VERSION

    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


# -- the CLI, through the real entry point ----------------------------------------------------------
def test_cli_add_dtype_prune_ls_show(run, cli, tmp_path, home):
    x, y = _generated(n=400, d=16, n_classes=8, seed=1)
    np.save(tmp_path / "e.npy", x)
    added = cli("add", "-e", tmp_path / "e.npy", "--dataset-name", "ds", "--experiment-name", "cli",
                "--embedding-space-name", "cli.1", "--step", "1", "--split", "val", "--dtype", "float16", "--json",
                check=True).json()
    assert added["dtype"] == "float16" and added["step"] == 1 and added["split"] == "val"
    bad = cli("add", "-e", tmp_path / "e.npy", "--dataset-name", "ds", "--experiment-name", "cli",
              "--embedding-space-name", "cli.2", "--dtype", "float64")
    assert bad.code == 1 and "cannot be stored as 'float64'" in bad.err and "Traceback" not in bad.err

    before = _files_bytes(home)
    dry = cli("prune", "run", "--keep-last", "2", "--keep-every", "3", check=True)
    assert "dry run" in dry.out and "Pass --yes" in dry.out and "would prune run.epoch_1.val" in dry.out
    assert _files_bytes(home) == before
    done = cli("prune", "run", "--keep-last", "2", "--keep-every", "3", "--yes", "--json", check=True).json()
    assert done["applied"] and [p["step"] for p in done["prune"]] == [1, 2, 4]
    assert before - _files_bytes(home) == done["bytes_freed"]

    ls = cli("ls", "spaces", check=True).out
    assert ls.count("vectors pruned") == 3 and "float16" in ls
    assert [s["pruned_at"] is not None for s in cli("ls", "spaces", "--json", check=True).json()
            if s["experiment"] == "run"] == [True, True, False, True, False, False]
    shown = cli("show", "run.epoch_1.val", check=True).out
    assert "pruned on" in shown and "stored results below remain" in shown and "evaluation" in shown

    refused = cli("compare", "run.epoch_1.val", "run.epoch_6.val", "-k", "3")
    assert refused.code == 1 and "vectors were pruned on" in refused.err and "Traceback" not in refused.err
    evo = cli("evolution", "run", "--label-field", "label", "--json", check=True).json()
    assert json.dumps(evo["epochs"], sort_keys=True) == json.dumps(run.to_dict()["epochs"], sort_keys=True)


def test_pml_logger_stores_float16(home):
    pytest.importorskip("torch")
    from spacelens.integrations.pml import SpacelensLogger

    x, y = _generated(n=80, d=8)
    spacelens.add(x, _table(y), dataset_name="ds", experiment_name="raw", space_name="raw")
    ids = [f"i{i:05d}" for i in range(80)]
    with pytest.raises(SpacelensError, match="cannot be stored as 'bfloat16'"):
        SpacelensLogger("pml", dataset="ds", ids={"val": ids}, dtype="bfloat16")
    logger = SpacelensLogger("pml", dataset="ds", ids={"val": ids}, dtype="float16")
    space = logger.log("val", 3, x)
    assert space.dtype == "float16" and space.step == 3
    np.testing.assert_array_equal(spacelens.load_space(space.name)[0], x.astype(np.float16).astype(np.float32))
