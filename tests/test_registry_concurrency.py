"""The registry under concurrent use: first opens, lock handling, stale results, runs, migration.

Each test forces the interleaving it is about (a monkeypatched step runs "the other process" at
the exact moment), so none depends on timing or on which process wins a race.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import spacelens
from spacelens.errors import SpacelensError, SpacelensWarning
from spacelens.registry import Registry, RegistryBusyError
from spacelens.registry import core as registry_core
from spacelens.registry.store import Staging


def _add(lab, name, vectors=None, *, home, dataset=True, **kw):
    return spacelens.add(lab.vectors if vectors is None else vectors, lab.csv if dataset else None,
                         dataset_name="items", experiment_name=kw.pop("experiment", "e"), space_name=name,
                         home=home, **kw)


def test_eight_processes_opening_a_new_registry_at_once_all_succeed(tmp_path):
    """Each process spins until a start file appears, then opens and lists: the opens overlap."""
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        go = tmp_path / f"go{attempt}"
        code = ("import os, sys, time\n"
                "from spacelens.registry import Registry\n"
                f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
                f"print(len(Registry({str(home)!r}).list('spaces')))\n")
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(8)]
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, results):
            assert p.returncode == 0, err
            assert out.strip() == "0"
        conn = sqlite3.connect(home / "registry.sqlite")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        from spacelens.registry.schema import SCHEMA_VERSION

        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()


def test_files_are_written_without_holding_the_write_lock(home, labeled, monkeypatch):
    """Another process can write while a (large) space is being copied in."""
    _add(labeled, "a", home=home)
    monkeypatch.setattr(registry_core, "BUSY_TIMEOUT_S", 0.2)
    real = Staging.copy_space
    seen = {}

    def copy_then_let_another_writer_in(self, source, order, **kw):
        other = Registry(home)   # "another process": its own connection
        seen["art"] = other.put_artifact("demo", "a", {}, {"x": np.arange(3)})
        return real(self, source, order, **kw)

    monkeypatch.setattr(Staging, "copy_space", copy_then_let_another_writer_in)
    _add(labeled, "b", home=home, dataset=False)
    assert seen["art"] is not None
    assert [s.name for s in spacelens.ls("spaces", home=home)] == ["a", "b"]


def test_a_lock_held_too_long_is_one_clear_error_and_changes_nothing(home, labeled, monkeypatch):
    _add(labeled, "a", home=home)
    reg = Registry(home)
    objects_before = sorted(p.name for p in (home / "objects").iterdir())
    monkeypatch.setattr(registry_core, "BUSY_TIMEOUT_S", 0.05)
    blocker = sqlite3.connect(home / "registry.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(RegistryBusyError, match="stayed locked by another process"):
            reg.put_artifact("demo", "a", {}, {"x": np.arange(3)})
        assert [s.name for s in reg.list("spaces")] == ["a"]  # WAL: reading while a writer holds the lock
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sorted(p.name for p in (home / "objects").iterdir()) == objects_before
    assert reg.find_artifacts(kind="demo") == []


def test_two_processes_adding_the_same_new_dataset_both_succeed(home, labeled, monkeypatch):
    """The second add looked the dataset up before the first committed: it reuses the row."""
    _add(labeled, "a", home=home)
    real_find = Registry.find
    monkeypatch.setattr(Registry, "find", lambda self, name: [] if name == "items" else real_find(self, name))
    _add(labeled, "b", home=home)  # passes -d again, as if the dataset were new
    monkeypatch.undo()
    reg = Registry(home)
    assert [d.name for d in reg.list("datasets")] == ["items"]
    assert {s.dataset for s in reg.list("spaces")} == {"items"}
    assert reg.gc(min_age_s=0) == []  # the second add's staged copy of the table was not left behind


def test_adding_a_different_table_under_a_taken_name_is_refused_even_when_raced(home, labeled, tmp_path,
                                                                              monkeypatch):
    from conftest import make_labeled

    _add(labeled, "a", home=home)
    other = make_labeled(tmp_path, seed=3, name="other")
    real_find = Registry.find
    monkeypatch.setattr(Registry, "find", lambda self, name: [] if name == "items" else real_find(self, name))
    with pytest.raises(SpacelensError, match="already taken by a different table"):
        _add(other, "b", home=home)
    monkeypatch.undo()
    assert Registry(home).gc(min_age_s=0) == []


def test_a_comparison_that_read_a_replaced_space_is_not_stored(home, labeled, monkeypatch):
    """compare(a, b) reads b; before it stores, a training loop replaces b (log_space overwrites)."""
    from spacelens.compare import core as compare_core

    _add(labeled, "a", home=home)
    _add(labeled, "b", labeled.vectors[:, ::-1].copy(), home=home, dataset=False)
    new_b = np.random.default_rng(5).normal(size=labeled.vectors.shape).astype(np.float32)
    real_curve = compare_core.k_curve

    def curve_then_replace_b(*args, **kw):
        out = real_curve(*args, **kw)
        spacelens.log_space("b", new_b, dataset="items", experiment="e", home=home)
        return out

    monkeypatch.setattr(compare_core, "k_curve", curve_then_replace_b)
    with pytest.warns(SpacelensWarning, match="'b' was replaced while this comparison was computed"):
        stale = spacelens.compare("a", "b", k=10, cka=False, home=home)
    monkeypatch.undo()
    reg = Registry(home)
    assert reg.find_artifacts(kind="comparison") == []
    fresh = spacelens.compare("a", "b", k=10, cka=False, home=home)
    # the stored result is the new b's: equal to a brute-force Jaccard of the two spaces
    assert fresh.mean != pytest.approx(stale.mean)
    assert fresh.mean == pytest.approx(_brute_jaccard(labeled.vectors, new_b, 10))
    for art in reg.find_artifacts():
        assert art.space_hash == reg.space(art.space).content_hash
        if art.other_space:
            assert art.other_space_hash == reg.space(art.other_space).content_hash


def _brute_jaccard(x, y, k):
    def knn(v):
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        s = v @ v.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]
    a, b = knn(x.astype(np.float64)), knn(y.astype(np.float64))
    return float(np.mean([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(a, b)]))


def test_results_are_ignored_when_their_space_no_longer_holds_their_content(home, labeled):
    _add(labeled, "a", home=home)
    reg = Registry(home)
    old = reg.space("a")
    assert reg.put_artifact("demo", old, {}, {"x": np.arange(3)}) is not None
    conn = sqlite3.connect(home / "registry.sqlite")
    conn.execute("UPDATE spaces SET content_hash = 'something else' WHERE name = 'a'")
    conn.commit()
    conn.close()
    assert reg.get_artifact("demo", "a", {}) is None
    assert reg.find_artifacts(kind="demo") == []


def test_ids_are_never_reused(home, labeled):
    reg = Registry(home)
    first = _add(labeled, "a", home=home)
    art = reg.put_artifact("demo", "a", {}, {"x": np.arange(3)})
    reg.delete_artifact(art)
    spacelens.rm("space", "a", home=home)
    again = _add(labeled, "a", home=home, dataset=False)
    art2 = reg.put_artifact("demo", "a", {}, {"x": np.arange(3)})
    assert again.id > first.id and art2.id > art.id


def test_replaced_files_stay_readable_for_the_grace_period(home, labeled, monkeypatch):
    monkeypatch.setenv("SPACELENS_TRASH_GRACE_S", "600")
    _add(labeled, "a", home=home)
    reg = Registry(home)
    old = reg.space("a")                      # a reader resolved the record ...
    spacelens.log_space("a", labeled.vectors * 2, dataset="items", experiment="e", home=home)
    np.testing.assert_array_equal(reg.load_vectors(old), labeled.vectors)  # ... and can still read it
    assert reg.gc() == []                     # not yet: still in its grace period
    assert reg.gc(min_age_s=0) == [old.array_file]
    assert not (home / old.array_file).exists()


def test_evaluation_key_holds_the_clustering_settings(home, labeled):
    from spacelens.evolution import _stored_evaluation

    _add(labeled, "a", home=home)
    kmeans = spacelens.evaluate("a", label_field="label", home=home)
    spacelens.evaluate("a", label_field="label", clustering=False, home=home)
    spacelens.evaluate("a", label_field="label", cluster_field="label", home=home)
    reg = Registry(home)
    stored = reg.find_artifacts(kind="evaluation")
    assert len(stored) == 3   # none replaced another
    methods = sorted(str((a.params["clustering"] or {}).get("method")) for a in stored)
    assert methods == ["None", "column", "kmeans"]
    # evolution reads only the k-means evaluation (NMI from the label column itself would be 1.0)
    assert _stored_evaluation(reg, "a", "label", "cosine")["NMI"] == pytest.approx(kmeans["NMI"])
    for a in stored:
        if (a.params["clustering"] or {}).get("method") == "kmeans":
            reg.delete_artifact(a)
    assert _stored_evaluation(reg, "a", "label", "cosine") is None


def _log_run(lab, run, epochs, *, home, replace=True, name="{run}.epoch_{e}"):
    rng = np.random.default_rng(abs(hash(run)) % 2**32)
    for e in epochs:
        spacelens.log_space(name.format(run=run, e=e) if "{run}" in name else name.format(e=e),
                            lab.vectors + rng.normal(size=lab.vectors.shape).astype(np.float32) * 0.1 * e,
                            dataset="items", experiment="exp", step=e, split="val", run=run,
                            replace_other_runs=replace, home=home)


def test_a_shorter_rerun_replaces_the_old_run_and_evolution_reads_one_run(home, labeled):
    _add(labeled, "seed", home=home)
    _log_run(labeled, "r1", range(1, 6), home=home, name="exp.epoch_{e}")
    _log_run(labeled, "r2", range(1, 4), home=home, name="exp.epoch_{e}")
    names = sorted(s.name for s in spacelens.ls("spaces", home=home) if s.experiment == "exp")
    assert names == ["exp.epoch_1", "exp.epoch_2", "exp.epoch_3"]  # r1's epochs 4 and 5 went with r1
    ev = spacelens.evolution("exp", split="val", k=5, home=home)
    assert ev.steps == [1, 2, 3] and ev.info["run"] == "r2" and ev.info["other_runs"] == []


def test_a_kept_rerun_sits_beside_the_old_one(home, labeled, cli):
    _add(labeled, "seed", home=home)
    _log_run(labeled, "r1", range(1, 6), home=home, replace=False)
    _log_run(labeled, "r2", range(1, 4), home=home, replace=False)
    ev = spacelens.evolution("exp", split="val", k=5, home=home)
    assert ev.steps == [1, 2, 3] and ev.info["run"] == "r2" and ev.info["other_runs"] == ["r1"]
    ev1 = spacelens.evolution("exp", split="val", k=5, run="r1", home=home)
    assert ev1.steps == [1, 2, 3, 4, 5] and all(e.space.startswith("r1.") for e in ev1.epochs)
    r = cli("evolution", "exp", "-k", "5", check=True)
    assert "run r2" in r.out and "Other runs of this experiment, not shown: r1" in r.out
    with pytest.raises(SpacelensError, match="no 'val' spaces of run 'r9'"):
        spacelens.evolution("exp", split="val", run="r9", home=home)


def test_names_are_letters_digits_and_few_punctuation_marks(home, labeled, cli):
    r = cli("add", "-e", _npy(labeled, home), "-d", labeled.csv, "--dataset-name", "wine",
            "--experiment-name", "e", "--embedding-space-name", "wine raw v2")
    assert r.code == 1 and "Use letters, digits and - _ . : @ only, e.g. 'wine-raw-v2'" in r.err
    assert "Traceback" not in r.err
    assert not (home / "registry.sqlite").exists() or spacelens.ls("spaces", home=home) == []


def _npy(lab, home) -> Path:
    p = home.parent / "emb.npy"
    np.save(p, lab.vectors)
    return p


def test_a_version_1_registry_is_migrated_in_place(home, labeled):
    """Rows, ids and files survive; derived results get their spaces' hashes; ids are not reused after."""
    _add(labeled, "a", home=home)
    _add(labeled, "b", labeled.vectors * 2, home=home, dataset=False)
    reg = Registry(home)
    art = reg.put_artifact("demo", "a", {"k": 1}, {"x": np.arange(4)}, other="b", info={"v": 1})
    # rebuild the database as version 1 wrote it, with the same rows
    src = sqlite3.connect(home / "registry.sqlite")
    rows = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in ("datasets", "experiments", "spaces", "artifacts")}
    src.close()
    for f in home.glob("registry.sqlite*"):
        f.unlink()
    v1 = sqlite3.connect(home / "registry.sqlite")
    v1.executescript((Path(__file__).parent / "data" / "registry_schema_v1.sql").read_text())
    for t, width in (("datasets", 10), ("experiments", 6), ("spaces", 15), ("artifacts", 10)):
        for r in rows[t]:
            v1.execute(f"INSERT INTO {t} VALUES ({','.join('?' * width)})", tuple(r)[:width])
    v1.execute("PRAGMA user_version = 1")
    v1.commit()
    v1.close()

    reg = Registry(home)
    assert [s.name for s in reg.list("spaces")] == ["a", "b"]
    got = reg.get_artifact("demo", "a", {"k": 1}, other="b")
    assert got is not None and got.id == art.id and got.info == {"v": 1}
    assert got.space_hash == reg.space("a").content_hash and got.other_space_hash == reg.space("b").content_hash
    np.testing.assert_array_equal(reg.load_artifact(got, "x"), np.arange(4))
    assert reg.integrity_check() == "ok"
    spacelens.rm("space", "b", home=home)
    assert _add(labeled, "c", home=home, dataset=False).id > max(r[0] for r in rows["spaces"])


