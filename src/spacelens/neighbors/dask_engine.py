"""Former home of the Dask engine, kept so that ``spacelens.neighbors.dask_engine`` imports as before.

The engine now lives in the package :mod:`spacelens.neighbors.dask` (sources, topk, engine).
"""

from spacelens.neighbors.dask.engine import LOCAL, SCATTER_FIX, DaskEngine, _check_scheduler  # noqa: F401
from spacelens.neighbors.dask.sources import MemSource, NpySource, _probe, npy_source, read_block  # noqa: F401
from spacelens.neighbors.dask.topk import PAD, _side, block_topk, merge_topk, topk_task  # noqa: F401
