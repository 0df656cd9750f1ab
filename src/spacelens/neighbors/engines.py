"""Engines by name: ``get_engine("auto" | "exact" | "hnsw" | "ivf" | "dask", **params)``.

The one table of engines: each is an :class:`Engine` subclass in a file of its own, and one
:class:`EngineInfo` line here says what the rest of spacelens needs to know about it without
importing it (whether its graphs hold every true neighbour, whether it takes a recall target,
whether it can be stored as a named search index). Compare, evaluate, the graph cache, the
leaderboard, search and the CLI read these properties, never engine names; adding an engine
is its file plus its line here.

Engine classes are imported only when asked for, so the core never imports dask.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.neighbors.base import Engine
from spacelens.neighbors.exact import prepare_search
from spacelens.neighbors.recall import ExactSample


@dataclass(frozen=True)
class EngineInfo:
    """What spacelens knows about an engine before importing it.

    ``exact``: its graphs hold every true neighbour (results interchangeable with exact
    search); ``recall_target``: it takes ``recall=`` and tunes itself to reach it;
    ``index``: it can be built and stored as a named search index (``build_index``);
    ``extra``: the pip extra it needs, if any.
    """

    name: str
    target: str          # "module:Class"
    exact: bool = False
    recall_target: bool = False
    index: bool = False
    extra: str | None = None

    def load(self) -> type[Engine]:
        module, cls = self.target.split(":")
        try:
            return getattr(importlib.import_module(module), cls)
        except ModuleNotFoundError as exc:
            if self.extra and exc.name and exc.name.split(".")[0] in ("dask", "distributed"):
                raise SpacelensError(f"The {self.name} engine needs Dask, which is not installed",
                                     f"Install it with: pip install 'spacelens[{self.extra}]'") from None
            if exc.name == module:
                raise SpacelensError(f"The {self.name} engine is not available in this installation of spacelens",
                                     "Use engine 'exact', 'hnsw' or 'ivf'") from None
            raise


TABLE: tuple[EngineInfo, ...] = (
    EngineInfo("auto", "spacelens.neighbors.auto:AutoEngine", recall_target=True),
    EngineInfo("exact", "spacelens.neighbors.exact:ExactEngine", exact=True, index=True),
    EngineInfo("hnsw", "spacelens.neighbors.approx:HnswEngine", recall_target=True, index=True),
    EngineInfo("ivf", "spacelens.neighbors.approx:IvfEngine", recall_target=True, index=True),
    EngineInfo("dask", "spacelens.neighbors.dask_engine:DaskEngine", exact=True, extra="dask"),
)
_INFO = {e.name: e for e in TABLE}

ENGINE_NAMES = tuple(e.name for e in TABLE)
EXACT_ENGINES = tuple(e.name for e in TABLE if e.exact)            # graphs hold every true neighbour
RECALL_ENGINES = tuple(e.name for e in TABLE if e.recall_target)   # tuned to a recall target
INDEX_MODELS = tuple(e.name for e in TABLE if e.index)             # storable as a named index
APPROX_DEFAULT = "ivf"   # what ``approx=True`` asks for


def info(name: str) -> EngineInfo:
    """The table line of engine ``name`` (one clear error for an unknown name)."""
    try:
        return _INFO[name]
    except KeyError:
        raise SpacelensError(f"Unknown kNN engine {name!r}", f"Use one of: {', '.join(ENGINE_NAMES)}") from None


def is_exact(engine) -> bool:
    """Whether ``engine`` (a name, an instance or None) gives every true neighbour."""
    name = engine.name if isinstance(engine, Engine) else engine
    return name in EXACT_ENGINES


def engine_class(name: str) -> type[Engine]:
    return info(name).load()


def get_engine(name="exact", **params) -> Engine:
    """An engine instance; ``params`` are its settings (e.g. ``recall``, ``nlist``, ``nprobe``, ``M``).

    An :class:`Engine` instance is returned as it is (then ``params`` must be empty).
    """
    if isinstance(name, Engine):
        if params:
            raise SpacelensError(f"Settings {sorted(params)} given with an engine instance",
                                 "Pass settings to the engine's constructor instead")
        return name
    cls = engine_class(name)
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not has_var_kw:
        raise SpacelensError(f"Engine {name!r} has no parameter {', '.join(map(repr, unknown))}",
                             f"Its parameters are: {', '.join(accepted) or 'none'}")
    return cls(**params)


def engine_params(engine: Engine) -> dict:
    """The settings of ``engine`` that change its results (the cache key)."""
    return dict(engine.params)


def describe_engines() -> dict[str, str]:
    """Each engine's name and what it does (for --help and listings); dask only when installed."""
    out = {}
    for e in TABLE:
        try:
            out[e.name] = e.load().summary
        except SpacelensError:
            pass
    return out


def measure_recall(vectors, engine="hnsw", k: int = 10, metric: str = "cosine", n_queries: int = 1000,
                   seed: int = 0, graph=None, **engine_params) -> float:
    """Recall@k of an engine against exact search, on ``n_queries`` random rows of ``vectors``.

    Each sampled row queries all rows (self excluded). A returned neighbour counts as found
    when its exact distance is within the exact k-th distance, so an equally near row picked
    instead of a tied one is not a miss (:mod:`spacelens.neighbors.recall`). Pass ``graph`` (a
    :class:`KnnGraph` the engine built for all rows) to score it instead of searching again.
    """
    n = len(vectors)
    q, b, rows, k = prepare_search(vectors, vectors, k, metric, np.arange(n))
    ref = ExactSample.of(q, b, k, metric, rows, n_queries, seed)
    if graph is not None:
        if len(graph.indices) != n or graph.k < k:
            raise SpacelensError("The graph does not match the vectors or has fewer than k neighbours",
                                 "Pass the graph built for these vectors with k_max >= k")
        got = np.asarray(graph.indices[ref.sample, :k])
    else:
        eng = get_engine(engine, **engine_params) if isinstance(engine, str) else engine
        got, _ = eng.search(np.asarray(vectors[ref.sample]), vectors, k, metric, query_rows=ref.sample)
    return float(ref.per_query(q, b, got, metric).mean())
