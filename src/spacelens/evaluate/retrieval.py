"""Labeled retrieval metrics from kNN results, with pytorch-metric-learning's definitions.

Everything here is pure numpy over integer label codes and kNN results; nothing builds an
n x n (or even an n x k float) matrix: work goes block by block of queries.

Definitions (those of ``pytorch_metric_learning.utils.accuracy_calculator.AccuracyCalculator``
2.9.0, checked against it by the test suite). For a query q with label y_q and its ranked
neighbours n_1 .. n_k among the *reference* items (self excluded when the reference includes
the query), let rel_i = [label(n_i) == y_q] and

- ``R`` = number of reference items with label y_q, minus one when the reference includes the
  query (the query itself is not a correct answer);
- ``k`` = ``max_bin_count`` by default: the largest ``R + self`` over the labels that occur
  among the queries, minus one when the reference includes the query, i.e. just enough
  neighbours for every query's R. ``"all"`` = every reference item (minus self).

Per query:

- ``precision_at_1``            = rel_1
- ``r_precision``               = (sum_{i <= min(R, k)} rel_i) / min(R, k)
- ``mean_average_precision_at_r`` (MAP@R) = (1/R) sum_{i <= min(R, k)} rel_i * P@i,
  with P@i = (sum_{j <= i} rel_j) / i. Divided by R even when k < R.
- ``mean_average_precision``    = (1/R) sum_{i <= k} rel_i * P@i  (MAP over all k neighbours,
  still divided by R)
- ``mean_reciprocal_rank``      = 1 / (rank of the first i <= k with rel_i), 0 if none.

A query is *lone* when its label has no other member in the reference (R = 0): lone queries are
left out of every kNN metric (they have nothing to retrieve), but stay in NMI/AMI. Each metric
is the mean over the remaining queries or, with ``avg_of_avgs``, the mean over labels of the
per-label means (labels that occur among the remaining queries). Ties between neighbours at
equal distance are ranked by lower reference row (the kNN engine's rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spacelens.parallel import default_threads, thread_map

METRICS = ("precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision",
           "mean_reciprocal_rank")

# entries (queries x neighbours) handled per block: bounds temporary memory (~100 bytes/entry worst)
BLOCK_ENTRIES = 1 << 21


def encode_labels(*label_arrays) -> tuple[np.ndarray, list[np.ndarray]]:
    """Shared integer codes for several label arrays: ``(classes, [codes per array])``.

    ``classes`` is sorted (as ``np.unique``), so code c means ``classes[c]`` in every array.
    """
    arrays = [np.asarray(a) for a in label_arrays]
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("labels must be one-dimensional")
    classes, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
    inverse = inverse.astype(np.int32 if len(classes) < 2**31 else np.int64)
    splits = np.cumsum([len(a) for a in arrays])[:-1]
    return classes, np.split(inverse, splits)


@dataclass
class LabelCounts:
    """What the metrics need to know about labels before looking at any neighbour."""

    r: np.ndarray            # int64 per query: number of correct references (R)
    lone: np.ndarray         # bool per query: R == 0, left out of the kNN metrics
    max_bin_count: int       # max over query labels of their count in the reference
    ref_includes_query: bool

    @property
    def default_k(self) -> int:
        """``k = max_bin_count`` (minus self), AccuracyCalculator's ``k="max_bin_count"``."""
        return self.max_bin_count - int(self.ref_includes_query)


def label_counts(query_codes: np.ndarray, reference_codes: np.ndarray, ref_includes_query: bool,
                 n_classes: int | None = None) -> LabelCounts:
    """R per query, lone queries and ``max_bin_count`` (see the module docstring)."""
    q = np.asarray(query_codes)
    n_classes = int(max(q.max(initial=-1), np.max(reference_codes, initial=-1)) + 1) if n_classes is None else n_classes
    in_ref = np.bincount(np.asarray(reference_codes), minlength=n_classes).astype(np.int64)
    per_query_count = in_ref[q]
    r = per_query_count - int(ref_includes_query)
    query_classes = np.unique(q)
    max_bin = int(in_ref[query_classes].max()) if len(query_classes) else 0
    return LabelCounts(r=r, lone=r <= 0, max_bin_count=max_bin, ref_includes_query=ref_includes_query)


