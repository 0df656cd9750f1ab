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

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

METRICS = ("cosine", "l2", "dot")


@dataclass
class KnnGraph:
    """The ``k`` nearest other rows of every row of a space; ``info`` says how good it is.

    ``info`` (empty for an exact graph) holds what an approximate engine measured about the
    graph, e.g. ``info["recall"]``: recall against exact neighbours on a random sample of
    rows, with its 95% interval (see :mod:`spacelens.neighbors.targeted`). Every figure
    built on an approximate graph should be reported beside it.
    """

    indices: np.ndarray    # int32 (n, k), row numbers within the space
    distances: np.ndarray  # float32 (n, k), increasing along each row
    metric: str
    engine: str
    info: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    @property
    def exact(self) -> bool:
        return not self.info.get("approximate", False)

    def head(self, k: int) -> "KnnGraph":
        """The first ``k`` neighbours (a graph built for k_max serves every k <= k_max)."""
        return KnnGraph(self.indices[:, :k], self.distances[:, :k], self.metric, self.engine, self.info)


class Engine(ABC):
    """What every kNN engine (exact, ivf, hnsw, dask, auto) provides.

    - ``name``: how users ask for it (``get_engine(name)``, ``--engine``).
    - ``approximate``: whether it may miss true neighbours (then its graphs carry a recall).
    - :attr:`params`: the settings that change its results (part of a cached graph's key);
      :attr:`settings`: all of its settings (for ``repr`` and messages).
    - :attr:`description`: one line saying what it does, with its settings.
    - :meth:`estimate_seconds`: the predicted time of a search on this machine, or None.
    - :meth:`search`: k nearest rows of a base for each query; :meth:`build_graph`: the kNN
      graph of a space (self excluded), which an engine may do better than a plain search
      (measure its recall, tune its effort).
    """

    name: str = "engine"
    approximate: bool = False
    summary: str = "kNN engine"   # what the engine is, without its settings

    @property
    def params(self) -> dict:
        """Settings that change results (the cache key); none for an exact engine."""
        return {}

    @property
    def settings(self) -> dict:
        """Every setting, including those that change only speed."""
        return self.params

    @property
    def description(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.settings.items() if v is not None)
        return f"{self.name}: {self.summary}" + (f" ({extra})" if extra else "")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"

    def estimate_seconds(self, n_queries: int, n_base: int, dim: int, k: int) -> float | None:
        """Predicted seconds of :meth:`search` on this machine (None: no model)."""
        return None

    @abstractmethod
    def search(self, queries, base, k: int, metric: str, query_rows=None,
               *, description: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of ``base`` for each query: ``(indices int32, distances float32)``.

        ``query_rows[i]``, when given, is the row of ``base`` that query i *is*; it is
        excluded from query i's neighbours (self exclusion). ``description`` labels the
        progress bar.
        """

    def build_graph(self, vectors, k: int, metric: str, *, description: str | None = None) -> KnnGraph:
        """The kNN graph of ``vectors`` (each row's ``k`` nearest other rows)."""
        idx, dist = self.search(vectors, vectors, k, metric, query_rows=np.arange(len(vectors)),
                                description=description)
        info = {"approximate": True} if self.approximate else {}
        return KnnGraph(np.ascontiguousarray(idx, dtype=np.int32), np.ascontiguousarray(dist, dtype=np.float32),
                        metric, self.name, info)
