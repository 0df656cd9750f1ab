"""What the maps draw, as binary frames (header + buffers, :mod:`spacelens.views.binary`).

Shared by the web app's routes (over HTTP) and the notebook widget (over the widget's model,
:mod:`spacelens.notebook`): the same paths give the same frames, which the same front-end code
draws. No FastAPI here.
"""

from __future__ import annotations

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.registry import Registry
from spacelens.views.colors import coincidence_codes, histogram, numeric_codes
from spacelens.views.data import ComparisonData, TableCache, load_map, load_map_preservation, normalise


def map_frame(reg: Registry, name: str, method: str, align_to: str | None = None) -> tuple[dict, dict]:
    """A space's stored 2-D map: x, y in [-1, 1] (float32), plus which dataset rows it holds."""
    m = load_map(reg, name, method, align_to)
    rec = reg.space(name)
    n_dataset = reg.dataset(rec.dataset).n_rows
    x, y, transform = normalise(m.coords)
    header = {"space": name, "dataset": rec.dataset, "method": m.method, "align_to": align_to, "n": int(len(x)),
              "n_dataset": int(n_dataset), "faithfulness": m.faithfulness, "transform": transform, "rows": "all"}
    buffers = {"x": x, "y": y}
    rows = np.asarray(m.rows, dtype=np.int64)
    if len(rows) != n_dataset or (len(rows) and rows[-1] != n_dataset - 1):
        if len(rows) > 1 and np.any(np.diff(rows) <= 0):  # not in dataset order: send the rows
            header["rows"] = "list"
            buffers["rows"] = rows.astype(np.uint32)
        else:  # ascending: one bit per dataset row says which rows the map holds
            mask = np.zeros(n_dataset, dtype=bool)
            mask[rows] = True
            header["rows"] = "mask"
            buffers["rows_mask"] = np.packbits(mask, bitorder="little")
    return header, buffers


def colors_frame(reg: Registry, dataset: str, by: str, tables: TableCache,
                 comparison: ComparisonData | None = None, map_of: tuple | None = None) -> tuple[dict, dict]:
    """A colour code per dataset row: by a column, by the per-item Jaccard of ``comparison``, or
    (``by="faithfulness"``, ``map_of=(space, method, align_to)``) by each item's kNN preservation
    on that map (grey: items the map does not hold)."""
    n_rows = reg.dataset(dataset).n_rows
    if by == "faithfulness":
        if map_of is None:
            raise SpacelensError("Colouring by faithfulness needs a map", "Pass space=SPACE and method=METHOD")
        rows, values = load_map_preservation(reg, *map_of)
        v = np.full(n_rows, np.nan)
        v[rows] = values
        codes, meta = numeric_codes(v, lo=0.0, hi=1.0, kind="numeric")
        meta["mean"] = float(np.mean(values)) if len(values) else None
        meta["space"], meta["method"] = map_of[0], map_of[1]
    elif by == "coincidence":
        if comparison is None:
            raise SpacelensError("Colouring by coincidence needs two spaces", "Pass a=SPACE_A and b=SPACE_B")
        codes, meta = coincidence_codes(n_rows, comparison.rows, comparison.jaccard)
        meta["mean"] = comparison.mean
    else:
        codes, meta = tables.codes(reg, dataset, by)
    return {"dataset": dataset, "by": by, **meta}, {"codes": codes}


def comparison_frame(reg: Registry, dataset: str, comp: ComparisonData,
                     baseline: ComparisonData | dict | None = None) -> tuple[dict, dict]:
    """The histogram bin of each dataset row, and the histogram, mean and info in the header.

    The bins are the values Jaccard can take at the comparison's k (:func:`histogram`), so a
    bar's items are exactly the items with that value. ``baseline``: A vs C (C a reseeded run
    of A) at the same k, loaded with C as its ``b``; the header then carries ``baseline: {space, k, mean}`` (the seed
    baseline the page marks on the histogram). A dict is passed through as is (a baseline not
    computed yet: ``{space, k, mean: None, missing: job}``).
    """
    bins, hist = histogram(reg.dataset(dataset).n_rows, comp.rows, comp.jaccard, comp.k,
                           bool((comp.info or {}).get("include_self", False)))
    header = {"a": comp.a, "b": comp.b, "k": comp.k, "dataset": dataset, "mean": comp.mean, "n": int(len(comp.rows)),
              "histogram": hist, "info": comp.info}
    if isinstance(baseline, ComparisonData):
        if baseline.k != comp.k:
            raise SpacelensError(f"The baseline comparison is at k={baseline.k}, not k={comp.k}",
                                 "Compare the baseline at the same k")
        header["baseline"] = {"space": baseline.b, "k": baseline.k, "mean": baseline.mean}
    elif isinstance(baseline, dict):
        header["baseline"] = baseline
    return header, {"bins": bins}


def with_shared(res: dict) -> dict:
    """A query result with ``shared``: the ids near the item in both spaces, in space A's order."""
    if "shared" not in res:
        lists = list(res.get("spaces", {}).values())
        in_b = {str(n["id"]) for n in lists[-1]} if len(lists) > 1 else set()
        res["shared"] = [str(n["id"]) for n in lists[0] if str(n["id"]) in in_b] if in_b else []
    return res
