"""Where and how two spaces differ, from a :class:`~spacelens.compare.core.Comparison`.

- :func:`baseline_difference`: is A-vs-B more than noise? Per item, the agreement of A with B
  minus its agreement with a baseline (a reseeded run of A), mean and paired 95% interval
  per k, and a plain reading.
- :func:`agreement_by_group`: mean agreement (and its 95% interval) per value of a metadata
  column, most and least agreeing groups first.
- :func:`neighbour_changes`: one item's neighbours kept, lost (in A only) and gained (in B only).
- :func:`changed_items`: the per-item table, least agreeing first (what moved most), ready to
  export.
- :func:`composition_shift`: per class, the labels of its items' neighbours in A and in B,
  and the class pairs whose mixing differs most.

Intervals treat items as independent; items share neighbours, so they are somewhat narrow:
read them as "how precisely the mean is pinned for these items", not as a sampling error
of the spaces themselves (use a reseeded baseline for that).
"""

from __future__ import annotations

import math

import numpy as np

from spacelens.errors import SpacelensError

MEASURES = ("jaccard", "overlap")


def _values(res, measure: str, k: int) -> np.ndarray | None:
    table = res.per_k if measure == "jaccard" else res.overlap_k
    return table.get(k)


# -- is it more than noise? ---------------------------------------------------------------

def read_difference(d: dict, a: str, b: str, c: str, measure: str, k: int) -> str:
    """One sentence for a per-item difference (agreement A-B minus A-C) and its interval."""
    lo, hi = d["ci95"]
    what = "Jaccard" if measure == "jaccard" else "overlap"
    diff = d["difference"]
    n = f"{d['n']:,} items"
    if lo <= 0 <= hi:
        return (f"k={k}: within run-to-run noise: per item, {a}'s {what} with {b} differs from that with its "
                f"reseeded run {c} by {diff:+.3f} (95% CI {lo:+.3f} to {hi:+.3f}, {n})")
    if diff < 0:
        return (f"k={k}: {b} differs from {a} beyond run-to-run noise: per item, {a}'s {what} with {b} is "
                f"{-diff:.3f} lower than with its reseeded run {c} (95% CI {-hi:.3f} to {-lo:.3f} lower, {n})")
    return (f"k={k}: {a} agrees more with {b} than with its own reseeded run {c}: per item, {what} "
            f"{diff:.3f} higher (95% CI {lo:.3f} to {hi:.3f}, {n})")


def baseline_difference(res, base) -> dict:
    """Per k and measure: per-item agreement(A, B) - agreement(A, C) on the items both cover.

    ``res``: A vs B; ``base``: A vs C (C a reseeded run of A). Returns
    ``{str(k): {"jaccard": {...}, "overlap": {...}, "reading": str}}`` where each measure has
    ``n``, ``mean_a`` (A-C), ``mean_b`` (A-B), ``difference`` (mean of A-B minus A-C),
    ``ci95`` (paired t interval), ``p_value`` (sign-flip randomization).
    """
    from spacelens.evaluate.paired import paired_difference

    rows, ia, ib = np.intersect1d(res.rows, base.rows, return_indices=True)
    out: dict = {}
    for k in sorted(set(res.per_k) & set(base.per_k)):
        entry = {}
        for measure in MEASURES:
            vb, vc = _values(res, measure, k), _values(base, measure, k)
            if vb is None or vc is None:
                continue
            entry[measure] = paired_difference(np.asarray(vc)[ib], np.asarray(vb)[ia], interval="t")
        if "jaccard" in entry:
            entry["reading"] = read_difference(entry["jaccard"], res.space_a, res.space_b, base.space_b,
                                               "jaccard", k)
        out[str(k)] = entry
    return out


# -- where: per group -----------------------------------------------------------------------

