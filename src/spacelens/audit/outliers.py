"""Outliers: items far from their nearest neighbours, relative to the space and to their class.

Each item's score is its mean distance to its k nearest neighbours (cleanlab's
``OutOfDistribution`` uses the same average kNN distance). It is read against the space's
own distribution on a log scale, with the modified z-score of Iglewicz and Hoaglin:
z = (log m_i - median) / (1.4826 x MAD); an item is an outlier when z > 3.5. With labels, the
same z is also computed within each class of at least ``MIN_CLASS`` items (an item loose for
its tight class); ``by_class`` flags those too. Robust statistics: the outliers themselves
do not move the bar.
"""

from __future__ import annotations

import numpy as np

from spacelens.audit.findings import Findings

Z = 3.5
MIN_CLASS = 20


def _robust_z(x: np.ndarray) -> np.ndarray:
    med = np.median(x)
    mad = 1.4826 * np.median(np.abs(x - med))
    if mad <= 0:
        return np.zeros_like(x)
    return (x - med) / mad


def find_outliers(distances: np.ndarray, codes: np.ndarray | None = None, classes=None, *,
                  by_class: bool = False, z: float = Z) -> Findings:
    """Items whose log mean kNN distance has a robust z above ``z`` in the space (or, with
    ``by_class``, in their class)."""
    n, k = distances.shape
    m = np.maximum(np.asarray(distances, dtype=np.float64).mean(axis=1), 0)
    floor = max(float(np.min(m[m > 0])) if (m > 0).any() else 1e-12, 1e-12)
    logm = np.log(np.maximum(m, floor))
    zg = _robust_z(logm)
    zc = np.zeros(n)
    if codes is not None:
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for grp in np.split(order, bounds):
            if len(grp) >= MIN_CLASS:
                zc[grp] = _robust_z(logm[grp])
    flag = zg > z
    if by_class and codes is not None:
        flag |= zc > z
    rows = np.flatnonzero(flag)
    med = float(np.exp(np.median(logm)))
    reason, evid = [], []
    for r in rows.tolist():
        cls = f"; {zc[r]:.1f} within class {classes[codes[r]]!r}" if codes is not None else ""
        reason.append(f"its {k} nearest neighbours are {m[r]:.3g} away on average, {m[r] / med:.1f}x the "
                      f"space's median ({med:.3g}): robust z {zg[r]:.1f}{cls}")
        evid.append(f"mean kNN distance {m[r]:.3g}")
    rule = (f"robust z of log mean distance to the {k} nearest neighbours > {z:g} (median +- 1.4826 MAD)"
            + ("; also within the item's class" if by_class else ""))
    return Findings("outlier", rows, np.maximum(zg, zc if by_class else zg)[rows], reason, evid, rule=rule,
                    threshold={"z": z, "median_distance": med}, extra={"z": zg, "z_class": zc})
