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
- **Ranking**: size x disagreement (items x (1 - their mean Jaccard)): big groups that changed
  a lot first.
- **Description**: per metadata column, the values over-represented in the group ("82%
  label=7 (vs 10% overall)"), numeric columns whose group mean is far from the overall one,
  and, for the first described column, what the group's lost and gained neighbours were.
"""

from __future__ import annotations


import numpy as np

from spacelens.errors import SpacelensError

MAX_ITEMS = 50_000      # cluster at most this many changed items (the most changed first)
MAX_CATEGORIES = 50     # a column with more distinct values is not described value by value
MIN_SHARE = 0.25        # a value is over-represented when at least this share of the group ...
MIN_LIFT = 2.0          # ... and at least this many times its share overall
MIN_EFFECT = 0.5        # a numeric column is described when its group mean is this many SD away


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


def describe_group(members: np.ndarray, table, *, columns=None) -> list[dict]:
    """What sets the group's items (``members``: row positions in ``table``) apart, per column.

    Categorical columns (text, booleans, integers with at most :data:`MAX_CATEGORIES` values; text
    with more, like ids or captions, is skipped): the values with
    at least :data:`MIN_SHARE` of the group and :data:`MIN_LIFT` times their overall share.
    Other numeric columns: the group mean when it is :data:`MIN_EFFECT` standard deviations or more
    from the overall mean. Strongest first (by lift or effect size); a value with exactly the
    share in and out of the group of a stronger one (another column recoding it) is left out."""
    import pandas as pd

    out = []
    cols = list(table.columns) if columns is None else list(columns)
    inside = np.zeros(len(table), dtype=bool)
    inside[members] = True
    for c in cols:
        col = table[c]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        n_unique = col.nunique(dropna=True)
        categorical = not numeric or (pd.api.types.is_integer_dtype(col) and n_unique <= MAX_CATEGORIES)
        if categorical:
            if n_unique > MAX_CATEGORIES:
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
            if not sd > 0:
                continue
            gm, om = float(np.nanmean(x[inside])), float(np.nanmean(x))
            effect = (gm - om) / sd
            if abs(effect) >= MIN_EFFECT:
                out.append({"column": c, "mean": gm, "overall_mean": om, "effect": effect, "lift": abs(effect)})
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
    """"82% label=7 (vs 10% overall)" or "mean price 12.3 (vs 4.1 overall)"."""
    if "value" in f:
        return f"{_pct(f['share'])} {f['column']}={f['value']} (vs {_pct(f['overall'])} overall)"
    return f"mean {f['column']} {f['mean']:.4g} (vs {f['overall_mean']:.4g} overall)"


def _top_value(values) -> tuple:
    import pandas as pd

    s = pd.Series(values).value_counts(normalize=True, dropna=True)
    if s.empty:
        return None, 0.0
    v = s.index[0]
    return (v.item() if hasattr(v, "item") else v), float(s.iloc[0])


def change_groups(res, table=None, *, k: int | None = None, columns=None, max_overlap: float = 0.5,
                  min_similarity: float = 0.15, min_size: int = 5, top: int = 10,
                  max_items: int = MAX_ITEMS) -> dict:
    """Groups of items of comparison ``res`` whose neighbourhoods changed together, ranked.

    ``table``: the dataset's metadata (a DataFrame, row i = dataset row i) to describe groups by,
    against the shares among the compared items;
    ``columns``: which of its columns (default all). ``max_overlap``: an item counts as changed
    when it kept at most this share of its k neighbours. ``min_similarity``/``min_size``: the
    DBSCAN settings (see :func:`cluster_changes`). ``max_items``: at most this many changed items
    are clustered, the most changed first (said in ``info``).

    Returns ``{"k", "n_items", "n_changed", "n_clustered", "n_grouped", "groups": [...]}``;
    each group: ``rank``, ``n``, ``rows`` and ``ids`` (dataset rows and ids, most changed first),
    ``mean_jaccard``, ``mean_overlap``, ``score`` (n x (1 - mean Jaccard)), ``features``
    (:func:`describe_group`), ``lost``/``gained`` (the most common value of the first described
    column among the lost/gained neighbours, with its share) and ``description`` (one line).
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
    m = min(k, res.graph_a.shape[1])
    jac = np.asarray(res.per_k[k], dtype=np.float64)
    ov = np.asarray(res.overlap_k.get(k, 2 * jac / (1 + jac)), dtype=np.float64)   # o = 2J / (1 + J)
    n_pool = len(res.pool_rows)
    sig, n_lost, n_gained = signature_matrix(res.graph_a, res.graph_b, n_pool, m)
    changed = np.flatnonzero(ov <= max_overlap + 1e-9)
    order = changed[np.lexsort((changed, jac[changed]))]     # most changed first
    cand = order[:max_items]
    labels = cluster_changes(sig, cand, min_similarity=min_similarity, min_size=min_size)
    groups = []
    for g in range(int(labels.max()) + 1 if len(labels) else 0):
        members = cand[labels == g]          # positions among the compared items, most changed first
        mj = float(jac[members].mean())
        groups.append({"n": len(members), "members": members, "mean_jaccard": mj,
                       "mean_overlap": float(ov[members].mean()), "score": float(len(members) * (1 - mj))})
    groups.sort(key=lambda d: (-d["score"], int(d["members"][0])))
    described = groups[:top]
    cols = None if table is None else (list(table.columns) if columns is None else list(columns))
    if table is not None and cols:
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise SpacelensError(f"No metadata column {', '.join(map(repr, missing))} to describe groups by",
                                 f"Use some of: {', '.join(map(str, table.columns))}")
    all_rows = np.asarray(res.rows)
    # shares "overall" are among the compared items (e.g. the val split), not the whole dataset
    items = table.iloc[all_rows].reset_index(drop=True) if table is not None and cols else None
    for rank, d in enumerate(described, 1):
        members = d.pop("members")
        rows = all_rows[members]
        d.update({"rank": rank, "rows": rows.tolist(), "ids": [str(x) for x in res.ids[members]],
                  "n_lost": int(n_lost[members].sum()), "n_gained": int(n_gained[members].sum())})
        feats = describe_group(members, items, columns=cols) if items is not None else []
        d["features"] = feats
        lead = feats[0]["column"] if feats else (cols[0] if cols else None)
        if lead is not None:
            vals = table[lead].to_numpy()
            lost_pos = sig[members][:, :n_pool].indices
            gained_pos = sig[members][:, n_pool:].indices
            lv, ls = _top_value(vals[res.pool_rows[lost_pos]])
            gv, gs = _top_value(vals[res.pool_rows[gained_pos]])
            d["lost"] = {"column": lead, "value": lv, "share": ls}
            d["gained"] = {"column": lead, "value": gv, "share": gs}
        d["description"] = group_sentence(d)
    for d in groups[top:]:
        d.pop("members")
    return {"k": k, "n_items": len(jac), "n_changed": len(changed), "n_clustered": len(cand),
            "n_grouped": int(sum(d["n"] for d in groups)), "n_groups": len(groups), "max_overlap": max_overlap,
            "min_similarity": min_similarity, "min_size": min_size, "groups": described}


def group_sentence(d: dict) -> str:
    """"120 items: 82% label=7 (vs 10% overall); mean Jaccard 0.12; lost mostly label=7 (64%),
    gained mostly label=1 (58%)"."""
    parts = [f"{d['n']:,} items"]
    feats = d.get("features") or []
    head = "; ".join(feature_text(f) for f in feats[:2])
    if head:
        parts.append(head)
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
