"""Nearest neighbours: one interface, several engines (auto, exact, ivf, hnsw, dask), cached graphs.

>>> g = knn_graph(reg, "run1.val", k=10)            # doctest: +SKIP
>>> g.indices[0], g.distances[0]                      # doctest: +SKIP
"""

from spacelens.neighbors.approx import HnswEngine, IvfEngine
from spacelens.neighbors.auto import AutoEngine
from spacelens.neighbors.base import METRICS, Engine, KnnGraph
from spacelens.neighbors.cache import cached_graph, knn_graph
from spacelens.neighbors.engines import ENGINE_NAMES, describe_engines, engine_params, get_engine, measure_recall
from spacelens.neighbors.recall import recall_at
from spacelens.neighbors.exact import ExactEngine, check_k, exact_search
from spacelens.neighbors.metrics import pair_distances, prepare
from spacelens.neighbors.search import build_index, delete_index, list_indexes, load_index, query

__all__ = ["ENGINE_NAMES", "METRICS", "AutoEngine", "Engine", "ExactEngine", "describe_engines", "recall_at", "HnswEngine", "IvfEngine", "KnnGraph",
           "cached_graph", "check_k", "engine_params", "exact_search", "get_engine", "knn_graph",
           "measure_recall", "pair_distances", "prepare", "build_index", "delete_index", "list_indexes",
           "load_index", "query"]
