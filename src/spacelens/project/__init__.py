"""2D maps of a space (PCA, UMAP, PCA -> UMAP), cached, with how faithful each map is.

>>> p = project(reg, "run1.val", "umap")               # doctest: +SKIP
>>> p.coords.shape, p.faithfulness["knn_preservation"]  # doctest: +SKIP
"""

from spacelens.project.align import Similarity, procrustes
from spacelens.project.core import KIND, METHODS, Projection, project, project_all, projection_params
from spacelens.project.faithfulness import TRUST_SAMPLE, knn_preservation, map_knn, trustworthiness
from spacelens.project.plots import Coloring, plot_projections, resolve_coloring, space_coloring

__all__ = ["KIND", "METHODS", "TRUST_SAMPLE", "Coloring", "Projection", "Similarity", "knn_preservation", "map_knn",
           "plot_projections", "procrustes", "project", "project_all", "projection_params", "resolve_coloring",
           "space_coloring", "trustworthiness"]
