"""Maps of a space, computed once and kept in the registry with their faithfulness.

One artifact "projection" per (space, method, map settings, faithfulness settings[, map it
is aligned to]) holds the coordinates (float32 (n_rows, 2), in the space's row order) and
the per-item faithfulness. Asking again returns the stored map; asking for other
faithfulness settings (k, sample) reuses the stored coordinates and only re-measures.

UMAP maps are laid out from the space's shared kNN graph (:func:`spacelens.neighbors.knn_graph`:
built once for k >= 50 by the ``auto`` engine and reused by compare, evaluate and the page,
never rebuilt while it holds n_neighbors - 1 neighbours); PCA -> UMAP searches its own graph
on the 50 PCA components (exact up to 20k items, faiss IVF beyond). A PCA map needs no graph.

Faithfulness never builds a graph either: both measures come from a random sample of items
(``trust_sample``, 2,000 by default; all items when the space is smaller), each searched
exactly among all items, and are reported with their 95% CI and the sample size
(:func:`~spacelens.project.faithfulness.sampled_faithfulness`). When the space already has a
graph (UMAP's, or one cached by compare), it also gives the kNN preservation of every item for
shading the map; an exact graph then gives the exact mean too.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.progress import progress
from spacelens.project import maps
from spacelens.project.faithfulness import TRUST_SAMPLE, knn_preservation, map_knn, sampled_faithfulness

KIND = "projection"
METHODS = ("pca", "umap", "pca-umap")
_FAITH_KEYS = ("k", "trust_sample")  # params that change the measures, not the coordinates


@dataclass
class Projection:
    """A 2D map of one space: ``coords[i]`` is space row i (dataset row ``rows[i]``, id ``ids[i]``)."""

    space: str
    method: str
    coords: np.ndarray  # float32 (n_rows, 2)
    rows: np.ndarray  # int64 dataset row of each space row
    faithfulness: dict  # knn_preservation, trustworthiness (means), k, trust_items, ...
    per_item: np.ndarray  # float32 kNN preservation of each row
    trust_per_item: np.ndarray | None = None  # float32 trustworthiness per row (NaN outside the sample)
    ids: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    cached: bool = False  # True when it came from the registry unchanged

    @property
    def aligned_to(self) -> str | None:
        return self.params.get("align_to")

    def summary(self) -> dict:
        """A JSON-ready description without the per-item arrays."""
        return {"space": self.space, "method": self.method, "n": int(len(self.coords)), "params": self.params,
                "faithfulness": self.faithfulness, "cached": self.cached,
                **{k: self.info[k] for k in ("seconds", "aligned") if k in self.info}}


def _check(method: str, metric: str, n: int, n_neighbors: int, k: int, seed, space: str) -> None:
    from spacelens.neighbors.metrics import check_metric

    if method not in METHODS:
        raise SpacelensError(f"Unknown map method {method!r}", f"Use one of: {', '.join(METHODS)} (or 'all')")
    check_metric(metric)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpacelensError(f"seed must be a whole number, not {seed!r}", "Pass e.g. seed=0")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise SpacelensError(f"k must be a positive whole number, not {k!r}", "Pass e.g. k=10")
    if n < k + 1:
        raise SpacelensError(f"Space {space!r} has {n} items: measuring a map with k={k} neighbours needs "
                             f"at least {k + 1}", f"Use a smaller --k (at most {max(n - 1, 1)})")
    if method != "pca":
        if metric not in maps.UMAP_METRIC:
            raise SpacelensError(f"UMAP maps need a distance; metric {metric!r} is not one",
                                 "Use --metric cosine or --metric l2, or --method pca")
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
            raise SpacelensError(f"n_neighbors must be a whole number >= 2, not {n_neighbors!r}",
                                 "Pass e.g. --n-neighbors 15")
        if n < n_neighbors + 1:
            raise SpacelensError(f"Space {space!r} has {n} items, too few for UMAP with n_neighbors="
                                 f"{n_neighbors} (it needs at least {n_neighbors + 1})",
                                 f"Use --n-neighbors {max(2, n - 1)} or less, or --method pca")


def projection_params(method: str, *, metric: str = "cosine", seed: int = 0, n_neighbors: int = 15, k: int = 10,
                      trust_sample: int | None = TRUST_SAMPLE, n: int | None = None,
                      align_to: str | None = None, layout: str = "auto") -> dict:
    """The artifact params of a map: everything that changes its coordinates or its measures."""
    p = {"method": method, "metric": metric, "k": int(k),
         "trust_sample": None if trust_sample is None or (n is not None and n <= trust_sample) else int(trust_sample)}
    if method != "pca":  # PCA (scikit-learn's exact solvers here) does not depend on a seed
        p.update(seed=int(seed), n_neighbors=int(n_neighbors), min_dist=maps.MIN_DIST, graph="exact")
        how = maps.umap_settings(n or 0, layout)
        # only what differs from umap's defaults (spectral, seeded): maps stored before keep their key
        p.update({key: v for key, v in how.items() if v not in ("spectral", "seeded")})
    if method == "pca-umap":
        p["pca_dims"] = maps.PCA_UMAP_DIMS
        p["graph"] = maps.pca_umap_engine(n) if n is not None else "exact"
    if align_to:
        p["align_to"] = align_to
    return p


def _coord_key(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in _FAITH_KEYS}


def _fresh(art, rec, other=None) -> bool:
    info = art.info or {}
    ok = info.get("content_hash") == rec.content_hash and info.get("n_rows") == rec.n_rows
    if other is not None:
        ok = ok and info.get("other_content_hash") == other.content_hash
    return ok


def _load(reg, art, rec, ids=None) -> Projection:
    params = dict(art.params)
    return Projection(space=rec.name, method=params["method"], coords=np.array(reg.load_artifact(art, "coords")),
                      rows=reg.load_rows(rec), faithfulness=dict(art.info.get("faithfulness", {})),
                      per_item=np.array(reg.load_artifact(art, "knn_preservation")),
                      trust_per_item=np.array(reg.load_artifact(art, "trustworthiness")),
                      ids=reg.space_ids(rec) if ids is None else ids, params=params, info=dict(art.info),
                      cached=True)


@contextmanager
def _step(description: str):
    with progress(description, total=None):
        yield


def compute_map(x: np.ndarray, method: str, graph, *, n_neighbors: int, seed: int, name: str = "",
                layout: str = "auto") -> np.ndarray:
    """Coordinates of one map of the prepared vectors ``x`` (``graph``: its kNN graph, for UMAP;
    ``layout``: :func:`spacelens.project.maps.umap_settings`)."""
    n = len(x)
    if method == "pca":
        with _step(f"PCA map of {name} ({n:,} items)"):
            return maps.pca_map(x)
    if method == "umap":
        with _step(f"UMAP map of {name} ({n:,} items, from the cached kNN graph)"):
            return maps.umap_map(x, graph.indices, graph.distances, graph.metric, n_neighbors, seed, layout=layout)
    with _step(f"PCA -> UMAP map of {name} ({n:,} items)"):
        return maps.pca_umap_map(x, n_neighbors, seed, engine=maps.pca_umap_engine(n), layout=layout)


def measure(vectors: np.ndarray, x: np.ndarray, coords: np.ndarray, metric: str, k: int,
            sample: int | None, graph=None, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """Faithfulness of ``coords`` to the space (``vectors`` as stored, ``x`` prepared for
    ``metric``): ``(summary, kNN preservation per item, trustworthiness per item)``.

    Both means come from a random sample of items (all when n <= ``sample``) with 95% CIs.
    ``graph``: the space's kNN graph when one is at hand (with >= k neighbours): kNN
    preservation of every item from it (NaN outside the sample otherwise); an exact graph
    also gives the exact mean.
    """
    n = len(coords)
    est = sampled_faithfulness(vectors, x, coords, metric, k, sample, seed)
    rows = est["rows"]
    pres = np.full(n, np.nan, dtype=np.float32)
    trust = np.full(n, np.nan, dtype=np.float32)
    trust[rows] = est["trust"]
    faith = {"k": k, "knn_preservation": est["knn_preservation"],
             "knn_preservation_ci95": est["knn_preservation_ci95"],
             "trustworthiness": est["trustworthiness"], "trustworthiness_ci95": est["trustworthiness_ci95"],
             "n_items": est["n_items"], "sampled": est["sampled"],
             "trust_items": est["n_items"] if est["trustworthiness"] is not None else 0,
             "trust_sampled": est["sampled"], "per_item": "sampled items only"}
    if graph is not None and graph.k >= k:
        pres[:] = knn_preservation(np.asarray(graph.indices[:, :k]), map_knn(coords, k))
        if graph.exact:
            mean = float(pres.mean(dtype=np.float64))
            faith.update(knn_preservation=mean, knn_preservation_ci95=[mean, mean], per_item="exact kNN graph",
                         knn_preservation_items=n)
        else:
            faith["per_item"] = f"approximate kNN graph ({graph.engine})"
    if graph is None or graph.k < k or not graph.exact:
        pres[rows] = est["preservation"]      # the sampled items' exact values
        faith["knn_preservation_items"] = est["n_items"]
    return faith, pres, trust


def project(reg, space, method: str = "umap", *, seed: int = 0, n_neighbors: int = 15, metric: str = "cosine",
            k: int = 10, trust_sample: int | None = TRUST_SAMPLE, align_to: str | None = None,
            recompute: bool = False, layout: str = "auto") -> Projection:
    """The ``method`` map of ``space`` with its faithfulness, from the registry or computed and stored.

    ``align_to``: another space; the map is rotated/reflected/scaled/shifted onto that space's
    map (same method and settings) by Procrustes on the items both spaces hold.
    ``recompute``: ignore a stored map (and replace it). ``layout`` (UMAP maps): "auto"
    (parallel epochs from 200,000 items), "seeded" (reproducible) or "parallel"
    (:func:`spacelens.project.maps.umap_settings`).
    """
    rec = reg.space(space) if isinstance(space, str) else space
    _check(method, metric, rec.n_rows, n_neighbors, k, seed, rec.name)
    other = reg.space(align_to) if align_to else None
    params = projection_params(method, metric=metric, seed=seed, n_neighbors=n_neighbors, k=k,
                               trust_sample=trust_sample, n=rec.n_rows, align_to=other.name if other else None,
                               layout=layout)
    if not recompute:
        art = reg.get_artifact(KIND, rec, params, other=other)
        if art is not None and _fresh(art, rec, other):
            return _load(reg, art, rec)
    if other is not None:
        return _align(reg, rec, other, method, params, seed=seed, n_neighbors=n_neighbors, metric=metric, k=k,
                      trust_sample=trust_sample, recompute=recompute, layout=layout)

    from spacelens.neighbors import cached_graph, knn_graph, prepare

    seconds = {}
    t0 = time.perf_counter()
    if method == "umap":   # the shared graph: reused while it holds n_neighbors - 1 neighbours
        graph = knn_graph(reg, rec, max(k, n_neighbors - 1), metric)
    else:                  # no graph is built for a PCA map or its faithfulness; one already stored helps
        graph = cached_graph(reg, rec, k, metric, engine=None)
    seconds["graph"] = round(time.perf_counter() - t0, 3)
    vectors = reg.load_vectors(rec)
    x = prepare(vectors, metric)

    coords, reused_from = None, None
    if not recompute:  # same map stored with other faithfulness settings: reuse its coordinates
        key = _coord_key(params)
        for a in reg.find_artifacts(kind=KIND, space=rec.name):
            if a.space == rec.name and a.other_space is None and _coord_key(a.params) == key and _fresh(a, rec):
                coords, reused_from = np.array(reg.load_artifact(a, "coords")), a.id
                seconds["map"] = a.info.get("seconds", {}).get("map")
                break
    if coords is None:
        t0 = time.perf_counter()
        coords = compute_map(x, method, graph, n_neighbors=n_neighbors, seed=seed, name=rec.name, layout=layout)
        seconds["map"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    faith, pres, trust = measure(vectors, x, coords, metric, k, params["trust_sample"], graph)
    seconds["faithfulness"] = round(time.perf_counter() - t0, 3)
    info = {"faithfulness": faith, "seconds": seconds, "n_rows": rec.n_rows, "content_hash": rec.content_hash,
            "graph_engine": graph.engine if graph is not None else None}
    if graph is not None and not graph.exact:  # the map / per-item values rest on an approximate graph
        from spacelens.neighbors import recall_at

        info["graph_recall"] = recall_at(graph.info, k)
        faith["graph_recall"] = info["graph_recall"]
    if reused_from is not None:
        info["coords_from"] = reused_from
    reg.put_artifact(KIND, rec, params, {"coords": coords, "knn_preservation": pres, "trustworthiness": trust},
                     info=info)
    return Projection(space=rec.name, method=method, coords=coords, rows=reg.load_rows(rec), faithfulness=faith,
                      per_item=pres, trust_per_item=trust, ids=reg.space_ids(rec), params=params, info=info)


def _align(reg, rec, other, method, params, **settings) -> Projection:
    from spacelens.project.align import procrustes, shared_positions

    base = project(reg, rec, method, **settings)
    target = project(reg, other, method, **{**settings, "recompute": False})  # the other map as it is stored
    ia, ib = shared_positions(base.ids, target.ids)
    sim = procrustes(base.coords[ia], target.coords[ib])
    coords = sim.apply(base.coords)
    info = {**base.info, "aligned": {"to": other.name, **sim.to_dict()}, "other_content_hash": other.content_hash}
    info.pop("coords_from", None)
    reg.put_artifact(KIND, rec, params, {"coords": coords, "knn_preservation": base.per_item,
                                              "trustworthiness": base.trust_per_item},
                     info=info, other=other)
    return Projection(space=rec.name, method=method, coords=coords, rows=base.rows, faithfulness=base.faithfulness,
                      per_item=base.per_item, trust_per_item=base.trust_per_item, ids=base.ids, params=params,
                      info=info)


def project_all(reg, space, *, methods=METHODS, **settings) -> dict[str, Projection]:
    """Every map of ``space`` (PCA, UMAP, PCA -> UMAP) with the same settings, side by side."""
    return {m: project(reg, space, m, **settings) for m in methods}


def stored_projections(reg, space) -> list:
    """The projection artifacts stored for ``space`` (as the space mapped, not as an alignment target)."""
    return [a for a in reg.find_artifacts(kind=KIND, space=space) if a.space == space]
