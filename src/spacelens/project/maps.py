"""The 2D maps themselves: PCA, UMAP from a precomputed kNN graph, and PCA -> UMAP.

Pure functions on arrays (no registry): :mod:`spacelens.project.core` decides what to compute
and caches it. UMAP never searches for neighbours here: it is handed a kNN graph (the space's
cached exact graph, or one computed on the PCA components), which is what makes it cheaper
than umap-learn's own pipeline.

umap-learn and numba are imported lazily (about 2 s) and only for UMAP maps.

A UMAP map reports its progress through :mod:`spacelens.progress` in two stages: building
umap's fuzzy graph and initial layout (a named step), then the layout epochs (percent done and
time left), which is where nearly all of its time goes at scale.

Large maps (:data:`LARGE_UMAP` items and more) are laid out as umap-learn offers for speed,
each through its own parameters: the initial layout from PCA (``init="pca"``) instead of the
spectral one, whose eigensolver took ~10 min at 1M items here (the whole 100k map: 40 s), and,
with ``layout="auto"``, the epochs in parallel on all cores (umap's unseeded mode; 2.9x faster
at 1M on 2 cores: 1.3 s an epoch against 3.8) at the price of bit-for-bit reproducibility.
``layout="seeded"`` keeps the single-threaded, reproducible epochs at any size.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from spacelens.errors import SpacelensError

PCA_UMAP_DIMS = 50
PCA_UMAP_EXACT_MAX = 20_000
MIN_DIST = 0.1
LARGE_UMAP = 200_000   # from this many items: PCA initial layout and (layout="auto") parallel epochs
LAYOUTS = ("auto", "seeded", "parallel")

# umap distance names for our metrics (our l2 graph holds squared distances: sqrt them).
UMAP_METRIC = {"cosine": "cosine", "l2": "euclidean"}


def pca_map(x: np.ndarray, n_components: int = 2, seed: int = 0) -> np.ndarray:
    """The first ``n_components`` principal components of ``x`` (scikit-learn's PCA, its signs)."""
    from sklearn.decomposition import PCA

    n, d = x.shape
    m = min(n_components, d, n)
    z = PCA(n_components=m, random_state=seed).fit_transform(x).astype(np.float32)
    if m < n_components:  # a 1-D space (or a single item) still gets a 2-D map
        z = np.hstack([z, np.zeros((n, n_components - m), np.float32)])
    return np.ascontiguousarray(z)


def _enable_numba_cache() -> None:
    """Make umap's numba kernels cache their machine code on disk (once per machine).

    umap-learn 0.5 compiles its kernels without ``cache=True`` (only pynndescent caches), so
    every new process pays ~5-8 s of JIT for the same code. We switch on numba's on-disk cache
    for the three kernels a seeded fit from a precomputed graph runs. Numba keys the cache by
    the function's bytecode, signature and CPU, and stores it next to umap's sources when that
    folder is writable, else in the user cache (or in $NUMBA_CACHE_DIR when set). Only the
    serial layout kernel is cached: the parallel twin shares its Python function, hence its
    cache file, and a seeded fit never uses it.
    """
    import umap.layouts as layouts
    import umap.umap_ as umap_

    for fn in (umap_.smooth_knn_dist, umap_.compute_membership_strengths,
               layouts._nb_optimize_layout_euclidean_single_epoch):
        if getattr(fn, "_cache", None) is not None and type(fn._cache).__name__ != "FunctionCache":
            try:
                fn.enable_caching()
            except Exception:  # a source-less install: just compile each time
                pass


def umap_settings(n: int, layout: str = "auto") -> dict:
    """How a UMAP map of ``n`` items is laid out: ``{"init": "spectral"|"pca", "layout":
    "seeded"|"parallel"}`` (see the module docstring for why large maps differ)."""
    if layout not in LAYOUTS:
        raise SpacelensError(f"Unknown UMAP layout {layout!r}",
                             "Use auto (parallel epochs from 200,000 items), seeded (reproducible) or parallel")
    large = n >= LARGE_UMAP
    chosen = layout if layout != "auto" else "parallel" if large else "seeded"
    return {"init": "pca" if large else "spectral", "layout": chosen}


def _umap(seed: int, n_neighbors: int, metric: str, init: str = "spectral", layout: str = "seeded", **kw):
    import umap

    _enable_numba_cache()
    # umap-learn runs its epochs in parallel only without a random_state (a seed forces one thread)
    rs = {"random_state": seed} if layout == "seeded" else {"random_state": None, "n_jobs": -1}
    return umap.UMAP(n_components=2, n_neighbors=n_neighbors, metric=metric, min_dist=MIN_DIST, init=init,
                     **rs, **kw)


def umap_input_graph(indices: np.ndarray, distances: np.ndarray, metric: str, n_neighbors: int):
    """Our kNN graph (self excluded) as umap-learn's ``precomputed_knn``.

    umap wants each item as its own first neighbour at distance 0, then ``n_neighbors - 1``
    others, as writable arrays (it marks disconnected edges in place). Cosine distances are
    1 - cos already; squared L2 becomes euclidean.
    """
    n = indices.shape[0]
    m = n_neighbors - 1
    if indices.shape[1] < m:
        raise SpacelensError(f"The kNN graph has {indices.shape[1]} neighbours per item, UMAP needs {m}",
                             "Build the graph with a larger k")
    idx = np.empty((n, n_neighbors), dtype=np.int32)
    dist = np.zeros((n, n_neighbors), dtype=np.float32)
    idx[:, 0] = np.arange(n, dtype=np.int32)
    idx[:, 1:] = indices[:, :m]
    d = np.asarray(distances[:, :m], dtype=np.float32)
    dist[:, 1:] = np.sqrt(np.maximum(d, 0)) if metric == "l2" else np.maximum(d, 0)
    return idx, dist


class _EpochCounter:
    """A write-only file that turns umap-learn's epoch bar into steps of a spacelens bar.

    umap-learn runs its layout epochs under tqdm and hands ``tqdm_kwds`` to it (the documented
    way to configure that bar); tqdm writes its line to any ``file``, and with
    ``bar_format="{n}/{total}"`` the line is just the count. So the epochs are counted through
    both libraries' public parameters, without patching either. The first line (0 of the
    total) arrives as the loop starts, i.e. once umap's graph and initial layout are built.
    An exception raised by the bar (a cancelled job) propagates out of umap's epoch loop.
    """

    _COUNT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, bar, description: str):
        self._bar, self._description = bar, description
        self._done, self.total = 0, None

    def write(self, text: str) -> int:
        found = self._COUNT.findall(text)
        if found:
            done, total = (int(v) for v in found[-1])
            if self.total is None:
                self.total = total
                self._bar.stage(self._description.format(epochs=total), total)
            if done > self._done:
                step, self._done = done - self._done, done
                self._bar.advance(step)
        return len(text)

    def flush(self) -> None:
        pass

    def tqdm_kwds(self) -> dict:
        # disable=False works without umap's verbose=True (which would also print its log);
        # miniters=1 / mininterval=0: a line at every epoch (a few hundred in all).
        return {"disable": False, "file": self, "bar_format": "{n}/{total}", "leave": False,
                "mininterval": 0, "miniters": 1}


