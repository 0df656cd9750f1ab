"""Reading and validating user files: embeddings and dataset tables."""

from spacelens.io.datasets import DatasetSource, read_dataset
from spacelens.io.embeddings import EmbeddingSource, read_embeddings

__all__ = ["DatasetSource", "EmbeddingSource", "read_dataset", "read_embeddings"]
