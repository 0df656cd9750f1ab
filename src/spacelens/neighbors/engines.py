"""Engines by name: ``get_engine("exact" | "hnsw" | "ivf" | "dask", **params)``.

The dask engine lives in its own module and needs the optional ``dask`` extra; it is
imported only when asked for, so the core never imports dask.
"""

from __future__ import annotations

import inspect

from spacelens.errors import SpacelensError
from spacelens.neighbors.approx import HnswEngine, IvfEngine
from spacelens.neighbors.exact import ExactEngine

ENGINES = {"exact": ExactEngine, "hnsw": HnswEngine, "ivf": IvfEngine}
ENGINE_NAMES = ("exact", "hnsw", "ivf", "dask")


def _dask_engine_class():
    try:
        from spacelens.neighbors.dask_engine import DaskEngine
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("dask", "distributed"):
            raise SpacelensError("The dask engine needs Dask, which is not installed",
                                 "Install it with: pip install 'spacelens[dask]'") from None
        if exc.name == "spacelens.neighbors.dask_engine":
            raise SpacelensError("The dask engine is not available in this installation of spacelens",
                                 "Use engine 'exact', 'hnsw' or 'ivf'") from None
        raise
    return DaskEngine


def get_engine(name: str = "exact", **params):
    """An engine instance; ``params`` are its settings (e.g. ``M``, ``ef_search``, ``nlist``, ``nprobe``)."""
    if name == "dask":
        cls = _dask_engine_class()
    elif name in ENGINES:
        cls = ENGINES[name]
    else:
        raise SpacelensError(f"Unknown kNN engine {name!r}", f"Use one of: {', '.join(ENGINE_NAMES)}")
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not has_var_kw:
        raise SpacelensError(f"Engine {name!r} has no parameter {', '.join(map(repr, unknown))}",
                             f"Its parameters are: {', '.join(accepted) or 'none'}")
    return cls(**params)


def engine_params(engine) -> dict:
    """The settings of ``engine`` that change its results (the cache key)."""
    params = getattr(engine, "params", None)
    return dict(params) if isinstance(params, dict) else {}
