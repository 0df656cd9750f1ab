"""Groups of items whose neighbourhoods changed together: the regions to look at first.

A mean Jaccard says how much two spaces differ; a per-item table says which items changed.
Neither says *which changes belong together*: a class split in two, a region whose items were
reshuffled, a cluster that now borders another. Like Emblaze's suggested selections, this
finds such groups automatically and describes each by its metadata.

- **Change signature** of item i: the set of its lost neighbours (in A's k list only) and of its
  gained ones (in B's only), tagged apart. Items that changed together share them: neighbours
  in A that were both torn away from the same items, or that both landed among the same ones.
- **Groups**: among the items that changed (overlap@k at most ``max_overlap``), the similarity of
  two signatures is their Jaccard index (from one sparse product of the item x signature
  matrix: only pairs that share a lost or gained neighbour are ever formed). DBSCAN
  (scikit-learn, precomputed sparse distances 1 - similarity) keeps dense groups and leaves
  isolated changes out (noise), so scattered random changes do not form a group.
- **Ranking**: by what is unusual, not by how much changed. A group that reshuffles like
  everything around it is no region to look at first (between two models every class may
  reshuffle internally). Each group's mean Jaccard is set against a reference: with a seed
  baseline (A against C, a reseeded run of A: what seeds alone change), the baseline Jaccard of
  the same items; otherwise the mean Jaccard of the rest of the group's class (the items outside
  the group holding its leading metadata value), or of all other items when the group is its
  whole class or has no leading value. ``excess`` = reference - group mean; score = size x
  excess: big groups that changed much more than their surroundings first.
- **Description**: per metadata column, the values over-represented in the group ("82%
  label=7 (vs 10% overall)"), the range of numeric columns (quantities: floats, and integers with
  many values that are not classes) whose group mean is far from the overall one ("ink 30-41
  (vs 12-60 overall)"), what the group's lost and gained neighbours were, and in words what the
  group is ("reshuffled within label=7", "moved from label=3 neighbours to label=5 ones") and how
  unusual its change is.
"""

from __future__ import annotations


import numpy as np

from spacelens.errors import SpacelensError

MAX_ITEMS = 50_000      # cluster at most this many changed items (the most changed first)
MAX_CATEGORIES = 50     # a column with more distinct values is not described value by value
MIN_SHARE = 0.25        # a value is over-represented when at least this share of the group ...
MIN_LIFT = 2.0          # ... and at least this many times its share overall
MIN_EFFECT = 0.5        # a numeric column is described when its group mean is this many SD away
RANGE = (0.1, 0.9)      # a numeric column is described by the group's central 80% of values
UNUSUAL = 0.1           # a group whose Jaccard is this much below its reference changed unusually


def signature_matrix(graph_a: np.ndarray, graph_b: np.ndarray, n_pool: int, k: int):
    """(n, 2 n_pool) sparse 0/1 CSR: row i marks its lost neighbours (column j) and gained ones
    (column n_pool + j) at ``k``; also returns per-item counts of lost and gained."""
    from scipy import sparse

    a = np.asarray(graph_a[:, :k], dtype=np.int64)
    b = np.asarray(graph_b[:, :k], dtype=np.int64)
    n = a.shape[0]
    # membership of each neighbour in the other list: (n, k, k) compares in blocks of rows
    lost = np.zeros(a.shape, dtype=bool)
    gained = np.zeros(b.shape, dtype=bool)
    step = max(1, (16 << 20) // max(1, k * k))
    for s in range(0, n, step):
        e = min(n, s + step)
        eq = a[s:e, :, None] == b[s:e, None, :]
        lost[s:e] = (a[s:e] >= 0) & ~eq.any(axis=2)
        gained[s:e] = (b[s:e] >= 0) & ~eq.any(axis=1)
    rows = np.concatenate([np.nonzero(lost)[0], np.nonzero(gained)[0]])
    cols = np.concatenate([a[lost], n_pool + b[gained]])
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, 2 * n_pool))
    m.sum_duplicates()
    m.data[:] = 1.0     # a repeated neighbour counts once
    return m, lost.sum(axis=1), gained.sum(axis=1)


