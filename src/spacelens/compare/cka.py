"""Linear CKA: a global similarity of two spaces that does not depend on k.

Linear centered kernel alignment (Kornblith et al. 2019) of X (N, dx) and Y (N, dy), rows
aligned, columns centered:

    CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)

which equals HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) for the linear kernels K = X X^T,
L = Y Y^T, without ever forming the N x N kernels: only the d x d feature Grams, summed
over blocks of rows. Memory is O(d^2 + block * d) whatever N (blocks of 8 MB in float64), time O(N d^2).

Precision: a first pass takes the column means (float64 sums); the second centres each
block and multiplies it in ``precision`` (float32 by default: 1.5x faster GEMMs, and with
centred blocks of 8k rows the result agrees with float64 to ~1e-8), always accumulating the
block products in float64, so sums over millions of rows keep their precision.

It is invariant to rotations and isotropic scaling of either space, 1 for identical
spaces (up to those), near 0 for unrelated ones.
"""

from __future__ import annotations

import numpy as np

_BLOCK_BYTES = 8 << 20  # one float64 block of rows: bounds the temporaries (a few such blocks)


def _normalized64(x: np.ndarray) -> np.ndarray:
    """Rows L2-normalised, as a new float64 array (a zero row stays zero)."""
    out = np.array(x, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    norms[norms == 0] = 1.0
    out /= norms[:, None]
    return out


def linear_cka(x: np.ndarray, y: np.ndarray, rows_x: np.ndarray | None = None, rows_y: np.ndarray | None = None,
               normalize_x: bool = False, normalize_y: bool = False, block: int | None = None,
               precision: str = "float32") -> float:
    """Linear CKA of two row-aligned spaces (memory-safe, blocked; float64 accumulation).

    ``rows_x``/``rows_y`` select the rows to use, item i being ``x[rows_x[i]]`` and
    ``y[rows_y[i]]`` (spaces compared on a shared subset of items); ``normalize_*``
    L2-normalises rows first (how a cosine space sees its vectors; a zero row stays zero).
    ``precision``: dtype of the per-block products ("float32" or "float64").
    Returns NaN when either space is constant (no variance to align).
    """
    n = x.shape[0] if rows_x is None else len(rows_x)
    ny = y.shape[0] if rows_y is None else len(rows_y)
    if ny != n or n == 0:
        raise ValueError(f"spaces must have the same rows; got {n} and {ny}")
    dt = np.dtype(precision)
    block = block or max(256, _BLOCK_BYTES // (8 * max(x.shape[1], y.shape[1])))

    def blocks():
        for s in range(0, n, block):
            bx = np.asarray(x[s:s + block] if rows_x is None else x[rows_x[s:s + block]])
            by = np.asarray(y[s:s + block] if rows_y is None else y[rows_y[s:s + block]])
            bx = _normalized64(bx) if normalize_x else bx
            by = _normalized64(by) if normalize_y else by
            yield bx, by

    sx = np.zeros(x.shape[1])
    sy = np.zeros(y.shape[1])
    for bx, by in blocks():
        sx += bx.sum(axis=0, dtype=np.float64)
        sy += by.sum(axis=0, dtype=np.float64)
    mx, my = (sx / n).astype(dt), (sy / n).astype(dt)
    xx = np.zeros((x.shape[1], x.shape[1]))
    yy = np.zeros((y.shape[1], y.shape[1]))
    yx = np.zeros((y.shape[1], x.shape[1]))
    for bx, by in blocks():
        cx = np.subtract(bx, mx, dtype=dt)
        cy = np.subtract(by, my, dtype=dt)
        xx += cx.T @ cx
        yy += cy.T @ cy
        yx += cy.T @ cx
    den = np.linalg.norm(xx) * np.linalg.norm(yy)
    if not den > 0:
        return float("nan")
    return float(np.clip((yx * yx).sum() / den, 0.0, 1.0))