def resolve_k(k: int | str | None, counts: LabelCounts, n_reference: int) -> int:
    """The number of neighbours to retrieve for ``k`` = None/"max_bin_count", "all" or an int.

    Never more than the reference holds (minus self).
    """
    avail = n_reference - int(counts.ref_includes_query)
    if k is None or k == "max_bin_count":
        kk = counts.default_k
    elif k == "all":
        kk = avail
    else:
        kk = int(k)
        if kk < 1:
            raise ValueError("k must be a positive integer, 'max_bin_count' or 'all'")
    return max(0, min(kk, avail))


# -- per-query scores ----------------------------------------------------------------------
# Each takes knn_labels (b x k codes of the ranked neighbours), the query codes (b) and, where
# needed, R (b), and returns one float64 score per query.

def _same(knn_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    return np.asarray(knn_labels) == np.asarray(query_labels)[:, None]


def precision_at_1(knn_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    """1 when the nearest neighbour has the query's label, else 0."""
    return _same(np.asarray(knn_labels)[:, :1], query_labels)[:, 0].astype(np.float64)


def r_precision(knn_labels: np.ndarray, query_labels: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Fraction of correct labels among the first min(R, k) neighbours."""
    return score_block(knn_labels, query_labels, r)["r_precision"]


def mean_average_precision_at_r(knn_labels: np.ndarray, query_labels: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per-query MAP@R: sum of P@i over correct i <= min(R, k), divided by R."""
    return score_block(knn_labels, query_labels, r)["mean_average_precision_at_r"]


def mean_average_precision(knn_labels: np.ndarray, query_labels: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per-query MAP over all k neighbours: sum of P@i over correct i <= k, divided by R."""
    return score_block(knn_labels, query_labels, r)["mean_average_precision"]


def mean_reciprocal_rank(knn_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    """1 / rank of the first correct neighbour within k (0 when none is correct)."""
    return score_block(knn_labels, query_labels, np.ones(len(query_labels), np.int64))["mean_reciprocal_rank"]


def score_block(knn_labels: np.ndarray, query_labels: np.ndarray, r: np.ndarray) -> dict[str, np.ndarray]:
    """All five per-query scores for one block of queries (R must be > 0).

    Works on the correct hits only: P@i at a hit is (hits so far) / i, and hits come out
    of ``np.nonzero`` in row order, so the running count is a position within the row.
    """
    knn_labels = np.asarray(knn_labels)
    b, k = knn_labels.shape
    r = np.asarray(r, dtype=np.int64)
    same = _same(knn_labels, query_labels)
    rows, cols = np.nonzero(same)
    hits = np.bincount(rows, minlength=b)
    start = np.cumsum(hits) - hits
    rank = np.arange(rows.size, dtype=np.int64) - start[rows] + 1
    prec = rank / (cols + 1.0)
    within_r = cols < r[rows]
    rk = np.minimum(r, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "precision_at_1": same[:, 0].astype(np.float64) if k else np.zeros(b),
            "r_precision": np.bincount(rows[within_r], minlength=b) / rk,
            "mean_average_precision_at_r": np.bincount(rows, weights=prec * within_r, minlength=b) / r,
            "mean_average_precision": np.bincount(rows, weights=prec, minlength=b) / r,
        }
    mrr = np.zeros(b)
    has = hits > 0
    mrr[has] = 1.0 / (cols[start[has]] + 1.0)
    out["mean_reciprocal_rank"] = mrr
    return out


# -- accumulation over blocks -----------------------------------------------------------------

@dataclass
class RetrievalResult:
    """Summary metrics, per-class means and bookkeeping of one evaluation."""

    metrics: dict[str, float]              # mean over non-lone queries (or avg of avgs)
    per_class: dict[str, np.ndarray]       # metric -> per-class mean (nan for classes without queries)
    class_queries: np.ndarray              # int64 per class: non-lone queries scored
    k: int
    n_queries: int
    n_scored: int                          # queries not lone
    n_lone: int
    avg_of_avgs: bool
    mean: dict[str, float] = field(default_factory=dict)         # plain mean over queries
    avg_of_avgs_value: dict[str, float] = field(default_factory=dict)  # mean of per-class means


class RetrievalAccumulator:
    """Per-class sums of per-query scores, fed block by block (never holds n x k)."""

    def __init__(self, n_classes: int):
        self.n_classes = n_classes
        self.sums = {m: np.zeros(n_classes) for m in METRICS}
        self.count = np.zeros(n_classes, dtype=np.int64)

    def add(self, knn_labels: np.ndarray, query_codes: np.ndarray, r: np.ndarray) -> None:
        """Score a block of non-lone queries (R > 0) and add them to their classes."""
        if len(query_codes) == 0:
            return
        # Cache-sized pieces, and at least one per thread when there are enough queries.
        step = max(256, min(block_size(knn_labels.shape[1]), -(-len(query_codes) // default_threads())))

        def class_sums(s):
            q = query_codes[s:s + step]
            scores = score_block(knn_labels[s:s + step], q, r[s:s + step])
            return {m: np.bincount(q, weights=scores[m], minlength=self.n_classes) for m in METRICS}

        # Scored in threads; summed in order, so the result is deterministic.
        for part in thread_map(class_sums, range(0, len(query_codes), step)):
            for m in METRICS:
                self.sums[m] += part[m]
        self.count += np.bincount(query_codes, minlength=self.n_classes)

    def result(self, *, k: int, n_queries: int, n_lone: int, avg_of_avgs: bool = False) -> RetrievalResult:
        n = int(self.count.sum())
        has = self.count > 0
        mean, aoa, per_class = {}, {}, {}
        for m in METRICS:
            with np.errstate(invalid="ignore", divide="ignore"):
                pc = self.sums[m] / self.count
            per_class[m] = pc
            mean[m] = float(self.sums[m].sum() / n) if n else float("nan")
            aoa[m] = float(pc[has].mean()) if n else float("nan")
        return RetrievalResult(metrics=aoa if avg_of_avgs else mean, per_class=per_class,
                               class_queries=self.count.copy(), k=k, n_queries=n_queries, n_scored=n,
                               n_lone=n_lone, avg_of_avgs=avg_of_avgs, mean=mean, avg_of_avgs_value=aoa)


def block_size(k: int, entries: int = BLOCK_ENTRIES) -> int:
    """Queries per block so that a block holds about ``entries`` neighbour entries."""
    return max(1, entries // max(k, 1))


def retrieval_metrics(knn_indices: np.ndarray, query_labels, reference_labels, *,
                      ref_includes_query: bool, k: int | str | None = None,
                      avg_of_avgs: bool = False) -> RetrievalResult:
    """The five metrics from ranked kNN indices (e.g. a cached graph, possibly memory-mapped).

    ``knn_indices[i]``: rows of ``reference_labels`` nearest to query i, nearest first, self
    excluded, at least ``k`` columns (extra columns are ignored). ``k`` is resolved as in
    :func:`resolve_k`. Labels may be any comparable values.
    """
    classes, (qc, rc) = encode_labels(query_labels, reference_labels)
    counts = label_counts(qc, rc, ref_includes_query, len(classes))
    kk = resolve_k(k, counts, len(rc))
    if knn_indices.shape[1] < kk:
        raise ValueError(f"knn_indices has {knn_indices.shape[1]} columns; {kk} needed")
    acc = RetrievalAccumulator(len(classes))
    step = block_size(kk, 8 * BLOCK_ENTRIES)     # add() scores it in cache-sized pieces, in threads
    for s in range(0, len(qc), step):
        keep = ~counts.lone[s:s + step]
        idx = np.asarray(knn_indices[s:s + step, :kk])[keep]
        acc.add(rc[idx], qc[s:s + step][keep], counts.r[s:s + step][keep])
    return acc.result(k=kk, n_queries=len(qc), n_lone=int(counts.lone.sum()), avg_of_avgs=avg_of_avgs)