def _epochs_countable() -> bool:
    """False in a Jupyter kernel, where ``tqdm.auto`` (umap's import) is the notebook widget,
    which ignores ``file`` and would draw a bar of its own: there the map is one named step."""
    import umap.layouts

    cls = getattr(umap.layouts, "tqdm", None)
    return isinstance(cls, type) and not any(c.__module__.startswith("tqdm.notebook") for c in cls.__mro__)


def umap_map(x: np.ndarray, indices: np.ndarray, distances: np.ndarray, metric: str,
             n_neighbors: int = 15, seed: int = 0, n_epochs: int | None = None, layout: str = "auto") -> np.ndarray:
    """UMAP layout of ``x`` from its precomputed kNN graph (``indices``/``distances`` as in
    :class:`~spacelens.neighbors.KnnGraph`, self excluded, at least ``n_neighbors - 1`` wide).

    ``n_epochs``: None lets umap-learn choose (500 up to 10,000 items, else 200). ``layout``:
    see :func:`umap_settings`. Progress: a named step for umap's graph and initial layout,
    then one step per epoch.
    """
    from spacelens.progress import progress

    if metric not in UMAP_METRIC:
        raise SpacelensError(f"UMAP maps need a distance; metric {metric!r} is not one",
                             "Use --metric cosine or --metric l2, or --method pca")
    idx, dist = umap_input_graph(indices, distances, metric, n_neighbors)
    how = umap_settings(len(x), layout)
    if how["layout"] == "parallel" and layout == "auto":
        from spacelens.progress import announce

        announce(f"UMAP of {len(x):,} items: initial layout from PCA and epochs in parallel on all cores "
                 f"(umap-learn's fast mode; the map is not bit-for-bit reproducible). For a reproducible "
                 f"map pass --layout seeded (layout='seeded'), about 3x slower")
    with progress(f"UMAP graph and initial layout ({len(x):,} items)", total=None) as bar:
        kw = {}
        if _epochs_countable():
            kw["tqdm_kwds"] = _EpochCounter(bar, "UMAP layout ({epochs} epochs)").tqdm_kwds()
        model = _umap(seed, n_neighbors, UMAP_METRIC[metric], **how, precomputed_knn=(idx, dist, None),
                      n_epochs=n_epochs, **kw)
        with warnings.catch_warnings():
            # "no NNDescent index, transform unavailable" and "random_state overrides n_jobs": expected
            warnings.simplefilter("ignore", UserWarning)
            z = model.fit_transform(x)
    return np.ascontiguousarray(z, dtype=np.float32)


