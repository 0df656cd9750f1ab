"""The tracking CLI through its real entry point: add/ls/show/rm and every bad input.

Each bad input must exit non-zero with one line naming the problem and the fix, and leave
the registry exactly as it was (same listing, same files on disk).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest


def snapshot(home):
    """Everything that defines the registry's state: its rows and its files."""
    import sqlite3

    if not (home / "registry.sqlite").exists():
        return None
    conn = sqlite3.connect(home / "registry.sqlite")
    rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
            for t in ("datasets", "experiments", "spaces", "artifacts")}
    conn.close()
    files = sorted(p.name for p in (home / "objects").iterdir())
    return rows, files


@pytest.fixture
def seeded(cli, home, labeled, tmp_path):
    """A registry holding one dataset, experiment and space."""
    emb = tmp_path / "a.npy"
    np.save(emb, labeled.vectors)
    cli("add", "-e", emb, "-d", labeled.csv, "--dataset-name", "items", "--experiment-name", "exp",
        "--model-name", "m1", "--embedding-space-name", "a", check=True)
    return labeled


def test_add_ls_show_roundtrip(cli, home, seeded, tmp_path):
    listing = cli("ls", "spaces", "--json", check=True).json()
    assert [s["name"] for s in listing] == ["a"]
    assert listing[0]["n_rows"] == 300 and listing[0]["dim"] == 16
    info = cli("show", "a", "--json", check=True).json()
    assert info["shape"] == [300, 16] and info["dataset"] == "items" and info["model_name"] == "m1"
    norms = np.linalg.norm(seeded.vectors.astype(np.float64), axis=1)
    assert info["stats"]["mean_norm"] == pytest.approx(norms.mean(), rel=1e-6)
    assert info["stats"]["duplicate_share"] == 0
    # the stored array is the input, in dataset order, float32
    import spacelens

    vec, ids = spacelens.load_space("a")
    np.testing.assert_array_equal(np.asarray(vec), seeded.vectors)
    assert list(ids) == list(seeded.table["id"])
    out = cli("ls", check=True).out
    assert "items" in out and "exp" in out and "a" in out


def test_second_space_needs_no_dataset_and_aligns_by_id(cli, home, seeded, tmp_path):
    # a shuffled subset with ids in an .npz: rows must land on their dataset rows
    rng = np.random.default_rng(1)
    pick = rng.permutation(300)[:120]
    ids = seeded.table["id"].to_numpy(dtype=str)[pick]
    emb = seeded.vectors[pick] * 2
    np.savez(tmp_path / "b.npz", embeddings=emb, ids=ids)
    cli("add", "-e", tmp_path / "b.npz", "--dataset-name", "items", "--experiment-name", "exp2",
        "--embedding-space-name", "b", check=True)
    import spacelens

    vec, got_ids = spacelens.load_space("b")
    order = np.sort(pick)
    np.testing.assert_array_equal(got_ids, seeded.table["id"].to_numpy()[order])
    np.testing.assert_allclose(vec, seeded.vectors[order] * 2)
    assert cli("show", "b", "--json").json()["coverage"] == "120 of 300 dataset items"


def test_parquet_embeddings_with_list_column(cli, home, seeded, tmp_path):
    t = pd.DataFrame({"id": seeded.table["id"][::-1].to_numpy(), "vec": list(seeded.vectors[::-1] + 1)})
    t.to_parquet(tmp_path / "c.parquet")
    cli("add", "-e", tmp_path / "c.parquet", "--dataset-name", "items", "--experiment-name", "exp",
        "--embedding-space-name", "c", check=True)
    import spacelens

    vec, _ = spacelens.load_space("c")
    np.testing.assert_allclose(vec, seeded.vectors + 1)


def test_rm_refuses_dependents_then_cascades(cli, home, seeded):
    before = snapshot(home)
    r = cli("rm", "dataset", "items")
    assert r.code == 1 and "space 'a'" in r.err and "--cascade" in r.err
    assert snapshot(home) == before
    r = cli("rm", "dataset", "items", "--cascade", "--json", check=True)
    assert r.json()["removed"] == ["space a", "dataset items"]
    assert cli("ls", "spaces", "--json", check=True).json() == []
    assert list((home / "objects").iterdir()) == []  # no file left behind
    cli("rm", "experiment", "exp", check=True)
    assert cli("ls", "experiments", "--json").json() == []


