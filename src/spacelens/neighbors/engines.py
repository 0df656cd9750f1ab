"""Engines by name: ``get_engine("auto" | "exact" | "hnsw" | "ivf" | "dask", **params)``.

The dask engine lives in its own module and needs the optional ``dask`` extra; it is
imported only when asked for, so the core never imports dask.
"""

from __future__ import annotations

import inspect

from spacelens.errors import SpacelensError
from spacelens.neighbors.approx import HnswEngine, IvfEngine
from spacelens.neighbors.auto import AutoEngine
from spacelens.neighbors.base import Engine
from spacelens.neighbors.exact import ExactEngine

ENGINES = {"auto": AutoEngine, "exact": ExactEngine, "hnsw": HnswEngine, "ivf": IvfEngine}
ENGINE_NAMES = ("auto", "exact", "hnsw", "ivf", "dask")
EXACT_ENGINES = ("exact", "dask")   # engines whose graphs hold every true neighbour


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


def get_engine(name="exact", **params) -> Engine:
    """An engine instance; ``params`` are its settings (e.g. ``recall``, ``nlist``, ``nprobe``, ``M``).

    An :class:`Engine` instance is returned as it is (then ``params`` must be empty).
    """
    if isinstance(name, Engine):
        if params:
            raise SpacelensError(f"Settings {sorted(params)} given with an engine instance",
                                 "Pass settings to the engine's constructor instead")
        return name
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


def engine_params(engine: Engine) -> dict:
    """The settings of ``engine`` that change its results (the cache key)."""
    return dict(engine.params)


def describe_engines() -> dict[str, str]:
    """Each engine's name and what it does (for --help and listings); dask only when installed."""
    out = {name: cls.summary for name, cls in ENGINES.items()}
    try:
        out["dask"] = _dask_engine_class().summary
    except SpacelensError:
        pass
    return out
