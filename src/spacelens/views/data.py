"""What the page shows, read from the registry: maps, comparisons, evaluations, tables.

Only stored results are read here (nothing is computed on a request thread); a missing
map or comparison raises :class:`Missing`, which the app turns into a 404 that names the
job to start. Tables and their colour codes are cached per dataset content (a million-row
table takes a second to read and is shared by every request about that dataset).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spacelens.jsonable import jsonable
from spacelens.errors import NotFoundError, SpacelensError
from spacelens.registry import Registry

METHODS = {"pca": "PCA", "umap": "UMAP", "pca-umap": "PCA→UMAP"}


class Missing(NotFoundError):
    """A derived result (map, comparison) that exists for known spaces but is not computed yet."""

    def __init__(self, problem: str, fix: str, job: dict):
        super().__init__(problem, fix)
        self.job = job


@dataclass
class MapData:
    coords: np.ndarray  # float32 (n, 2), space row order
    rows: np.ndarray    # int64 dataset rows, ascending
    faithfulness: dict
    method: str


@dataclass
class ComparisonData:
    a: str
    b: str
    k: int
    rows: np.ndarray     # int64 dataset rows of the shared items
    jaccard: np.ndarray  # float32 per shared item
    mean: float
    info: dict


def check_method(method: str) -> str:
    m = method.lower().replace("→", "-").replace("_", "-").replace("+", "-")
    if m not in METHODS:
        raise SpacelensError(f"Unknown map method {method!r}", f"Use one of: {', '.join(METHODS)}")
    return m


# -- maps ------------------------------------------------------------------------------
def _map_artifact(reg: Registry, space: str, method: str, align_to: str | None = None):
    """The stored map artifact of ``space`` by ``method`` (raises Missing when not computed)."""
    reg.space(space)  # NotFoundError for a bad name
    if align_to is not None:
        reg.space(align_to)
    method = check_method(method)
    arts = [a for a in reg.find_artifacts(kind="projection", space=space)
            if a.space == space and a.other_space == align_to and str(a.params.get("method", "")).lower() == method]
    if not arts:
        aligned = f" aligned to {align_to!r}" if align_to else ""
        flag = f" --align-to {align_to}" if align_to else ""
        job = {"kind": "projection", "space": space, "method": method}
        if align_to:
            job["align_to"] = align_to
        raise Missing(f"No {METHODS[method]} map of space {space!r}{aligned} yet", "Compute it from the page or "
                      f"with 'spacelens project {space} --method {method}{flag}'", job)
    # the page's own settings first (seed 0, k 10), then the newest
    arts.sort(key=lambda a: (a.params.get("seed", 0) != 0, a.params.get("k", 10) != 10, -a.id))
    return arts[0], method


def load_map(reg: Registry, space: str, method: str, align_to: str | None = None) -> MapData:
    """The stored 2-D map of ``space`` by ``method`` (raises Missing when not computed).

    ``align_to``: the map rotated/reflected/scaled onto that space's map of the same method.
    """
    rec = reg.space(space)
    art, method = _map_artifact(reg, space, method, align_to)
    coords = _coords(reg, art)
    if coords.shape != (rec.n_rows, 2):
        raise SpacelensError(f"The stored {method} map of {space!r} has shape {coords.shape}, not ({rec.n_rows}, 2)",
                             f"Recompute it with 'spacelens project {space} --method {method}'")
    info = art.info or {}
    faith = info.get("faithfulness") or {k: info[k] for k in ("knn_preservation", "trustworthiness") if k in info}
    return MapData(coords=coords, rows=reg.load_rows(rec), faithfulness=_plain(faith), method=method)


def load_map_preservation(reg: Registry, space: str, method: str,
                          align_to: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per item of the map (its dataset rows, then the values): the share of the item's k nearest
    neighbours in the space that stay among its k nearest on the map (the map's per-item
    faithfulness, whose mean the map's title shows)."""
    rec = reg.space(space)
    art, method = _map_artifact(reg, space, method, align_to)
    if "knn_preservation" not in art.files:
        raise Missing(f"The stored {METHODS[method]} map of {space!r} has no per-item kNN preservation",
                      f"Recompute it with 'spacelens project {space} --method {method}'",
                      {"kind": "projection", "space": space, "method": method, **({"align_to": align_to} if align_to else {})})
    values = np.asarray(reg.load_artifact(art, "knn_preservation"), dtype=np.float32)
    return reg.load_rows(rec), values


def _coords(reg: Registry, art) -> np.ndarray:
    for role in ("coords", "coordinates", "xy", "embedding"):
        if role in art.files:
            return np.asarray(reg.load_artifact(art, role), dtype=np.float32)
    for role in art.files:
        arr = reg.load_artifact(art, role)
        if arr.ndim == 2 and arr.shape[1] == 2:
            return np.asarray(arr, dtype=np.float32)
    raise SpacelensError(f"The map artifact of {art.space!r} holds no 2-D coordinates", "Recompute the map")


