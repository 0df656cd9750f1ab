"""The sampled evaluation: exact neighbours of n random queries, every kNN metric with a 95% CI.

A full evaluation searches every query among all references (at 1M items an exact graph
takes hours). Each kNN metric is a mean over queries of a per-query score (P@1, R-precision,
AP@R, AP, reciprocal rank; :mod:`spacelens.evaluate.retrieval`), and a sampled query's score
is exactly its score in the full evaluation when its neighbours are searched exactly among
*all* references. So the mean over a simple random sample of the scored queries (lone ones,
which the metrics leave out, are never drawn) is an unbiased estimate of the full metric,
and its 95% interval is the t interval with the finite population correction
(:func:`spacelens.stats.mean_ci`, as for ``compare --sample``). Cost: n queries x N
references x d, e.g. 1,000 x 1,000,000 x 256 in a few seconds.

The average of per-label averages (``avg_of_avgs``) is a ratio of sampled quantities per
label, not a mean over queries: it is refused with a sample rather than reported with an
interval that would not hold.
"""

from __future__ import annotations

import numpy as np

from spacelens.errors import SpacelensError
from spacelens.evaluate.retrieval import METRICS, score_block


def check_sample(sample, avg_of_avgs: bool) -> None:
    """One clear error for a sample size that is not a whole number >= 2, or with ``avg_of_avgs``."""
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 2:
        raise SpacelensError(f"sample={sample!r} must be a whole number of at least 2 queries",
                             "Pass e.g. --sample 1000")
    if avg_of_avgs:
        raise SpacelensError("--avg-of-avgs cannot be estimated from a sample of queries with an honest interval",
                             "Drop --sample for the average of per-label averages, or drop --avg-of-avgs")


def sample_queries(n_scored: int, n_sample: int, seed: int = 0) -> np.ndarray:
    """Positions (sorted) of ``n_sample`` of ``n_scored`` queries, uniformly without replacement."""
    from spacelens.compare.sampled import sample_rows

    return sample_rows(n_scored, n_sample, seed)


def summarize_sample(per_query: dict[str, np.ndarray], population: int) -> dict[str, dict]:
    """``{metric: {"mean", "ci95"}}`` of per-query scores of a random sample of ``population`` queries."""
    from spacelens.stats import mean_ci

    out = {}
    for m, values in per_query.items():
        mean, lo, hi = mean_ci(values, population=population)
        out[m] = {"mean": mean, "ci95": [lo, hi]}
    return out


def sampled_scores(neighbour_blocks, q_pos, ref_pos, ref_includes_query: bool, keep: np.ndarray, rc: np.ndarray,
                   qc: np.ndarray, r: np.ndarray, n_sample: int, seed: int, acc=None):
    """``(sel, {metric: per-query score})`` for a random sample ``sel`` (positions into ``q_pos``)
    of the scored queries ``keep``, their neighbours searched exactly among the references by
    ``neighbour_blocks(query_positions, query_rows)`` (evaluate's exact search: yields
    ``(positions in the block, neighbour indices into the references)``).

    ``acc`` (a :class:`~spacelens.evaluate.retrieval.RetrievalAccumulator`) also receives them,
    for the per-label means of the sampled queries.
    """
    sel = keep[sample_queries(len(keep), n_sample, seed)]
    qrows = q_pos[sel] if ref_pos is None else sel if ref_includes_query else None
    per = {m: np.empty(len(sel), dtype=np.float64) for m in METRICS}
    for sub, idx in neighbour_blocks(q_pos[sel], qrows):
        qi = sel[sub]
        block = score_block(rc[idx], qc[qi], r[qi])
        for m in METRICS:
            per[m][sub] = block[m]
        if acc is not None:
            acc.add(rc[idx], qc[qi], r[qi])
    return sel, per
