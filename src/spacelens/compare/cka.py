"""Linear CKA (and its debiased form): a global similarity of two spaces that does not depend on k.

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


def cka_rows(metric_a: str, metric_b: str | None = None) -> str:
    """What rows a compare's CKA was computed on, for its label: under cosine L2-normalised
    rows (as Huh et al.'s platonic-representation pipeline, not Kornblith et al.'s raw
    features), under l2 and dot the rows as given."""
    metric_b = metric_a if metric_b is None else metric_b
    na, nb = metric_a == "cosine", metric_b == "cosine"
    if na and nb:
        return "on L2-normalised rows"
    if not na and not nb:
        return "on raw rows"
    return f"on A's rows {'L2-normalised' if na else 'raw'}, B's {'L2-normalised' if nb else 'raw'}"


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
    return cka_pair(x, y, rows_x, rows_y, normalize_x, normalize_y, block, precision)["linear"]


def unbiased_cka(x: np.ndarray, y: np.ndarray, rows_x: np.ndarray | None = None, rows_y: np.ndarray | None = None,
                 normalize_x: bool = False, normalize_y: bool = False, block: int | None = None,
                 precision: str = "float32") -> float:
    """Debiased linear CKA: CKA with the unbiased HSIC estimator (Song et al. 2012) in place of
    the biased one. Same arguments as :func:`linear_cka`; see :func:`cka_pair`."""
    return cka_pair(x, y, rows_x, rows_y, normalize_x, normalize_y, block, precision)["unbiased"]


def cka_pair(x: np.ndarray, y: np.ndarray, rows_x: np.ndarray | None = None, rows_y: np.ndarray | None = None,
             normalize_x: bool = False, normalize_y: bool = False, block: int | None = None,
             precision: str = "float32") -> dict[str, float]:
    """``{"linear": CKA, "unbiased": debiased CKA}`` of two row-aligned spaces, from one blocked pass.

    The biased (linear) CKA reads HSIC as tr(K H L H): with few items or many dimensions it
    drifts up even for unrelated spaces (30 random Gaussian items in two independent
    500-dimensional spaces: linear CKA 0.94, unbiased 0.03). The unbiased estimator (Song et al. 2012, eq. 5),

        HSIC_u(K, L) = [tr(K~ L~) + 1'K~1 1'L~1 / ((m-1)(m-2)) - 2/(m-2) 1'K~L~1] / (m(m-3)),

    with K~, L~ the kernels with zeroed diagonals, has expectation HSIC for every m, so
    unrelated spaces score about 0 (it can be slightly negative) whatever N and d. It is
    invariant to shifting either space, so it is computed on column-centred rows x_i, where
    (with D_i = |x_i|^2, E_i = |y_i|^2 and the column sums zero) the terms are
    tr(K~ L~) = |Y'X|_F^2 - sum D E, 1'K~1 = -sum D, 1'L~1 = -sum E, 1'K~L~1 = sum D E:
    O(N d^2) time, O(d^2) memory, never an N x N kernel. Needs m = N >= 4.
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

    with _one_blas_thread():
        return _cka_pass(blocks, n, x.shape[1], y.shape[1], dt)


def _one_blas_thread():
    """The block products below run in one BLAS thread. Their output is only d x d, so threads
    split little work and then wait on each other: on this project's 2-core machines, with
    anything else running, two threads took 4-7x longer than one (1M x 64: 16.7 s vs 2.3 s;
    1M x 256 and x 128: 67 s vs 15 s; bench/agreement.py)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _cka_pass(blocks, n: int, dx: int, dy: int, dt) -> dict[str, float]:
    sx = np.zeros(dx)
    sy = np.zeros(dy)
    for bx, by in blocks():
        sx += bx.sum(axis=0, dtype=np.float64)
        sy += by.sum(axis=0, dtype=np.float64)
    mx, my = (sx / n).astype(dt), (sy / n).astype(dt)
    xx = np.zeros((dx, dx))
    yy = np.zeros((dy, dy))
    yx = np.zeros((dy, dx))
    sd = se = sde = sdd = see = 0.0  # sums of D, E, D*E, D^2, E^2 (row norms of the centred rows)
    for bx, by in blocks():
        cx = np.subtract(bx, mx, dtype=dt)
        cy = np.subtract(by, my, dtype=dt)
        xx += cx.T @ cx
        yy += cy.T @ cy
        yx += cy.T @ cx
        d = np.einsum("ij,ij->i", cx, cx).astype(np.float64)  # row norms in the block's precision (4x faster
        e = np.einsum("ij,ij->i", cy, cy).astype(np.float64)  # than einsum(dtype=float64)), summed in float64
        sd, se = sd + d.sum(), se + e.sum()
        sde, sdd, see = sde + d @ e, sdd + d @ d, see + e @ e
    out = {"linear": float("nan"), "unbiased": float("nan")}
    den = np.linalg.norm(xx) * np.linalg.norm(yy)
    if den > 0:
        out["linear"] = float(np.clip((yx * yx).sum() / den, 0.0, 1.0))
    if n >= 4:
        def hsic_u(gram_sq, sum_de, s1, s2):
            return (gram_sq - sum_de + s1 * s2 / ((n - 1) * (n - 2)) - 2 * sum_de / (n - 2)) / (n * (n - 3))

        kl = hsic_u((yx * yx).sum(), sde, sd, se)
        kk = hsic_u((xx * xx).sum(), sdd, sd, sd)
        ll = hsic_u((yy * yy).sum(), see, se, se)
        if kk > 0 and ll > 0:
            out["unbiased"] = float(kl / np.sqrt(kk * ll))
    return out