def normalise(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """x and y scaled into [-1, 1] (equal scale on both axes, a small margin): what WebGL draws."""
    c = np.asarray(coords, dtype=np.float32)
    x, y = c[:, 0], c[:, 1]
    finite = np.isfinite(x) & np.isfinite(y)
    ok = bool(finite.all())
    xs, ys = (x, y) if ok else (x[finite], y[finite])
    if xs.size:
        lo = np.array([xs.min(), ys.min()], dtype=np.float64)
        hi = np.array([xs.max(), ys.max()], dtype=np.float64)
    else:
        lo, hi = np.zeros(2), np.ones(2)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2, 1e-12) * 1.04
    out_x = ((x - np.float32(centre[0])) * np.float32(1 / half)).astype(np.float32, copy=False)
    out_y = ((y - np.float32(centre[1])) * np.float32(1 / half)).astype(np.float32, copy=False)
    if not ok:
        out_x[~finite] = 0
        out_y[~finite] = 0
    return out_x, out_y, {"centre": centre.tolist(), "scale": half}


# -- comparisons -----------------------------------------------------------------------
def load_comparison(reg: Registry, a: str, b: str, k: int = 10) -> ComparisonData:
    """The stored comparison of spaces a and b at k, in either order (Jaccard is symmetric)."""
    ra, rb = reg.space(a), reg.space(b)
    if ra.dataset != rb.dataset:
        raise SpacelensError(f"Spaces {a!r} and {b!r} embed different datasets ({ra.dataset!r}, {rb.dataset!r})",
                             "Pick two spaces of the same dataset")
    for x, y in ((a, b), (b, a)):
        comp = _load_comparison(reg, x, y, k)
        if comp is not None:
            rows = np.asarray(comp.rows, dtype=np.int64)
            jac = np.asarray(comp.jaccard, dtype=np.float32)
            if rows.size > 1 and np.any(rows[1:] < rows[:-1]):
                order = np.argsort(rows, kind="stable")
                rows, jac = rows[order], jac[order]
            return ComparisonData(a=a, b=b, k=int(getattr(comp, "k", k)), rows=rows, jaccard=jac,
                                  mean=float(getattr(comp, "mean", float(jac.mean()) if jac.size else 0.0)),
                                  info=_plain(getattr(comp, "info", {}) or {}))
    raise Missing(f"Spaces {a!r} and {b!r} have not been compared at k={k} yet",
                  f"Compute it from the page or with 'spacelens compare {a} {b} -k {k}'",
                  {"kind": "comparison", "a": a, "b": b, "k": k})