def agreement_by_group(values, groups, *, level: float = 0.95, top: int = 5) -> dict:
    """Mean per-item agreement and its t interval per group; ``most``/``least`` agreeing groups.

    ``values``: per item (e.g. Jaccard); ``groups``: the group of each item (any values; missing
    values form no group). Groups are sorted by mean, lowest first. ``most``/``least`` hold the
    ``top`` groups at each end among groups of at least 2 items.
    """
    from spacelens.stats import mean_ci

    import pandas as pd

    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups)
    if len(v) != len(g):
        raise ValueError(f"{len(v)} values and {len(g)} group labels")
    codes, uniques = pd.factorize(g, sort=True)
    ok = codes >= 0
    counts = np.bincount(codes[ok], minlength=len(uniques))
    sums = np.bincount(codes[ok], weights=v[ok], minlength=len(uniques))
    order = np.argsort(codes[ok], kind="stable")
    sorted_v = v[ok][order]
    starts = np.concatenate([[0], np.cumsum(counts)])
    rows = []
    for c, label in enumerate(uniques):
        part = sorted_v[starts[c]:starts[c + 1]]
        mean, lo, hi = mean_ci(part, level=level)
        rows.append({"group": label.item() if hasattr(label, "item") else label, "n": int(counts[c]),
                     "mean": float(sums[c] / counts[c]) if counts[c] else float("nan"),
                     "ci95": [lo, hi] if counts[c] > 1 else [None, None]})
    rows.sort(key=lambda r: (r["mean"], str(r["group"])))
    ranked = [r for r in rows if r["n"] >= 2]
    overall = float(v.mean()) if v.size else float("nan")
    return {"groups": rows, "overall": overall, "n_groups": len(rows), "n_missing": int((~ok).sum()),
            "least": ranked[:top], "most": ranked[::-1][:top]}


def group_column(reg, res, column: str) -> np.ndarray:
    """The dataset column ``column`` for each item of the comparison ``res``."""
    dataset = res.dataset or reg.space(res.space_a).dataset
    cols = reg.table_columns(dataset)
    if column not in cols:
        raise SpacelensError(f"The dataset {dataset!r} has no column {column!r} to group by",
                             f"Use one of its columns: {', '.join(map(str, cols))}")
    table = reg.load_table(dataset, columns=[column])
    return table[column].to_numpy()


# -- per item ---------------------------------------------------------------------------------

def _need_graphs(res):
    if res.graph_a is None or res.graph_b is None:
        raise SpacelensError("This comparison has no neighbour lists (it was loaded from the registry)",
                             "Recompute it with spacelens.compare(A, B) (the kNN graphs are cached, so it is quick)")


def neighbour_changes(res, item, k: int | None = None) -> dict:
    """Item ``item`` (an id, or an int position in ``res``) : neighbours kept, lost and gained.

    ``kept``: in both lists (in A's order); ``lost``: in A's list only; ``gained``: in B's list
    only (B's order). Each as dataset rows and ids.
    """
    _need_graphs(res)
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        i = int(item)
    else:
        hit = np.flatnonzero(res.ids == str(item))
        if not len(hit):
            raise SpacelensError(f"Item {item!r} is not among the {len(res.ids):,} compared items",
                                 "Pass the id of an item both spaces embed")
        i = int(hit[0])
    m = res.graph_a.shape[1] if k is None else min(int(k), res.graph_a.shape[1])
    na = [int(x) for x in res.graph_a[i, :m] if x >= 0]
    nb = [int(x) for x in res.graph_b[i, :m] if x >= 0]
    sb, sa = set(nb), set(na)
    kept = [x for x in na if x in sb]
    lost = [x for x in na if x not in sb]
    gained = [x for x in nb if x not in sa]
    pool = res.pool_rows

    def rows(lst):
        return [int(pool[x]) for x in lst]

    out = {"id": str(res.ids[i]), "row": int(res.rows[i]), "k": m,
           "kept": rows(kept), "lost": rows(lost), "gained": rows(gained)}
    return out


def changed_items(res, k: int | None = None) -> "pd.DataFrame":  # noqa: F821
    """Per item: id, row, jaccard, overlap, kept / changed neighbour counts; least agreeing first."""
    import pandas as pd

    k = res.k if k is None else int(k)
    jac = res.per_k.get(k)
    if jac is None:
        raise SpacelensError(f"k={k} is not on this comparison's curve ({sorted(res.per_k)})",
                             "Compare with that k (e.g. -k 5,10)")
    cols = {"id": res.ids, "row": res.rows, "jaccard": jac}
    if k in res.overlap_k:
        o = np.asarray(res.overlap_k[k], dtype=np.float64)
        m = k - 1 if res.info.get("include_self") else k
        kept = np.rint(o * k - (1 if res.info.get("include_self") else 0)).astype(np.int64)
        cols.update({"overlap": res.overlap_k[k], "kept": kept, "changed": m - kept})
    df = pd.DataFrame(cols)
    return df.sort_values(["jaccard", "row"], kind="stable").reset_index(drop=True)


