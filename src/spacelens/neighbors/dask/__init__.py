"""Exact kNN on a Dask cluster: row blocks searched by faiss on the workers, merged in a tree.

Past one machine, the N x N search is split into row blocks: task (i, j) finds the top k of
query block i among base block j (faiss ``knn``, the kernel of ``IndexFlatIP``/``IndexFlatL2``,
on the prepared blocks), re-computes its candidates' distances exactly (float64, rounded to
float32, :func:`~spacelens.neighbors.metrics.pair_distances`) and returns them with *global*
row ids; for each query block a binary tree of merge tasks keeps the best k of two lists by
(distance, row). Distances come from the exact engine's own code (``Side.of``, float64
``pair_distances`` from the raw vectors) and the tie rule is the same, so both engines return
the same ids and the same float32 distances. Workers need spacelens installed (same version).

How the data reaches the workers (no N x d array ever goes through the scheduler):

- a registry memory map (``reg.load_vectors``), or a path / fsspec URL of an ``.npy`` file:
  each task reads just its two blocks (``np.load(mmap_mode="r")`` for paths, byte ranges through
  fsspec for URLs such as ``s3://...``). The file must be readable by the workers (shared
  storage); when a probe shows it is not, blocks are sent from here instead, with a warning.
- an in-memory array: written to a temporary ``.npy`` that the engine's own local cluster reads;
  with a remote scheduler, blocks are scattered to the workers (``staging="scatter"``), or
  written to ``staging=<shared folder or URL>`` and read from there.

Tasks read their inputs from files, so a task lost with a killed worker is simply run again
by Dask on another worker (``retries`` covers tasks that raise). If the run cannot finish (too
many worker deaths, a task error, no workers left, scattered blocks lost with their worker)
:meth:`DaskEngine.search` raises a :class:`SpacelensError` and returns nothing, so
``knn_graph`` writes nothing.

The package, by concern: :mod:`~spacelens.neighbors.dask.sources` (where the vectors are and
how tasks read them), :mod:`~spacelens.neighbors.dask.topk` (the work of one task and the
merge), :mod:`~spacelens.neighbors.dask.engine` (the cluster, submission, progress, failures).
Nothing here imports Dask at import time.
"""

from spacelens.neighbors.dask.engine import DaskEngine

__all__ = ["DaskEngine"]
