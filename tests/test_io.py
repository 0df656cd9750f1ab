"""Readers: every supported layout gives the same matrix and ids; bad layouts are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spacelens.errors import SpacelensError
from spacelens.io import read_dataset, read_embeddings
from spacelens.registry.names import validate_name

V = np.arange(12, dtype=np.float64).reshape(4, 3)
IDS = np.array(["a", "b", "c", "d"])


def test_npy_is_memory_mapped(tmp_path):
    np.save(tmp_path / "e.npy", V)
    src = read_embeddings(tmp_path / "e.npy")
    assert isinstance(src.array, np.memmap) and src.ids is None
    np.testing.assert_array_equal(src.array, V)


def test_npz_single_array_and_named_arrays(tmp_path):
    np.savez(tmp_path / "one.npz", V)
    np.testing.assert_array_equal(read_embeddings(tmp_path / "one.npz").array, V)
    np.savez(tmp_path / "named.npz", embeddings=V, ids=np.array([10, 11, 12, 13]))
    src = read_embeddings(tmp_path / "named.npz")
    assert src.ids.tolist() == ["10", "11", "12", "13"]
    np.savez(tmp_path / "many.npz", a=V, b=V)
    with pytest.raises(SpacelensError, match="several arrays"):
        read_embeddings(tmp_path / "many.npz")


def test_parquet_list_and_numeric_columns(tmp_path):
    pd.DataFrame({"id": IDS, "emb": list(V)}).to_parquet(tmp_path / "l.parquet")
    pd.DataFrame({"key": IDS, "x": V[:, 0], "y": V[:, 1], "z": V[:, 2]}).to_parquet(tmp_path / "n.parquet")
    a = read_embeddings(tmp_path / "l.parquet")
    b = read_embeddings(tmp_path / "n.parquet", id_field="key")
    for src in (a, b):
        np.testing.assert_array_equal(src.array, V)
        assert src.ids.tolist() == IDS.tolist()
    pd.DataFrame({"id": IDS, "emb": [[1.0], [1.0, 2.0], [1.0], [1.0]]}).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(SpacelensError, match="different lengths"):
        read_embeddings(tmp_path / "r.parquet")


def test_torch_like_tensors_are_accepted():
    class FakeTensor:
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return V

    np.testing.assert_array_equal(read_embeddings(FakeTensor()).array, V)


def test_csv_ids_keep_leading_zeros_and_row_number_default(tmp_path):
    (tmp_path / "d.csv").write_text("id,label\n007,x\n010,y\n")
    ds = read_dataset(tmp_path / "d.csv")
    assert ds.ids.tolist() == ["007", "010"] and ds.id_field == "id"
    (tmp_path / "n.csv").write_text("name,label\np,x\nq,y\n")
    ds = read_dataset(tmp_path / "n.csv")
    assert ds.ids.tolist() == ["0", "1"] and ds.id_field == "_row"
    ds = read_dataset(tmp_path / "n.csv", id_field="name")
    assert ds.ids.tolist() == ["p", "q"]


def test_missing_ids_refused(tmp_path):
    pd.DataFrame({"id": ["a", None, "c"]}).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(SpacelensError, match="missing value at row 1"):
        read_dataset(tmp_path / "m.parquet")


@pytest.mark.parametrize("name", ["ok-name", "triplet.epoch_3.val", "a:b@c", "ünïcode"])
def test_good_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", " x", "a/b", "a\\b", "..", "a\nb", "a\x00b", "x" * 201])
def test_bad_names(name):
    with pytest.raises(SpacelensError):
        validate_name(name)