class ComparisonCache:
    """Recently read comparisons (a hover asks for one item's Jaccard: not a 12 MB read each time).

    Keyed by content, never by row ids (SQLite may hand a deleted row's id to the next
    insert): the two spaces' content hashes, k, and the object files and creation times of
    the comparison artifacts stored for the pair (each write goes to new, uniquely named
    files). So a space replaced by ``log_space`` or a recomputed comparison misses the cache.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, ComparisonData] = OrderedDict()

    @staticmethod
    def key(reg: Registry, a: str, b: str, k: int) -> tuple:
        ra, rb = reg.space(a), reg.space(b)
        stamp = tuple(sorted((str(x.created_at), tuple(sorted(map(str, x.files.values()))))
                             for x in reg.find_artifacts(kind="comparison", space=a)
                             if {x.space, x.other_space} == {a, b}))
        return (str(reg.home), a, b, ra.content_hash, rb.content_hash, k, stamp)

    def get(self, reg: Registry, a: str, b: str, k: int) -> ComparisonData:
        key = self.key(reg, a, b, k)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        comp = load_comparison(reg, a, b, k)
        with self._lock:
            self._entries[key] = comp
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return comp


def _load_comparison(reg, a, b, k):
    try:
        from spacelens.compare import load_comparison as stored
    except ImportError:  # the compare verbs are not installed: read the artifact directly
        stored = None
    if stored is not None:
        return stored(reg, a, b, k=k)
    for art in reg.find_artifacts(kind="comparison", space=a):
        if art.space == a and art.other_space == b and int(art.params.get("k", -1)) == k:
            rows, jac = reg.load_artifact(art, "rows"), reg.load_artifact(art, "jaccard")
            return ComparisonData(a, b, k, rows, jac, float(art.info.get("mean", np.mean(jac))), art.info)
    return None


def list_comparisons(reg: Registry, dataset: str | None = None) -> list[dict]:
    """Stored comparisons; ``seed_pair`` marks those between two runs of one recipe (a seed
    baseline, computed beside the pair the user asked about: the page does not open on it)."""
    from spacelens.answer import is_reseed

    spaces = {s.name: s for s in reg.list("spaces")}
    experiments = {e.name: e for e in reg.list("experiments")}
    out = []
    for art in reg.find_artifacts(kind="comparison"):
        sa, sb = spaces.get(art.space), spaces.get(art.other_space)
        if sa is None or (dataset and sa.dataset != dataset):
            continue
        ea, eb = experiments.get(sa.experiment), experiments.get(sb.experiment) if sb is not None else None
        info = _plain(art.info or {})
        out.append({"id": art.id, "a": art.space, "b": art.other_space, "dataset": sa.dataset,
                    "k": art.params.get("k"), "mean": info.get("mean"), "params": _plain(art.params),
                    "info": info, "created_at": art.created_at,
                    "seed_pair": bool(ea is not None and eb is not None and is_reseed(ea, eb))})
    return out


# -- evaluations and maps listing ------------------------------------------------------
def list_evaluations(reg: Registry, space: str | None = None) -> list[dict]:
    if space is not None:
        reg.space(space)
    out = []
    for art in reg.find_artifacts(kind="evaluation", space=space):
        info = _plain(art.info or {})
        metrics = {k: v for k, v in info.items() if isinstance(v, float) and k != "k"
                   and not k.startswith(("n_", "seconds"))}
        out.append({"id": art.id, "space": art.space, "name": art.name, "params": _plain(art.params),
                    "metrics": metrics, "info": info, "created_at": art.created_at})
    return out


def list_maps(reg: Registry, space: str | None = None) -> list[dict]:
    out = []
    for art in reg.find_artifacts(kind="projection", space=space):
        info = _plain(art.info or {})
        faith = info.get("faithfulness") or {k: info[k] for k in ("knn_preservation", "trustworthiness") if k in info}
        out.append({"id": art.id, "space": art.space, "method": art.params.get("method"), "align_to": art.other_space,
                    "params": _plain(art.params), "faithfulness": faith, "created_at": art.created_at})
    return out


plain = _plain = jsonable   # the one JSON encoder (spacelens.jsonable)


# -- tables (cached) -------------------------------------------------------------------
class TableCache:
    """The last few dataset tables, their column kinds and colour codes, keyed by content."""

    def __init__(self, size: int = 2):
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, dict] = OrderedDict()
        self._loading: dict[tuple, threading.Lock] = {}

    def entry(self, reg: Registry, dataset: str) -> dict:
        """The cached table, ids and colour codes (a hover or a search reads only these). Its
        ``columns`` may predate an evaluation: where label columns matter, read :meth:`columns`."""
        rec = reg.dataset(dataset)
        key = (str(reg.home), rec.name, rec.content_hash)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one reader per table; concurrent requests wait for it
            with self._lock:
                if key in self._entries:
                    return self._entries[key]
            e = self._load(reg, rec)
            with self._lock:
                self._entries[key] = e
                self._loading.pop(key, None)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return e

    def _load(self, reg: Registry, rec) -> dict:
        from spacelens.views.colors import describe_columns

        table = reg.load_table(rec)
        ids = reg.load_ids(rec)
        if ids.dtype.kind != "U":
            ids = ids.astype(str)
        found = _label_fields(reg, rec.name)
        return {"record": rec, "table": table, "ids": ids, "columns": describe_columns(table, rec.id_field, found),
                "label_fields": found, "codes": {}, "lock": threading.Lock()}

    def columns(self, reg: Registry, dataset: str) -> list[dict]:
        """The columns with their kinds and label flags, up to date with the stored evaluations:
        a column evaluated with since the table was read is a label column now (spacelens.labels)."""
        from spacelens.views.colors import describe_columns

        e = self.entry(reg, dataset)
        found = _label_fields(reg, dataset)
        if found != e["label_fields"]:
            with e["lock"]:
                e["columns"] = describe_columns(e["table"], e["record"].id_field, found)
                e["label_fields"] = found
        return e["columns"]

    def codes(self, reg: Registry, dataset: str, column: str) -> tuple[np.ndarray, dict]:
        from spacelens.views.colors import column_codes

        e = self.entry(reg, dataset)
        kinds = {c["name"]: c["kind"] for c in self.columns(reg, dataset)}
        if column not in kinds:
            raise NotFoundError(f"Dataset {dataset!r} has no column {column!r}",
                                f"Columns: {', '.join(list(kinds)[:20])}")
        if kinds[column] not in ("categorical", "numeric"):
            raise SpacelensError(f"Column {column!r} holds {kinds[column]} values, which cannot colour a map",
                                 "Colour by a categorical or numeric column")
        with e["lock"]:
            key = (column, kinds[column])
            if key not in e["codes"]:
                e["codes"][key] = column_codes(e["table"][column], kinds[column])
            return e["codes"][key]


def _label_fields(reg: Registry, dataset: str) -> list[str]:
    from spacelens.evaluate.core import evaluated_label_fields

    return evaluated_label_fields(reg, dataset)


def row_record(table: pd.DataFrame, row: int) -> dict:
    """One table row as JSON-ready metadata."""
    return {str(k): _plain(v.item() if hasattr(v, "item") else v) if not _isna(v) else None
            for k, v in table.iloc[row].items()}


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