def cluster_changes(signatures, candidates: np.ndarray, *, min_similarity: float = 0.15,
                    min_size: int = 5) -> np.ndarray:
    """DBSCAN labels (-1: no group) of the ``candidates`` rows of ``signatures`` by the Jaccard
    similarity of their signatures (two items are close when it is at least ``min_similarity``;
    a group's core items have at least ``min_size`` close items, themselves included)."""
    from scipy import sparse
    from sklearn.cluster import DBSCAN

    f = signatures[candidates]
    if f.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    inter = (f @ f.T).tocoo()
    size = np.asarray(f.sum(axis=1)).ravel()
    union = size[inter.row] + size[inter.col] - inter.data
    sim = np.divide(inter.data, union, out=np.zeros_like(inter.data, dtype=np.float64), where=union > 0)
    keep = sim >= min_similarity
    # distances stored explicitly (a tiny floor, so identical signatures are not read as "no edge")
    dist = sparse.csr_matrix((np.maximum(1.0 - sim[keep], 1e-9), (inter.row[keep], inter.col[keep])),
                             shape=inter.shape)
    eps = 1.0 - min_similarity + 1e-9
    return DBSCAN(eps=eps, min_samples=min_size, metric="precomputed").fit(dist).labels_.astype(np.int64)


def _is_class_column(col, name, label_columns) -> bool:
    """Whether ``col`` holds classes (described value by value) rather than a quantity (described
    by a range): strings and booleans; numbers that were evaluated with (``label_columns``) or
    whose name says they are classes; integers with at most
    :data:`spacelens.labels.MAX_INTEGER_CATEGORIES` values. A count such as "ink" is a quantity."""
    import pandas as pd

    from spacelens.labels import MAX_INTEGER_CATEGORIES, looks_like_classes

    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        return True
    if name in set(label_columns or ()) or looks_like_classes(name):
        return True
    return pd.api.types.is_integer_dtype(col) and col.nunique() <= MAX_INTEGER_CATEGORIES


def _num(x: float) -> str:
    return f"{int(round(x)):,}" if float(x).is_integer() else f"{x:.3g}"


def describe_group(members: np.ndarray, table, *, columns=None, label_columns=None) -> list[dict]:
    """What sets the group's items (``members``: row positions in ``table``) apart, per column.

    Class columns (:func:`_is_class_column`; one with more than :data:`MAX_CATEGORIES` values,
    like ids or captions, is skipped unless evaluated with or named as classes): the values with at least :data:`MIN_SHARE` of the group
    and :data:`MIN_LIFT` times their overall share. Quantities (floats, counts): the group's
    central range (:data:`RANGE` quantiles, ``low``/``high``, beside ``overall_low``/``overall_high``)
    when its mean is :data:`MIN_EFFECT` standard deviations or more from the overall mean.
    Strongest first (by lift or effect size); a value with exactly the share in and out of the
    group of a stronger one (another column recoding it) is left out."""
    from spacelens.labels import looks_like_classes

    out = []
    cols = list(table.columns) if columns is None else list(columns)
    inside = np.zeros(len(table), dtype=bool)
    inside[members] = True
    for c in cols:
        col = table[c]
        if _is_class_column(col, c, label_columns):
            named = c in set(label_columns or ()) or looks_like_classes(c)
            if col.nunique(dropna=True) > MAX_CATEGORIES and not named:
                continue     # ids, free text
            overall = col.value_counts(normalize=True, dropna=True)
            group = col[inside].value_counts(normalize=True, dropna=True)
            for value, share in group.items():
                base = float(overall.get(value, 0.0))
                if share >= MIN_SHARE and base > 0 and share >= MIN_LIFT * base:
                    out.append({"column": c, "value": value.item() if hasattr(value, "item") else value,
                                "share": float(share), "overall": base, "lift": float(share / base)})
        else:
            x = col.to_numpy(dtype=np.float64)
            sd = float(np.nanstd(x))
            if not sd > 0 or not np.isfinite(x[inside]).any():
                continue
            gm, om = float(np.nanmean(x[inside])), float(np.nanmean(x))
            effect = (gm - om) / sd
            if abs(effect) >= MIN_EFFECT:
                lo, hi = (float(v) for v in np.nanquantile(x[inside], RANGE))
                olo, ohi = (float(v) for v in np.nanquantile(x, RANGE))
                out.append({"column": c, "low": lo, "high": hi, "overall_low": olo, "overall_high": ohi,
                            "mean": gm, "overall_mean": om, "effect": effect, "lift": abs(effect)})
    out.sort(key=lambda d: -d["lift"])
    # a column that recodes another (caption "a photo of a 7" beside label 7) says nothing new
    seen, kept = set(), []
    for f in out:
        key = (round(f["share"], 9), round(f["overall"], 9)) if "value" in f else None
        if key is None or key not in seen:
            kept.append(f)
            seen.add(key)
    return kept


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.095 else f"{100 * x:.1f}%"


