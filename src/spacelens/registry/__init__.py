"""The embedded registry: SQLite metadata plus atomic ``.npy``/Parquet files in one folder."""

from spacelens.registry.core import (
    KIND_ALIASES, KINDS, Artifact, Dataset, Experiment, Registry, Space, canonical, default_home,
    now_iso, record_dict,
)
from spacelens.registry.names import validate_name

__all__ = ["KINDS", "KIND_ALIASES", "Artifact", "Dataset", "Experiment", "Registry", "Space",
           "canonical", "default_home", "now_iso", "record_dict", "validate_name"]
