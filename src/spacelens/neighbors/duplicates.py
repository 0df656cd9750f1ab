"""Groups of identical rows, so exact search works on distinct vectors only.

Real spaces often hold exact duplicates (blank images, empty texts, repeated items). Every
member of a group is equally far from any query, so a query near a large group has its k-th
neighbour tied with hundreds of rows: searching row by row would need hundreds of candidates
per query. Searching the distinct vectors and then expanding each group into its lowest
rows gives the same answer (ties broken by lower row) at the cost of one search.

Rows are grouped by their bytes (a 64-bit key from random projections, then compared byte by
byte), so grouping never changes a distance: members are the same vector as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK_ELEMENTS = 1 << 22


@dataclass
class Groups:
    """``reps[g]``: the lowest row of group g; ``members[g]``: its lowest rows, padded with -1;
    ``of_row[r]``: the group of row r."""

    reps: np.ndarray     # int64 (m,)
    members: np.ndarray  # int64 (m, w)
    of_row: np.ndarray   # int64 (n,)


def _row_hashes(raw: np.ndarray) -> np.ndarray:
    """A 64-bit key per row: four random projections (one float32 GEMM), bits mixed.

    Identical rows get identical keys; different rows almost surely differ, and when they
    do not, :func:`duplicate_groups` sees it (it compares bytes) and keeps them apart.
    """
    n, d = raw.shape
    proj = np.random.default_rng(0x5EED).standard_normal((d, 4)).astype(np.float32)
    weights = np.random.default_rng(0x5EED + 1).integers(1, 2**63, size=4, dtype=np.uint64) | np.uint64(1)
    out = np.empty(n, dtype=np.uint64)
    step = max(1, _CHUNK_ELEMENTS // max(1, d))
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, n, step):
            e = min(n, s + step)
            p = np.asarray(raw[s:e], dtype=np.float32) @ proj
            v = np.ascontiguousarray(p).view(np.uint32).astype(np.uint64)
            v ^= v >> np.uint64(16)
            v *= np.uint64(0x9E3779B97F4A7C15)
            v ^= v >> np.uint64(29)
            v *= weights
            out[s:e] = v.sum(axis=1, dtype=np.uint64)
    return out


def _same_rows(raw: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether rows a[i] and b[i] hold the same bytes."""
    out = np.empty(len(a), dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // max(1, raw.shape[1]))
    for s in range(0, len(a), step):
        x, y = np.asarray(raw[a[s:s + step]]), np.asarray(raw[b[s:s + step]])
        out[s:s + step] = (x.view(np.uint8) == y.view(np.uint8)).reshape(len(x), -1).all(axis=1)
    return out


def duplicate_groups(raw: np.ndarray, max_members: int) -> Groups | None:
    """Groups of byte-identical rows (keeping each group's ``max_members`` lowest rows), or
    None when all rows are distinct (the common case: nothing to do)."""
    n = len(raw)
    h = _row_hashes(raw)
    order = np.argsort(h, kind="stable")          # equal hashes: ascending rows
    hs = h[order]
    new = np.ones(n, dtype=bool)
    new[1:] = hs[1:] != hs[:-1]
    if new.all():
        return None
    start = np.flatnonzero(new)
    gid = np.cumsum(new) - 1                       # group of each sorted position
    first = order[start[gid]]                      # lowest row of the same hash group
    dup = np.flatnonzero(~new)
    bad = dup[~_same_rows(raw, order[dup], first[dup])]
    key = gid.astype(np.int64)
    if len(bad):  # a hash collision: those rows form groups of their own
        key[bad] = gid[-1] + 1 + np.arange(len(bad))
        resort = np.argsort(key, kind="stable")
        order, key = order[resort], key[resort]
        new = np.ones(n, dtype=bool)
        new[1:] = key[1:] != key[:-1]
        start = np.flatnonzero(new)
        gid = np.cumsum(new) - 1
    # Groups in order of their lowest row (so group order follows row order).
    reps_sorted = order[start]
    rank = np.argsort(reps_sorted, kind="stable")
    group_of_sorted = np.empty(len(start), dtype=np.int64)
    group_of_sorted[rank] = np.arange(len(start))
    sizes = np.diff(np.append(start, n))
    w = int(min(sizes.max(), max_members))
    members = np.full((len(start), w), -1, dtype=np.int64)
    pos = np.arange(n) - start[gid]
    keep = pos < w
    members[group_of_sorted[gid[keep]], pos[keep]] = order[keep]
    of_row = np.empty(n, dtype=np.int64)
    of_row[order] = group_of_sorted[gid]
    return Groups(reps=members[:, 0].copy(), members=members, of_row=of_row)