def feature_text(f: dict) -> str:
    """"82% label=7 (vs 10% overall)" or "ink 30–41 (vs 12–60 overall)"."""
    if "value" in f:
        return f"{_pct(f['share'])} {f['column']}={f['value']} (vs {_pct(f['overall'])} overall)"
    return (f"{f['column']} {_num(f['low'])}–{_num(f['high'])} "
            f"(vs {_num(f['overall_low'])}–{_num(f['overall_high'])} overall)")


def _top_value(values) -> tuple:
    import pandas as pd

    s = pd.Series(values).value_counts(normalize=True, dropna=True)
    if s.empty:
        return None, 0.0
    v = s.index[0]
    return (v.item() if hasattr(v, "item") else v), float(s.iloc[0])


def baseline_jaccard(res, baseline, k: int) -> np.ndarray:
    """Each compared item's Jaccard at ``k`` in the ``baseline`` comparison (A against C, a
    reseeded run of A), aligned with ``res``'s items by dataset row; NaN where it has none."""
    base_k = baseline.per_k.get(k) if getattr(baseline, "per_k", None) else None
    if base_k is None:
        if int(baseline.k) != int(k):
            raise SpacelensError(f"The baseline comparison has no Jaccard at k={k} (its k: {sorted(baseline.per_k) or baseline.k})",
                                 f"Compare the baseline pair at k={k}")
        base_k = baseline.jaccard
    brows = np.asarray(baseline.rows, dtype=np.int64)
    order = np.argsort(brows, kind="stable")
    brows, bj = brows[order], np.asarray(base_k, dtype=np.float64)[order]
    rows = np.asarray(res.rows, dtype=np.int64)
    i = np.clip(np.searchsorted(brows, rows), 0, max(0, len(brows) - 1))
    out = np.full(len(rows), np.nan)
    if len(brows):
        hit = brows[i] == rows
        out[hit] = bj[i[hit]]
    return out


