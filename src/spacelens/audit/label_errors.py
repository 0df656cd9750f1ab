"""Likely label errors: items whose neighbourhood carries another label, by confident learning.

The kNN graph gives each item out-of-sample predicted probabilities: the share of its k
nearest neighbours (itself excluded) holding each label, p_i(c). As in cleanlab's confident
learning (Northcutt et al. 2021, ``cleanlab.count.get_confident_thresholds``), each class j
gets its own threshold, t_j = the mean self-confidence p_i(j) of the items labelled j, so a
class that is spread out or shares its region (low t_j) is not held to the bar of a tight
one. Item i labelled y is flagged when some other class c has p_i(c) >= t_c and
p_i(c) > p_i(y): its neighbours hold c at least as confidently as c's own items do, and
more than its own label. The suggested label is the c with the largest p_i(c).

Two exclusions, both reported elsewhere rather than lost: outliers (their neighbours are
far and say little about their label) and, with ``mixed``, suggestions that are the item's
class's mixed partner (two classes that interleave are one finding, the pair, not hundreds
of single ones). Score: p_i(c) - p_i(y), the margin by which the neighbours prefer c.
"""

from __future__ import annotations

import numpy as np

from spacelens.audit.findings import Findings

_BLOCK = 1 << 16


def self_confidence(indices: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """p_i(y_i): the share of each item's neighbours that hold its own label."""
    out = np.empty(len(codes))
    for s in range(0, len(codes), _BLOCK):
        nb = codes[np.asarray(indices[s:s + _BLOCK])]
        out[s:s + _BLOCK] = (nb == codes[s:s + _BLOCK, None]).mean(axis=1)
    return out


def class_thresholds(conf: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """t_j: the mean self-confidence of the items labelled j (cleanlab's confident thresholds)."""
    size = np.bincount(codes, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.bincount(codes, weights=conf, minlength=n_classes) / size
    return np.where(size > 0, t, 1.0)


def find_label_errors(indices: np.ndarray, codes: np.ndarray, classes, *, exclude: np.ndarray | None = None,
                      mixed: set | None = None) -> Findings:
    """Flag items whose neighbours hold another label above that label's threshold (see above).

    ``codes``: label code per row; ``classes``: the label of each code; ``exclude``: rows not
    to flag (outliers); ``mixed``: pairs of codes ``(a, b)``, a < b, whose exchanges are left
    to the mixed-class finding.
    """
    n, k = indices.shape
    n_classes = len(classes)
    conf = self_confidence(indices, codes)
    t = class_thresholds(conf, codes, n_classes)
    rows, sugg, pc, py, evid = [], [], [], [], []
    for s in range(0, n, _BLOCK):
        nb = codes[np.asarray(indices[s:s + _BLOCK])]                      # b x k labels
        y = codes[s:s + _BLOCK]
        cnt = (nb[:, :, None] == nb[:, None, :]).sum(axis=2)               # count of each column's label
        own = (nb == y[:, None]).sum(axis=1)
        p = cnt / k
        ok = (nb != y[:, None]) & (p >= t[nb]) & (cnt > own[:, None])
        has = np.flatnonzero(ok.any(axis=1))
        if not len(has):
            continue
        best = np.where(ok[has], cnt[has], -1).argmax(axis=1)
        c = nb[has, best]
        r = s + has
        keep = np.ones(len(r), bool)
        if exclude is not None:
            keep &= ~exclude[r]
        if mixed:
            lo, hi = np.minimum(c, codes[r]), np.maximum(c, codes[r])
            keep &= ~np.array([(a, b) in mixed for a, b in zip(lo.tolist(), hi.tolist())], dtype=bool)
        for i in np.flatnonzero(keep):
            row = int(r[i])
            labs, counts = np.unique(nb[has[i]], return_counts=True)
            order = np.argsort(-counts, kind="stable")
            evid.append(", ".join(f"{int(counts[j])} x {classes[labs[j]]}" for j in order))
            rows.append(row)
            sugg.append(int(c[i]))
            pc.append(cnt[has[i], best[i]] / k)
            py.append(own[has[i]] / k)
    rows = np.asarray(rows, np.int64)
    sugg = np.asarray(sugg, np.int64)
    pc, py = np.asarray(pc), np.asarray(py)
    reason = [f"{int(round(a * k))} of its {k} nearest neighbours are labelled {classes[c]!r} "
              f"(class threshold {t[c]:.2f}), {int(round(b * k))} share its label {classes[codes[r]]!r}"
              for r, c, a, b in zip(rows.tolist(), sugg.tolist(), pc, py)]
    rule = ("confident learning on kNN label shares: another class c holds >= t_c of the item's "
            f"{k} neighbours and more than its own label; t_c = mean self-confidence of class c's items")
    f = Findings("label_error", rows, pc - py, reason, evid, rule=rule,
                 threshold={"per_class": {str(classes[j]): float(t[j]) for j in range(n_classes)}},
                 extra={"suggested": sugg})
    # keep the suggestion aligned with the sorted rows
    order = {int(r): i for i, r in enumerate(rows.tolist())}
    f.extra["suggested"] = np.array([sugg[order[int(r)]] for r in f.rows], dtype=np.int64)
    f.extra["confidence"] = conf
    return f
