"""The embedded registry: SQLite metadata plus atomic ``.npy``/Parquet files in one folder."""

from spacelens.registry.core import (
    KIND_ALIASES,
    KINDS,
    PrunedError,
    Registry,
    RegistryBusyError,
    StaleResultError,
    canonical,
    default_home,
    now_iso,
)
from spacelens.registry.names import validate_name
from spacelens.registry.records import Artifact, Dataset, Experiment, NewDataset, NewSpace, Space, record_dict

__all__ = ["KINDS", "KIND_ALIASES", "Artifact", "Dataset", "Experiment", "NewDataset", "NewSpace", "PrunedError", "Registry",
           "RegistryBusyError", "Space", "StaleResultError", "canonical", "default_home", "now_iso",
           "record_dict", "validate_name"]