def test_read_only_open_of_a_missing_registry_is_refused(tmp_path):
    from spacelens.errors import NotFoundError

    with pytest.raises(NotFoundError, match="No registry at"):
        Registry(tmp_path / "typo", create=False)
    assert not (tmp_path / "typo").exists()


def test_warnings_filter_does_not_hide_stale_results(home, labeled):
    """A stale store is a warning the CLI prints, not silence: the filter is 'default'."""
    _add(labeled, "a", home=home)
    reg = Registry(home)
    old = reg.space("a")
    spacelens.log_space("a", labeled.vectors * 3, dataset="items", experiment="e", home=home)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        assert reg.put_artifact("demo", old, {}, {"x": np.arange(2)}) is None
    assert any("was replaced" in str(w.message) for w in caught)
    assert os.listdir(home / "tmp") == []


def _brute_precision_at_1(x, labels):
    """Share of items whose nearest other item (cosine) has their label."""
    v = x.astype(np.float64) / np.linalg.norm(x, axis=1, keepdims=True)
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    return float(np.mean(labels[np.argmax(s, axis=1)] == labels))


def test_a_result_of_a_record_re_added_with_the_same_vectors_is_not_stored_or_served(home, labeled, tmp_path,
                                                                                     monkeypatch):
    """evaluate(a) reads a (record 1, dataset 'items'); before it stores, the same vectors are
    re-added as 'a' to another dataset with other labels (--overwrite: record 2, same content
    hash). The evaluation of record 1's labels must not become record 2's stored result."""
    rec1 = _add(labeled, "a", home=home)
    other = labeled.table.assign(label=np.random.default_rng(7).permutation(labeled.table["label"].to_numpy()))
    other_csv = tmp_path / "relabeled.csv"
    other.to_csv(other_csv, index=False)
    real_put = Registry.put_artifact
    re_added = {}

    def re_add_then_put(self, kind, space, *args, **kw):
        if kind == "evaluation" and not re_added:
            re_added["rec"] = spacelens.add(labeled.vectors, other_csv, dataset_name="relabeled", experiment_name="e",
                                            space_name="a", overwrite=True, home=home)
        return real_put(self, kind, space, *args, **kw)

    monkeypatch.setattr(Registry, "put_artifact", re_add_then_put)
    with pytest.warns(SpacelensWarning, match="'a' was replaced while this evaluation was computed"):
        stale = spacelens.evaluate("a", label_field="label", clustering=False, home=home)
    monkeypatch.undo()
    rec2 = re_added["rec"]
    assert rec2.id != rec1.id and rec2.content_hash == rec1.content_hash and rec2.dataset == "relabeled"
    assert stale["precision_at_1"] == pytest.approx(_brute_precision_at_1(labeled.vectors, labeled.labels))
    reg = Registry(home)
    assert reg.find_artifacts(kind="evaluation") == []
    fresh = spacelens.evaluate("a", label_field="label", clustering=False, home=home)
    relabels = other["label"].to_numpy()
    assert fresh["precision_at_1"] == pytest.approx(_brute_precision_at_1(labeled.vectors, relabels))
    assert fresh["precision_at_1"] != pytest.approx(stale["precision_at_1"])
    [art] = reg.find_artifacts(kind="evaluation")
    assert art.info["precision_at_1"] == pytest.approx(fresh["precision_at_1"])
    # the read path: record 2's result is served for record 2 (and by name), never to a holder of record 1
    assert reg.get_artifact("evaluation", rec2, art.params).id == art.id
    assert reg.get_artifact("evaluation", "a", art.params).id == art.id
    assert reg.get_artifact("evaluation", rec1, art.params) is None


