"""The audit of one space: every detector on one kNN graph, then the effect on the figures.

The graph is the space's stored kNN graph (:func:`spacelens.neighbors.knn_graph`: cached,
shared with compare, evaluate and the page; exact when cheap, else approximate with its
measured recall, which the result states). Every detector reads the same ``k`` neighbours:
duplicates and leaks (:mod:`.duplicates`), outliers (:mod:`.outliers`), with labels mixed
classes (:mod:`.mixed_classes`) and label errors (:mod:`.label_errors`), then, with labels,
what leaving the flagged queries out does to MAP@R, R-precision and P@1 (:mod:`.effect`).
Detection is O(n k) on the graph; only the effect needs the evaluation's own neighbours.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from spacelens.audit import duplicates, label_errors, mixed_classes, outliers
from spacelens.audit.findings import KINDS, Findings
from spacelens.audit.result import AuditResult, answer_sentence
from spacelens.errors import SpacelensError

DEFAULT_K = 10


def holds_splits(reg, space, split_field: str) -> bool:
    """Whether ``space``'s own items hold two or more values of ``split_field``: only then can an
    item leak across splits (spaces of a dataset's val split only hold one)."""
    from spacelens.evaluate.core import _column

    rec = reg.space(space) if isinstance(space, str) else space
    return pd.Series(_column(reg, rec, split_field, "splits")).nunique(dropna=True) >= 2


def _splits(reg, rec, split_field, query_split, reference_split):
    """``(split names per row, query mask, reference mask, summary)``: the query split is the one
    given, else the smallest; the reference split is the one given, else every other."""
    from spacelens.evaluate.core import _column

    raw = _column(reg, rec, split_field, "splits")
    values = np.array([str(v) for v in raw], dtype=object)
    names, codes = np.unique(values, return_inverse=True)
    if query_split is None:
        if len(names) < 2:
            raise SpacelensError(f"Column {split_field!r} holds one split only ({names[0]!r}): nothing can leak",
                                 "Leave --split-field out, or name a column with two or more splits")
        sizes = np.bincount(codes)
        query_split = str(names[int(np.argmin(sizes))])
    for val, role in ((query_split, "query"), (reference_split, "reference")):
        if val is not None and str(val) not in set(names.tolist()):
            raise SpacelensError(f"No item has {split_field}={val!r} ({role} split)",
                                 f"Values of {split_field!r}: {', '.join(map(str, names[:12]))}")
    query = values == str(query_split)
    reference = (values == str(reference_split)) if reference_split is not None else ~query
    summary = {"field": split_field, "query": str(query_split),
               "reference": str(reference_split) if reference_split is not None else "all other splits",
               "n_query": int(query.sum()), "n_reference": int(reference.sum())}
    return codes, names, query, reference, summary


def _frame(findings: list[Findings], ids, labels, classes, dataset_rows) -> pd.DataFrame:
    cols = {k: [] for k in ("kind", "id", "score", "reason", "evidence", "partner_id", "label", "suggested_label",
                            "row", "partner_row")}
    for f in findings:
        for i, r in enumerate(f.rows.tolist()):
            p = int(f.partner[i])
            pid = str(ids[p]) if p >= 0 else None
            cols["kind"].append(f.kind)
            cols["id"].append(str(ids[r]))
            cols["score"].append(float(f.score[i]))
            cols["reason"].append(f.reason[i].replace("{partner}", repr(pid)) if pid is not None else f.reason[i])
            cols["evidence"].append(f.evidence[i])
            cols["partner_id"].append(pid)
            cols["label"].append(None if labels is None else labels[r])
            sugg = f.extra.get("suggested")
            cols["suggested_label"].append(classes[sugg[i]] if sugg is not None else None)
            cols["row"].append(int(dataset_rows[r]))
            cols["partner_row"].append(int(dataset_rows[p]) if p >= 0 else None)
    cols["partner_row"] = pd.array(cols["partner_row"], dtype="Int64")   # whole rows, missing where none
    return pd.DataFrame(cols)


def _kind_summary(f: Findings, n: int) -> dict:
    out = {"n": len(f), "share": len(f) / max(n, 1), "rule": f.rule, "threshold": f.threshold}
    if "exact" in f.extra:
        out["exact"] = f.extra["exact"]
    return out


def audit_space(reg, space: str, *, label_field: str | None = None, split_field: str | None = None,
                query_split=None, reference_split=None, k: int = DEFAULT_K, metric: str = "cosine",
                engine: str = "auto", threshold: float | None = None, outliers_by_class: bool = False,
                effect: bool = True, sample: int | None = None, seed: int = 0) -> AuditResult:
    """Audit ``space`` (see the module docstring); the arguments are those of :func:`spacelens.audit`."""
    from spacelens.neighbors import knn_graph, recall_at

    t0 = time.perf_counter()
    rec = reg.space(space)
    n = rec.n_rows
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise SpacelensError(f"k={k!r} must be a positive whole number", "Pass e.g. k=10")
    if n < 3:
        raise SpacelensError(f"Space {space!r} has {n} items: too few to audit", "Audit a space of 3 or more items")
    k = int(min(k, n - 1))
    if threshold is not None and not (isinstance(threshold, (int, float)) and threshold >= 0):
        raise SpacelensError(f"threshold={threshold!r} must be a distance >= 0", "Pass e.g. threshold=0.01")
    # a stored graph with >= k neighbours serves; else one of exactly k is built (the shared 50 would
    # cost exact search 3-5x more: faiss's top-k selection grows with k at small dimensions)
    graph = knn_graph(reg, rec, k, metric=metric, engine=engine, k_max=k)
    idx = np.asarray(graph.indices[:, :k])
    dist = np.asarray(graph.distances[:, :k])
    t_graph = time.perf_counter() - t0
    ids = reg.space_ids(rec)
    drows = reg.load_rows(rec)
    vectors = reg.load_vectors(rec)

    labels = codes = classes = None
    if label_field is not None:
        from spacelens.evaluate.core import load_labels

        labels = load_labels(reg, rec, label_field)
        codes, classes = pd.factorize(labels)
        codes = codes.astype(np.int64)
        classes = np.asarray(classes, dtype=object)
    split_codes = names = query = reference = split_summary = None
    if split_field is not None:
        split_codes, names, query, reference, split_summary = _splits(reg, rec, split_field, query_split,
                                                                      reference_split)
    elif query_split is not None or reference_split is not None:
        raise SpacelensError("A query or reference split was given without --split-field",
                             "Pass --split-field COLUMN too")

    leaks, dups, dup_info = duplicates.find_duplicates(idx, dist, vectors, threshold=threshold,
                                                       split_codes=split_codes, query=query, reference=reference,
                                                       split_names=names)
    outl = outliers.find_outliers(dist, codes, classes, by_class=outliers_by_class)
    found = [leaks, dups] if split_field is not None else [dups]
    mixed = None
    if labels is not None:
        mixed = mixed_classes.find_mixed_classes(idx, codes, classes)
        exclude = np.zeros(n, bool)
        exclude[outl.rows] = True
        errs = label_errors.find_label_errors(idx, codes, classes, exclude=exclude,
                                              mixed={p["codes"] for p in mixed})
        found.append(errs)
    found.append(outl)
    frame = _frame(found, ids, None if labels is None else np.asarray(labels, dtype=object), classes, drows)

    data = {"space": rec.name, "dataset": rec.dataset, "n_items": int(n), "k": k, "metric": metric,
            "label_field": label_field,
            "graph": {"engine": graph.engine, "exact": bool(graph.exact),
                      **({"recall": recall_at(graph.info, k)} if not graph.exact else {})},
            "splits": split_summary, "duplicate_threshold": dup_info,
            "kinds": {f.kind: _kind_summary(f, n) for f in found},
            "mixed_classes": None if mixed is None else [{kk: v for kk, v in p.items() if kk != "codes"}
                                                         for p in mixed],
            "mixed_rule": mixed_classes.RULE, "effect": None, "versus": None}
    if labels is not None and effect:
        sets = {}
        if split_field is not None:
            sets["leak"] = drows[leaks.rows]
        else:
            sets["duplicate"] = drows[np.unique(np.concatenate([dups.rows, dups.partner]))] if len(dups) else []
        sets["label_error"] = drows[errs.rows]
        # what a "clean" figure leaves out (the leaderboard's clean column): leaks and likely label errors
        leaked = drows[leaks.rows] if split_field is not None else np.zeros(0, np.int64)
        sets["clean"] = np.union1d(leaked, drows[errs.rows])
        sets["any"] = np.unique(frame["row"].to_numpy()) if len(frame) else []
        from spacelens.audit.effect import effect_on_metrics

        sq = dict(split_field=split_field, query_split=split_summary["query"],
                  reference_split=reference_split) if split_summary else {}
        if split_summary and reference_split is None and len(names) == 2:
            sq["reference_split"] = str([x for x in names if str(x) != split_summary["query"]][0])
        data["effect"] = effect_on_metrics(reg, rec.name, sets, label_field=label_field, metric=metric,
                                           engine=engine, seed=seed, sample=sample, **sq)
    data["seconds"] = {"graph": round(t_graph, 3), "total": round(time.perf_counter() - t0, 3)}
    data["answer"] = answer_sentence(data)
    return AuditResult(data, frame)


def compare_flags(a: AuditResult, b: AuditResult) -> dict:
    """Which flags both spaces raise (likely the data's problem) and which only one (likely the
    model's): per kind, items matched by dataset row; mixed pairs by their two labels."""
    fa, fb = a.to_frame(), b.to_frame()
    out = {"space_a": a.space, "space_b": b.space, "kinds": {}}
    for kind in KINDS:
        ra = set(fa.loc[fa["kind"] == kind, "row"].tolist())
        rb = set(fb.loc[fb["kind"] == kind, "row"].tolist())
        if not ra and not rb:
            continue
        out["kinds"][kind] = {"both": len(ra & rb), "only_a": len(ra - rb), "only_b": len(rb - ra),
                              "ids_both": fa.loc[fa["row"].isin(ra & rb) & (fa["kind"] == kind), "id"].tolist(),
                              # dataset rows, for selecting each group (the page)
                              "rows_both": sorted(ra & rb), "rows_only_a": sorted(ra - rb),
                              "rows_only_b": sorted(rb - ra)}
    if a["mixed_classes"] is not None and b["mixed_classes"] is not None:
        pa = {frozenset((str(p["a"]), str(p["b"]))) for p in a["mixed_classes"]}
        pb = {frozenset((str(p["a"]), str(p["b"]))) for p in b["mixed_classes"]}
        out["mixed_classes"] = {"both": [sorted(p) for p in pa & pb], "only_a": [sorted(p) for p in pa - pb],
                                "only_b": [sorted(p) for p in pb - pa]}
    bits = []
    for kind, v in out["kinds"].items():
        from spacelens.audit.findings import WORDS

        bits.append(f"{WORDS[kind][1]}: {v['both']:,} flagged by both (likely the data's), {v['only_a']:,} by "
                    f"{a.space} only, {v['only_b']:,} by {b.space} only")
    out["sentence"] = (f"{a.space} vs {b.space}: " + "; ".join(bits) + ".") if bits else "Neither space flags anything."
    return out
