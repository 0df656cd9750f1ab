"""Readers for dataset metadata tables (CSV, Parquet, or a pandas DataFrame).

A dataset is a table with one row per item and an id column. Ids are read as strings
(so '007' stays '007'); when no id field is given and there is no ``id`` column, the row
number is the id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.io.embeddings import check_readable, normalize_ids

if TYPE_CHECKING:
    import pandas as pd

DATASET_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
ROW_NUMBER_ID = "_row"  # id_field recorded when items are identified by row number


@dataclass
class DatasetSource:
    table: "pd.DataFrame"
    ids: np.ndarray  # str, unique
    id_field: str
    path: str | None


def read_dataset(source, id_field: str | None = None) -> DatasetSource:
    """Read a metadata table and its ids; errors name the fix (e.g. the available columns)."""
    import pandas as pd

    path = None
    if isinstance(source, pd.DataFrame):
        table = source.reset_index(drop=True)
    elif isinstance(source, (str, os.PathLike)):
        p = check_readable(source, "Dataset")
        path = str(p)
        suffix = p.suffix.lower()
        try:
            if suffix in (".csv", ".tsv"):
                sep = "\t" if suffix == ".tsv" else ","
                header = pd.read_csv(p, sep=sep, nrows=0).columns
                key = id_field if id_field in header else ("id" if "id" in header else None)
                table = pd.read_csv(p, sep=sep, dtype={key: str} if key else None)
            elif suffix in (".parquet", ".pq"):
                table = pd.read_parquet(p)
            else:
                raise SpacelensError(
                    f"Unsupported dataset file type {suffix or '(none)'!r} for {str(p)!r}",
                    f"Use one of {', '.join(DATASET_SUFFIXES)}",
                )
        except SpacelensError:
            raise
        except Exception as exc:
            raise SpacelensError(f"Cannot read dataset {str(p)!r} ({type(exc).__name__}: {exc})",
                                 "Check that it is a valid CSV or Parquet table") from None
    else:
        raise SpacelensError(f"Cannot read a dataset from {type(source).__name__}",
                             "Pass a CSV/Parquet path or a pandas DataFrame")
    if len(table) == 0:
        raise SpacelensError(f"The dataset {path or ''} has no rows".replace("  ", " "), "Pass a table with one row per item")
    table.columns = [str(c) for c in table.columns]
    if id_field is None:
        id_field = "id" if "id" in table.columns else ROW_NUMBER_ID
    if id_field == ROW_NUMBER_ID:
        ids = np.arange(len(table)).astype(str)
    elif id_field not in table.columns:
        cols = ", ".join(list(table.columns)[:12])
        raise SpacelensError(
            f"The id field {id_field!r} is not a column of the dataset (columns: {cols})",
            "Pass --id-field with one of those columns",
        )
    else:
        ids = normalize_ids(table[id_field].to_numpy(), what=f"dataset ids in column {id_field!r}")
    return DatasetSource(table, ids, id_field, path)