def test_a_result_of_a_removed_and_re_added_space_is_refused_even_with_equal_content(home, labeled):
    """rm + add under the same name: a new record (a new id), same vectors and dataset."""
    rec1 = _add(labeled, "a", home=home)
    reg = Registry(home)
    spacelens.rm("space", "a", home=home)
    rec2 = _add(labeled, "a", home=home, dataset=False)
    assert rec2.id != rec1.id and rec2.content_hash == rec1.content_hash
    with pytest.warns(SpacelensWarning, match="'a' was replaced"):
        assert reg.put_artifact("demo", rec1, {}, {"x": np.arange(3)}) is None
    assert reg.find_artifacts(kind="demo") == []
    art = reg.put_artifact("demo", rec2, {}, {"x": np.arange(3)})
    assert art is not None and reg.get_artifact("demo", rec2, {}).id == art.id
    assert reg.get_artifact("demo", rec1, {}) is None
    # a two-space result: the other side is checked the same way
    _add(labeled, "b", labeled.vectors * 2, home=home, dataset=False)
    with pytest.warns(SpacelensWarning, match="'a' was replaced"):
        assert reg.put_artifact("demo2", "b", {}, {"x": np.arange(3)}, other=rec1) is None
    pair = reg.put_artifact("demo2", "b", {}, {"x": np.arange(3)}, other=rec2)
    assert reg.get_artifact("demo2", "b", {}, other=rec2).id == pair.id
    assert reg.get_artifact("demo2", "b", {}, other=rec1) is None
    assert os.listdir(home / "tmp") == []
