"""Aligning one map onto another so the same items sit in comparable places.

Two maps of different spaces (or two UMAP runs) are only defined up to rotation, reflection,
scale and shift. Orthogonal Procrustes with scale and translation finds the similarity
transform ``y ~ s * x @ R + t`` that best matches the shared items (least squares), and
applies it to every point of the map. Distances inside the map only scale, so faithfulness
measures are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacelens.errors import SpacelensError


@dataclass
class Similarity:
    """``y = scale * x @ rotation + translation``; ``rms``: residual on the fitted points."""

    scale: float
    rotation: np.ndarray  # (2, 2) orthogonal (a reflection when its determinant is -1)
    translation: np.ndarray  # (2,)
    rms: float
    n_shared: int

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (self.scale * (np.asarray(x, np.float64) @ self.rotation) + self.translation).astype(np.float32)

    def to_dict(self) -> dict:
        return {"scale": float(self.scale), "rotation": self.rotation.tolist(),
                "translation": self.translation.tolist(), "rms": float(self.rms), "n_shared": self.n_shared}


def procrustes(x: np.ndarray, y: np.ndarray) -> Similarity:
    """The similarity transform (rotation/reflection, uniform scale, shift) taking ``x`` to ``y``."""
    from scipy.linalg import orthogonal_procrustes

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape or len(x) < 3:
        raise SpacelensError(f"Procrustes alignment needs at least 3 matched points, got {len(x)}",
                             "Align maps of spaces that share items (same dataset ids)")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    x0, y0 = x - mx, y - my
    sx = float((x0 ** 2).sum())
    if sx == 0:
        raise SpacelensError("The map to align has all its shared items at one point",
                             "Recompute the map (e.g. another --seed or --method)")
    rot, sigma_sum = orthogonal_procrustes(x0, y0)  # argmin |x0 R - y0|, and the trace of x0' y0 R
    scale = float(sigma_sum) / sx
    t = my - scale * mx @ rot
    resid = scale * x @ rot + t - y
    return Similarity(scale, rot, t, float(np.sqrt((resid ** 2).sum(axis=1).mean())), len(x))


def shared_positions(ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(ia, ib)`` with ``ids_a[ia] == ids_b[ib]``, in ``ids_a`` order."""
    import pandas as pd

    pos = pd.Index(ids_b).get_indexer(ids_a)
    ia = np.flatnonzero(pos >= 0)
    return ia, pos[ia]