def _reference(members: np.ndarray, jac: np.ndarray, feats: list[dict], items, base: np.ndarray | None,
               min_size: int) -> dict:
    """What the group's change is set against (see the module's Ranking)."""
    inside = np.zeros(len(jac), dtype=bool)
    inside[members] = True
    if base is not None:
        b = base[members]
        if np.isfinite(b).sum() >= max(1, len(members) // 2):
            return {"reference": float(np.nanmean(b)), "against": "baseline"}
    lead = next((f for f in feats if "value" in f), None)
    if lead is not None and items is not None:
        same = (items[lead["column"]].to_numpy() == lead["value"]) & ~inside
        if same.sum() >= min_size:
            return {"reference": float(jac[same].mean()), "against": "class",
                    "class": {"column": lead["column"], "value": lead["value"]}}
    if (~inside).any():
        return {"reference": float(jac[~inside].mean()), "against": "rest"}
    return {"reference": float(jac.mean()), "against": "rest"}


def change_groups(res, table=None, *, k: int | None = None, columns=None, max_overlap: float = 0.5,
                  min_similarity: float = 0.15, min_size: int = 5, top: int = 10,
                  max_items: int = MAX_ITEMS, baseline=None, label_columns=None) -> dict:
    """Groups of items of comparison ``res`` whose neighbourhoods changed together, ranked by how
    unusual their change is.

    ``table``: the dataset's metadata (a DataFrame, row i = dataset row i) to describe groups by,
    against the shares among the compared items;
    ``columns``: which of its columns (default all); ``label_columns``: columns that hold
    classes whatever their type (evaluated with). ``max_overlap``: an item counts as changed
    when it kept at most this share of its k neighbours. ``min_similarity``/``min_size``: the
    DBSCAN settings (see :func:`cluster_changes`). ``max_items``: at most this many changed items
    are clustered, the most changed first (said in ``info``). ``baseline``: the comparison of A
    with a reseeded run of A (what seeds alone change) to rank groups against; without it
    groups are set against the rest of their class (see the module's Ranking).

    Returns ``{"k", "n_items", "n_changed", "n_clustered", "n_grouped", "against", "groups": [...]}``;
    each group: ``rank``, ``n``, ``rows`` and ``ids`` (dataset rows and ids, most changed first),
    ``mean_jaccard``, ``mean_overlap``, ``reference`` (the Jaccard it is set against),
    ``against`` ("baseline", "class" or "rest"), ``class`` (when against its class),
    ``excess`` (reference - mean Jaccard), ``unusual`` (excess >= :data:`UNUSUAL`), ``score``
    (n x excess), ``features`` (:func:`describe_group`), ``lost``/``gained`` (the most common
    value of the first described column among the lost/gained neighbours, with its share),
    ``kind`` (what the group is, in words) and ``description`` (one line).
    """
    from spacelens.compare.insight import _need_graphs

    _need_graphs(res)
    k = res.k if k is None else int(k)
    if k not in res.per_k:
        raise SpacelensError(f"k={k} is not on this comparison's curve ({sorted(res.per_k)})",
                             "Compare with that k (e.g. -k 5,10)")
    if not 0 <= max_overlap < 1:
        raise SpacelensError(f"max_overlap must be in [0, 1), got {max_overlap}",
                             "Pass e.g. 0.5 (items that kept at most half their neighbours)")
    cols = None if table is None else (list(table.columns) if columns is None else list(columns))
    if table is not None and cols:
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise SpacelensError(f"No metadata column {', '.join(map(repr, missing))} to describe groups by",
                                 f"Use some of: {', '.join(map(str, table.columns))}")
    m = min(k, res.graph_a.shape[1])
    jac = np.asarray(res.per_k[k], dtype=np.float64)
    ov = np.asarray(res.overlap_k.get(k, 2 * jac / (1 + jac)), dtype=np.float64)   # o = 2J / (1 + J)
    base = baseline_jaccard(res, baseline, k) if baseline is not None else None
    n_pool = len(res.pool_rows)
    sig, n_lost, n_gained = signature_matrix(res.graph_a, res.graph_b, n_pool, m)
    changed = np.flatnonzero(ov <= max_overlap + 1e-9)
    order = changed[np.lexsort((changed, jac[changed]))]     # most changed first
    cand = order[:max_items]
    labels = cluster_changes(sig, cand, min_similarity=min_similarity, min_size=min_size)
    all_rows = np.asarray(res.rows)
    # shares "overall" are among the compared items (e.g. the val split), not the whole dataset
    items = table.iloc[all_rows].reset_index(drop=True) if table is not None and cols else None
    groups = []
    for g in range(int(labels.max()) + 1 if len(labels) else 0):
        members = cand[labels == g]          # positions among the compared items, most changed first
        mj = float(jac[members].mean())
        feats = describe_group(members, items, columns=cols, label_columns=label_columns) if items is not None else []
        d = {"n": len(members), "members": members, "mean_jaccard": mj, "mean_overlap": float(ov[members].mean()),
             "features": feats, **_reference(members, jac, feats, items, base, min_size)}
        d["excess"] = d["reference"] - mj
        d["unusual"] = bool(d["excess"] >= UNUSUAL)
        d["score"] = float(len(members) * d["excess"])
        groups.append(d)
    groups.sort(key=lambda d: (-d["score"], int(d["members"][0])))
    described = groups[:top]
    for rank, d in enumerate(described, 1):
        members = d.pop("members")
        rows = all_rows[members]
        d.update({"rank": rank, "rows": rows.tolist(), "ids": [str(x) for x in res.ids[members]],
                  "n_lost": int(n_lost[members].sum()), "n_gained": int(n_gained[members].sum())})
        feats = d["features"]
        lead = next((f["column"] for f in feats if "value" in f), None)
        if lead is None and cols and table is not None and _is_class_column(table[cols[0]], cols[0], label_columns):
            lead = cols[0]
        if lead is not None:
            vals = table[lead].to_numpy()
            lost_pos = sig[members][:, :n_pool].indices
            gained_pos = sig[members][:, n_pool:].indices
            lv, ls = _top_value(vals[res.pool_rows[lost_pos]])
            gv, gs = _top_value(vals[res.pool_rows[gained_pos]])
            d["lost"] = {"column": lead, "value": lv, "share": ls}
            d["gained"] = {"column": lead, "value": gv, "share": gs}
        d["kind"] = group_kind(d)
        d["description"] = group_sentence(d)
    for d in groups[top:]:
        d.pop("members")
    return {"k": k, "n_items": len(jac), "n_changed": len(changed), "n_clustered": len(cand),
            "n_grouped": int(sum(d["n"] for d in groups)), "n_groups": len(groups), "max_overlap": max_overlap,
            "min_similarity": min_similarity, "min_size": min_size,
            "against": "baseline" if base is not None else "class",
            "mean_jaccard": float(jac.mean()) if len(jac) else None,
            "baseline_mean_jaccard": float(np.nanmean(base)) if base is not None and np.isfinite(base).any() else None,
            "groups": described}


def group_kind(d: dict) -> str:
    """What the group is, in words: "reshuffled within label=7" (its neighbours stay of its own
    value), "moved from label=3 neighbours to label=5 ones", or "reshuffled" (no class known)."""
    lost, gained = d.get("lost"), d.get("gained")
    own = next((f for f in d.get("features") or [] if "value" in f), None)
    if lost and gained and lost["value"] is not None and gained["value"] is not None:
        c = lost["column"]
        if lost["value"] == gained["value"]:
            if own is not None and own["column"] == c and own["value"] == lost["value"]:
                return f"reshuffled within {c}={lost['value']}"
            return f"neighbours reshuffled among {c}={lost['value']}"
        return f"moved from {c}={lost['value']} neighbours to {c}={gained['value']} ones"
    if own is not None:
        return f"reshuffled, mostly {own['column']}={own['value']}"
    return "reshuffled"


def _against_text(d: dict) -> str:
    if d.get("against") == "baseline":
        return "its items between A and the reseeded run (seed noise)"
    if d.get("against") == "class" and d.get("class"):
        return f"the rest of {d['class']['column']}={d['class']['value']}"
    return "the other items"


def group_sentence(d: dict) -> str:
    """"120 items, reshuffled within label=7: 82% label=7 (vs 10% overall); mean Jaccard 0.12
    against 0.85 for the rest of label=7: unusual; lost neighbours mostly label=7 (64%), gained
    mostly label=1 (58%)"."""
    parts = [f"{d['n']:,} items, {d.get('kind') or group_kind(d)}"]
    feats = d.get("features") or []
    head = "; ".join(feature_text(f) for f in feats[:2])
    if head:
        parts[0] += f": {head}"
    if "reference" in d:
        verdict = ("changed more than" if d.get("unusual") else "changed about as much as")
        parts.append(f"mean Jaccard {d['mean_jaccard']:.2f} against {d['reference']:.2f} for "
                     f"{_against_text(d)}: {verdict} that")
    else:
        parts.append(f"mean Jaccard {d['mean_jaccard']:.2f}")
    lost, gained = d.get("lost"), d.get("gained")
    if lost and gained and lost["value"] is not None and gained["value"] is not None:
        c = lost["column"]
        parts.append(f"lost neighbours mostly {c}={lost['value']} ({_pct(lost['share'])}), gained mostly "
                     f"{c}={gained['value']} ({_pct(gained['share'])})")
    return "; ".join(parts)


def groups_to_dict(out: dict) -> dict:
    """JSON-ready (NaN as None)."""
    from spacelens.jsonable import jsonable

    return jsonable(out)