# -- how the structure changed -----------------------------------------------------------------

def label_composition(graph: np.ndarray, item_codes: np.ndarray, pool_codes: np.ndarray,
                      n_classes: int) -> np.ndarray:
    """(C, C): row c = the share of each label among the neighbours of class-c items.

    ``graph``: (n, k) positions into the pool; ``item_codes``: label code of each row's item;
    ``pool_codes``: label code of each pool position. Missing neighbours are skipped; a class
    without items gets a row of NaN.
    """
    g = np.asarray(graph)
    ok = g >= 0
    src = np.broadcast_to(np.asarray(item_codes)[:, None], g.shape)[ok].astype(np.int64)
    dst = np.asarray(pool_codes)[g[ok]].astype(np.int64)
    counts = np.bincount(src * n_classes + dst, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, counts / np.maximum(tot, 1), np.nan)


def composition_shift(res, pool_labels, *, k: int | None = None, top: int = 10) -> dict:
    """Per class the neighbour-label composition in A and B and the pairs that changed most.

    ``pool_labels``: the label of each dataset row (indexed by ``res.pool_rows``/``res.rows``).
    ``pairs``: (class, neighbour class) ordered by |share in B - share in A|, off-diagonal
    (mixing) first; ``same_class``: per class the share of same-class neighbours in A and B.
    """
    import pandas as pd

    _need_graphs(res)
    labels = np.asarray(pool_labels)
    codes, classes = pd.factorize(labels[res.pool_rows], sort=True)
    if (codes < 0).any():
        raise SpacelensError("Some compared items have no label", "Fill in the label column, or choose another")
    pos = {int(r): i for i, r in enumerate(res.pool_rows)} if len(res.rows) != len(res.pool_rows) else None
    item_codes = codes if pos is None else codes[[pos[int(r)] for r in res.rows]]
    m = res.graph_a.shape[1] if k is None else min(int(k), res.graph_a.shape[1])
    c = len(classes)
    ca = label_composition(res.graph_a[:, :m], item_codes, codes, c)
    cb = label_composition(res.graph_b[:, :m], item_codes, codes, c)
    names = [x.item() if hasattr(x, "item") else x for x in classes]
    diff = cb - ca
    pairs = []
    for i in range(c):
        for j in range(c):
            if i != j and math.isfinite(diff[i, j]) and abs(diff[i, j]) > 1e-12:   # pairs whose mixing changed
                pairs.append({"class": names[i], "neighbour_class": names[j], "share_a": float(ca[i, j]),
                              "share_b": float(cb[i, j]), "change": float(diff[i, j])})
    pairs.sort(key=lambda p: -abs(p["change"]))
    same = [{"class": names[i], "n": int((item_codes == i).sum()), "share_a": float(ca[i, i]),
             "share_b": float(cb[i, i]), "change": float(diff[i, i])} for i in range(c)]
    same.sort(key=lambda p: p["change"] if math.isfinite(p["change"]) else 0.0)
    a, b = res.space_a, res.space_b
    sentences = [composition_sentence(p, a, b) for p in pairs[:top]]
    return {"k": m, "classes": names, "composition_a": ca, "composition_b": cb, "pairs": pairs[:top],
            "same_class": same, "sentences": sentences}


def composition_sentence(p: dict, a: str, b: str) -> str:
    """"in B, 31% of class 7's neighbours are class 1, against 4% in A"."""
    def pct(x):
        return f"{100 * x:.0f}%" if x >= 0.095 else f"{100 * x:.1f}%"

    return (f"in {b}, {pct(p['share_b'])} of class {p['class']}'s neighbours are class "
            f"{p['neighbour_class']}, against {pct(p['share_a'])} in {a}")


def composition_to_dict(shift: dict) -> dict:
    """JSON-ready form of :func:`composition_shift` (matrices as nested lists, NaN as None)."""
    def clean(m):
        return [[None if not math.isfinite(x) else round(float(x), 6) for x in row] for row in m]

    return {**shift, "composition_a": clean(shift["composition_a"]), "composition_b": clean(shift["composition_b"])}
