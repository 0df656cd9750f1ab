"""Evaluate a labeled space: retrieval (P@1, R-precision, MAP@R, MAP, MRR) and clustering (NMI, AMI).

Definitions are pytorch-metric-learning's ``AccuracyCalculator``'s (see :mod:`.retrieval` and
:mod:`.clustering`); the math is pure numpy over kNN results, block by block.
"""

from spacelens.evaluate.clustering import CLUSTER_METRICS, ami, clustering_metrics, kmeans_assignment, nmi
from spacelens.evaluate.core import ALL_METRICS, evaluate_space, load_labels, sort_per_class
from spacelens.evaluate.leaderboard import (evaluation_settings, leaderboard, prune_evaluations, remove_evaluations,
                                           settings_text, superseded_evaluations)
from spacelens.evaluate.retrieval import (
    METRICS, LabelCounts, RetrievalAccumulator, RetrievalResult, encode_labels, label_counts,
    mean_average_precision, mean_average_precision_at_r, mean_reciprocal_rank, precision_at_1, r_precision,
    resolve_k, retrieval_metrics, score_block,
)

__all__ = ["ALL_METRICS", "CLUSTER_METRICS", "METRICS", "LabelCounts", "RetrievalAccumulator",
           "RetrievalResult", "ami", "clustering_metrics", "encode_labels", "evaluate_space", "evaluation_settings",
           "kmeans_assignment", "label_counts", "leaderboard", "load_labels", "mean_average_precision",
           "mean_average_precision_at_r", "mean_reciprocal_rank", "nmi", "precision_at_1", "prune_evaluations",
           "r_precision", "remove_evaluations", "resolve_k", "retrieval_metrics", "score_block", "settings_text",
           "sort_per_class", "superseded_evaluations"]
