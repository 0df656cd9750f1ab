"""The kNN graph type and the engine interface every engine implements.

A kNN graph is two arrays over the rows of one space: ``indices`` (int32, n x k) and
``distances`` (float32, n x k), self excluded, sorted by increasing distance, ties broken
by lower row index. Distances by metric:

- ``cosine``: 1 - cos(a, b), computed as 1 - <a/|a|, b/|b|>. A zero vector has no direction:
  it is left as zero after normalisation, so its cosine with anything is 0 (distance 1).
- ``l2``: squared euclidean distance |a - b|^2 (faiss's convention; same order as euclidean).
- ``dot``: negative inner product -<a, b> (so smaller is nearer, as for the others).

The order is exact for every engine, ties included: candidates whose float32 (faiss)
distances are within faiss's error bound of each other are re-computed in float64 from the
vectors as stored (:func:`spacelens.neighbors.metrics.pair_distances`) and rounded to
float32, so rows that are equally near (duplicates, or exact ties such as cos = 2/sqrt(5)
from two different integer vectors) get equal distances and "ties broken by lower row
index" holds for the stored values, including at the k-th neighbour (the exact engine checks
the boundary and widens its search where a tie might continue past it). The exact engine
keeps faiss's float32 value where no other candidate is that close (within
:func:`~spacelens.neighbors.metrics.search_tolerance` of the true one); the dask and
approximate engines re-compute every distance. So engines agree on the neighbours and their
order, and on distances to faiss's float32 rounding (typically 1e-7 to 1e-5 relative, never
more than the bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

METRICS = ("cosine", "l2", "dot")


@dataclass
class KnnGraph:
    indices: np.ndarray    # int32 (n, k), row numbers within the space
    distances: np.ndarray  # float32 (n, k), increasing along each row
    metric: str
    engine: str

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def head(self, k: int) -> "KnnGraph":
        """The first ``k`` neighbours (a graph built for k_max serves every k <= k_max)."""
        return KnnGraph(self.indices[:, :k], self.distances[:, :k], self.metric, self.engine)


class Engine(Protocol):
    """What every kNN engine (exact, hnsw, ivf, dask) provides."""

    name: str

    def search(self, queries: np.ndarray, base: np.ndarray, k: int, metric: str,
               query_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of ``base`` for each query: ``(indices int32, distances float32)``.

        ``query_rows[i]``, when given, is the row of ``base`` that query i *is*; it is
        excluded from query i's neighbours (self exclusion).
        """
        ...
