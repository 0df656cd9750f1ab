"""Nearest neighbours: one interface, several engines (exact, hnsw, ivf, dask), cached graphs.

>>> g = knn_graph(reg, "run1.val", k=10)            # doctest: +SKIP
>>> g.indices[0], g.distances[0]                      # doctest: +SKIP
"""

from spacelens.neighbors.approx import HnswEngine, IvfEngine, measure_recall
from spacelens.neighbors.base import METRICS, Engine, KnnGraph
from spacelens.neighbors.cache import cached_graph, knn_graph
from spacelens.neighbors.engines import ENGINE_NAMES, engine_params, get_engine
from spacelens.neighbors.exact import ExactEngine, check_k, exact_search
from spacelens.neighbors.metrics import pair_distances, prepare
from spacelens.neighbors.search import build_index, delete_index, list_indexes, load_index, query

__all__ = ["ENGINE_NAMES", "METRICS", "Engine", "ExactEngine", "HnswEngine", "IvfEngine", "KnnGraph",
           "cached_graph", "check_k", "engine_params", "exact_search", "get_engine", "knn_graph",
           "measure_recall", "pair_distances", "prepare", "build_index", "delete_index", "list_indexes",
           "load_index", "query"]
