"""How similar are two embedding spaces of one dataset, item by item?

Per-item Jaccard of k-neighbour sets (:mod:`.jaccard`), the sampled estimate with a
confidence interval (:mod:`.sampled`), linear CKA as a global, k-free measure (:mod:`.cka`),
and the registry-facing comparison (:mod:`.core`). Plots live in :mod:`.plots` (matplotlib,
imported only when a PNG is asked for).
"""

from spacelens.compare.cka import linear_cka
from spacelens.compare.core import (Comparison, SimilarityMatrix, baseline_verdict, compare_all, compare_spaces,
                                    compare_with_baseline, load_comparison, parse_ks, primary_k, read_baseline)
from spacelens.compare.jaccard import chance_jaccard, jaccard, k_curve, shared_counts
from spacelens.compare.sampled import sampled_jaccard
from spacelens.stats import mean_ci  # public here since compare --sample; defined with the other intervals

__all__ = ["Comparison", "SimilarityMatrix", "baseline_verdict", "chance_jaccard", "compare_all", "compare_spaces",
           "compare_with_baseline", "jaccard", "k_curve", "linear_cka", "load_comparison", "mean_ci", "parse_ks",
           "primary_k", "read_baseline", "sampled_jaccard", "shared_counts"]