def test_zero_vectors_are_accepted_with_a_warning(cli, home, labeled, tmp_path):
    v = labeled.vectors.copy()
    v[[3, 7]] = 0
    np.save(tmp_path / "z.npy", v)
    r = cli("add", "-e", tmp_path / "z.npy", "-d", labeled.csv, "--dataset-name", "items",
            "--experiment-name", "e", "--embedding-space-name", "z")
    assert r.code == 0 and "warning" in r.err and "2 of 300 vectors are all zeros" in r.err
    assert cli("show", "z", "--json").json()["stats"]["n_zero_vectors"] == 2


def test_overwrite_replaces_the_space(cli, home, seeded, tmp_path):
    np.save(tmp_path / "a2.npy", seeded.vectors * 3)
    cli("add", "-e", tmp_path / "a2.npy", "--dataset-name", "items", "--experiment-name", "exp",
        "--embedding-space-name", "a", "--overwrite", check=True)
    import spacelens

    np.testing.assert_allclose(spacelens.load_space("a")[0], seeded.vectors * 3)
    assert len(list((home / "objects").iterdir())) == 3  # table, ids, one space array


# --- bad input: exit 1, one line naming problem and fix, registry unchanged -----------------

def _bad_files(tmp_path, labeled):
    v = labeled.vectors
    cases = {}
    cases["missing file"] = (["-e", tmp_path / "nope.npy"], "does not exist")
    (tmp_path / "garbage.npy").write_bytes(b"not an npy file")
    cases["unreadable file"] = (["-e", tmp_path / "garbage.npy"], "Cannot read")
    obj = np.empty(300, dtype=object)
    obj[:] = [{"x": i} for i in range(300)]
    np.save(tmp_path / "pickled.npy", obj, allow_pickle=True)
    cases["pickled npy"] = (["-e", tmp_path / "pickled.npy"], "pickled")
    np.savez(tmp_path / "pickled.npz", embeddings=obj)
    cases["pickled npz"] = (["-e", tmp_path / "pickled.npz"], "pickled")
    np.save(tmp_path / "one_d.npy", v[:, 0])
    cases["1-D array"] = (["-e", tmp_path / "one_d.npy"], "1-D")
    np.save(tmp_path / "three_d.npy", v.reshape(300, 4, 4))
    cases["3-D array"] = (["-e", tmp_path / "three_d.npy"], "3-D")
    nan = v.copy()
    nan[17, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    cases["NaN"] = (["-e", tmp_path / "nan.npy"], "NaN or infinite values (first at row 17")
    inf = v.copy()
    inf[5, 0] = np.inf
    np.save(tmp_path / "inf.npy", inf)
    cases["inf"] = (["-e", tmp_path / "inf.npy"], "NaN or infinite")
    big = v.astype(np.float64)
    big[9, 1] = 1e300
    np.save(tmp_path / "big.npy", big)
    cases["too large for float32"] = (["-e", tmp_path / "big.npy"], "too large for float32")
    np.save(tmp_path / "short.npy", v[:299])
    cases["row count"] = (["-e", tmp_path / "short.npy"], "299 rows but dataset 'items' has 300")
    ids = labeled.table["id"].to_numpy(dtype=str).copy()
    ids[1] = ids[0]
    np.savez(tmp_path / "dup.npz", embeddings=v, ids=ids)
    cases["duplicate ids"] = (["-e", tmp_path / "dup.npz"], "duplicated")
    ids = labeled.table["id"].to_numpy(dtype=str).copy()
    ids[4] = "stranger"
    np.savez(tmp_path / "absent.npz", embeddings=v, ids=ids)
    cases["ids absent from dataset"] = (["-e", tmp_path / "absent.npz"], "'stranger'")
    np.save(tmp_path / "ok.npy", v)
    cases["id field not a column"] = (["-e", tmp_path / "ok.npy", "--id-field", "nope",
                                       "-d", labeled.csv, "--dataset-name", "other"], "not a column")
    cases["name taken"] = (["-e", tmp_path / "ok.npy", "--embedding-space-name", "a"], "already exists")
    cases["slash in name"] = (["-e", tmp_path / "ok.npy", "--embedding-space-name", "x/../y"], "path separators")
    cases["control char in name"] = (["-e", tmp_path / "ok.npy", "--embedding-space-name", "x\ty"],
                                     "control characters")
    cases["unknown dataset"] = (["-e", tmp_path / "ok.npy", "--dataset-name", "ghost"], "not registered")
    return cases


BAD = ["missing file", "unreadable file", "pickled npy", "pickled npz", "1-D array", "3-D array", "NaN",
       "inf", "too large for float32", "row count", "duplicate ids", "ids absent from dataset",
       "id field not a column", "name taken", "slash in name", "control char in name", "unknown dataset"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_one_clear_line_and_registry_unchanged(case, cli, home, seeded, tmp_path):
    args, expected = _bad_files(tmp_path, seeded)[case]
    defaults = {"--dataset-name": "items", "--experiment-name": "exp2", "--embedding-space-name": "new"}
    for flag, value in defaults.items():
        if flag not in args:
            args += [flag, value]
    before = snapshot(home)
    r = cli("add", *args)
    assert r.code == 1, r
    assert expected in r.err, r.err
    lines = [ln for ln in r.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.err  # one line, no traceback
    assert "Traceback" not in r.err and r.out == ""
    assert snapshot(home) == before
    assert list((home / "tmp").iterdir()) == []


def test_duplicate_dataset_ids_refused(cli, home, tmp_path, labeled):
    t = labeled.table.copy()
    t.loc[5, "id"] = t.loc[6, "id"]
    t.to_csv(tmp_path / "dup.csv", index=False)
    np.save(tmp_path / "ok.npy", labeled.vectors)
    r = cli("add", "-e", tmp_path / "ok.npy", "-d", tmp_path / "dup.csv", "--dataset-name", "d",
            "--experiment-name", "e", "--embedding-space-name", "s")
    assert r.code == 1 and "duplicated" in r.err and snapshot(home) in (None, ([], []))  or \
        snapshot(home)[0]["spaces"] == []


def test_unknown_names_in_show_and_rm(cli, home, seeded):
    r = cli("show", "aa")
    assert r.code == 1 and "Nothing named 'aa'" in r.err and "'a'" in r.err  # close-match hint
    r = cli("rm", "space", "zz")
    assert r.code == 1 and "No space named 'zz'" in r.err
    r = cli("rm", "thing", "a")
    assert r.code == 1 and "Unknown kind" in r.err


def test_no_unpickling_ever(tmp_path, monkeypatch):
    """A malicious pickle is refused without being executed."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = np.empty(1, dtype=object)
    payload[0] = Evil()
    with open(tmp_path / "evil.npy", "wb") as f:
        np.lib.format.write_array(f, payload, allow_pickle=True)
    from spacelens.errors import SpacelensError
    from spacelens.io import read_embeddings

    with pytest.raises(SpacelensError, match="pickled"):
        read_embeddings(tmp_path / "evil.npy")
    assert not marker.exists()


def test_experiment_params_and_train_dataset(cli, home, seeded, tmp_path):
    np.save(tmp_path / "p.npy", seeded.vectors)
    cli("add", "-e", tmp_path / "p.npy", "--dataset-name", "items", "--experiment-name", "tuned",
        "--embedding-space-name", "p", "--params", '{"loss": "triplet", "lr": 0.001}',
        "--train-dataset", "items", check=True)
    exp = cli("show", "tuned", "--json", check=True).json()
    assert exp["params"] == {"loss": "triplet", "lr": 0.001} and exp["train_dataset"] == "items"
    assert exp["spaces"] == ["p"]
    before = snapshot(home)
    r = cli("add", "-e", tmp_path / "p.npy", "--dataset-name", "items", "--experiment-name", "t2",
            "--embedding-space-name", "q", "--params", "{lr: 1}")
    assert r.code == 1 and "not valid JSON" in r.err and snapshot(home) == before
    # the dataset now has a dependent experiment as well as spaces
    r = cli("rm", "dataset", "items")
    assert r.code == 1 and "experiment 'tuned' (trained on it)" in r.err