def umap_own_neighbors(x: np.ndarray, metric: str = "cosine", n_neighbors: int = 15, seed: int = 0) -> np.ndarray:
    """umap-learn computing its own neighbours (pynndescent): the baseline the benchmark compares to."""
    model = _umap(seed, n_neighbors, UMAP_METRIC.get(metric, metric))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        z = model.fit_transform(x)
    return np.ascontiguousarray(z, dtype=np.float32)


def pca_reduce(x: np.ndarray, dims: int = PCA_UMAP_DIMS, seed: int = 0) -> np.ndarray:
    """``x`` on its first ``dims`` principal components (``x`` itself, centred, when it has fewer)."""
    from sklearn.decomposition import PCA

    if x.shape[1] <= dims or x.shape[0] <= dims:
        return np.ascontiguousarray(x - x.mean(axis=0, dtype=np.float64), dtype=np.float32)
    return np.ascontiguousarray(PCA(n_components=dims, random_state=seed).fit_transform(x), dtype=np.float32)


def pca_umap_engine(n: int) -> str:
    """kNN engine for the PCA components: exact up to 20k items, then faiss IVF.

    An exact self-kNN graph costs O(n^2) whatever the dimension (at 100k x 50: ~52 CPU s,
    mostly top-k selection), IVF ~9 CPU s with recall@14 0.9997 (bench/project.py).
    """
    return "exact" if n <= PCA_UMAP_EXACT_MAX else "ivf"


def pca_umap_map(x: np.ndarray, n_neighbors: int = 15, seed: int = 0, dims: int = PCA_UMAP_DIMS,
                 engine: str | None = None, layout: str = "auto") -> np.ndarray:
    """PCA to ``dims`` components, euclidean kNN there (``engine``, default :func:`pca_umap_engine`),
    then UMAP.

    ``x`` is already prepared for the space's metric (unit rows for cosine), so the PCA sees
    the geometry the metric sees; in the reduced space plain euclidean distance is used, as
    is usual for PCA -> UMAP pipelines.
    """
    from spacelens.neighbors import get_engine

    z = pca_reduce(x, dims, seed)
    eng = get_engine(engine or pca_umap_engine(len(z)))
    idx, dist = eng.search(z, z, n_neighbors - 1, "l2", query_rows=np.arange(len(z)))
    return umap_map(z, idx, dist, "l2", n_neighbors, seed, layout=layout)
