"""Small generated spaces for the invariant tests (test_invariants.py): a labelled dataset with
two related spaces, transformations that must not change any figure, a fresh registry per use,
and checks that a space has no near-ties where its measures read neighbour order (so exact
float equality of neighbour sets is a fair thing to ask of transformed copies)."""

from __future__ import annotations

import itertools
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import spacelens
from spacelens.errors import SpacelensWarning

_homes = itertools.count()


@dataclass(frozen=True)
class Case:
    """One generated example: ``n`` items in ``d`` dims, ``n_classes`` labels, neighbours at ``k``."""

    seed: int
    n: int
    d: int
    k: int
    n_classes: int


@dataclass
class Data:
    ids: np.ndarray       # str ids, dataset order
    labels: np.ndarray    # str label per item
    clusters: np.ndarray  # a given cluster id per item (column "cluster")
    a: np.ndarray         # float32 (n, d): space A
    b: np.ndarray         # float32 (n, d): space B, A blurred and partly rearranged
    k: int

    def table(self, order=None) -> pd.DataFrame:
        order = np.arange(len(self.ids)) if order is None else np.asarray(order)
        return pd.DataFrame({"id": self.ids[order], "label": self.labels[order], "cluster": self.clusters[order]})


def make_data(case: Case) -> Data:
    """Clustered Gaussian items (classes overlap, so retrieval is imperfect) and a second space
    that agrees with the first only in part."""
    rng = np.random.default_rng(case.seed)
    labels = rng.integers(0, case.n_classes, size=case.n)
    labels[: case.n_classes] = np.arange(case.n_classes)           # every class present
    centers = rng.normal(size=(case.n_classes, case.d)) * 2.0
    a = centers[labels] + rng.normal(size=(case.n, case.d))
    b = a @ random_rotation(case.d, rng) * 0.7 + rng.normal(size=(case.n, case.d))
    ids = np.array([f"it{i:03d}-{rng.integers(1000)}" for i in range(case.n)])  # ids not in row order
    clusters = np.where(rng.random(case.n) < 0.7, labels, rng.integers(0, case.n_classes, size=case.n))
    return Data(ids, np.array([f"c{x}" for x in labels]), clusters, a.astype(np.float32), b.astype(np.float32), case.k)


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal d x d matrix (QR of a Gaussian matrix, signs fixed: Haar)."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def fresh_home(root: Path) -> Path:
    """A new, empty registry folder under ``root`` (one per hypothesis example)."""
    return Path(root) / f"home{next(_homes)}"


@contextmanager
def quiet():
    """Warnings of expected situations (spaces over different items, ...) are not under test here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpacelensWarning)
        yield


def add(home, name: str, x: np.ndarray, table: pd.DataFrame | None = None, ids=None, dataset: str = "d",
        via_npz: Path | None = None):
    """Register ``x`` as space ``name`` (rows matched by ``ids`` when given; through an .npz file
    holding the ids when ``via_npz`` is a folder)."""
    emb = x
    if via_npz is not None:
        path = Path(via_npz) / f"{name}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, embeddings=x, ids=np.asarray(ids, dtype=str))
        emb, ids = path, None
    return spacelens.add(emb, table, dataset_name=dataset, experiment_name=name, space_name=name,
                         ids=None if ids is None else [str(i) for i in ids], home=home)


# -- near-ties -----------------------------------------------------------------------------

TIE_EPS = 1e-6   # a gap below this share of a row's distance range counts as a tie (float32 noise is ~1e-7)


def distances(x: np.ndarray, metric: str) -> np.ndarray:
    """(n, n) float64 distances as the metric orders them; the diagonal is +inf (self excluded)."""
    x = np.asarray(x, dtype=np.float64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
        dist = 1 - x @ x.T
    else:
        sq = (x * x).sum(1)
        dist = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(dist, np.inf)
    return dist


def _sorted(dist: np.ndarray):
    order = np.argsort(dist, axis=1, kind="stable")[:, :-1]            # drop self (inf, last)
    s = np.take_along_axis(dist, order, axis=1)
    scale = np.maximum(s[:, -1] - s[:, 0], 1e-300)
    return order, s, scale


def boundary_clear(dist: np.ndarray, k: int, eps: float = TIE_EPS) -> bool:
    """Every item's k nearest are set apart from its (k+1)-th: the k-neighbour *set* is stable."""
    _, s, scale = _sorted(dist)
    return bool(k >= s.shape[1] or ((s[:, k] - s[:, k - 1]) > eps * scale).all())


def ranking_clear(dist: np.ndarray, relevant: np.ndarray, upto: int, eps: float = TIE_EPS) -> bool:
    """Over each item's first ``upto + 1`` neighbours, no two consecutive ones of different
    relevance (``relevant[i, j]``: j counts for i) are tied: the relevance sequence is stable."""
    order, s, scale = _sorted(dist)
    m = min(upto + 1, s.shape[1])
    rel = np.take_along_axis(relevant, order, axis=1)[:, :m]
    differ = rel[:, 1:] != rel[:, :-1]
    close = (s[:, 1:m] - s[:, : m - 1]) <= eps * scale[:, None]
    return not (differ & close).any()


def same_label(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    return labels[:, None] == labels[None, :]


def map_neighbours(coords: np.ndarray, k: int) -> np.ndarray:
    """Boolean (n, n): j is among i's k nearest in a 2D map (brute force, float64)."""
    dist = distances(coords, "l2")
    nn = np.argsort(dist, axis=1, kind="stable")[:, :k]
    out = np.zeros(dist.shape, bool)
    np.put_along_axis(out, nn, True, axis=1)
    return out


def brute_jaccard(xa: np.ndarray, xb: np.ndarray, k: int) -> np.ndarray:
    """Per-item Jaccard of the k cosine neighbours (self excluded) in two row-aligned spaces, by brute force."""
    def knn(x):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = u @ u.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]
    na, nb = knn(xa), knn(xb)
    return np.array([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(na, nb)])
