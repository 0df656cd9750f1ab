"""An answer within the budget: whether a verb's default answer comes from a sample.

One rule for every verb (``compare``, ``evaluate``, ``evaluate --vs``, ``evolution``,
``report``, ``answer`` and the page, which all go through :mod:`spacelens.api`):

    the full result runs unless the items number more than :data:`FULL_ALWAYS_MAX_ITEMS`
    *and* the full result is estimated to take longer than the budget;

otherwise the default answer comes from a sample of :data:`DEFAULT_SAMPLE` items (queries),
with 95% intervals, and says so in its first line, with what the full result would cost and
how to get it (``--full``; ``full=True`` in Python). The budget is 60 s unless set
(``budget=`` / ``--budget SECONDS`` / ``$SPACELENS_BUDGET``). At 100,000 items and below
nothing changes: every verb answers in full, as before.

Estimates count only what is not stored yet: a space whose kNN graph is stored needs no new
search (:func:`spacelens.neighbors.cache.graph_available`), so once ``--full`` has run, the
full result is what later verbs use. Seconds come from this machine's measured GEMM speed
(:mod:`spacelens.neighbors.cost`) and the auto engine's own estimate (exact, or IVF where
exact would take longer than a minute).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from spacelens.errors import SpacelensError
from spacelens.neighbors.cost import exact_seconds, format_seconds

DEFAULT_BUDGET_SECONDS = 60.0
FULL_ALWAYS_MAX_ITEMS = 100_000   # at and below this many items every verb answers in full
DEFAULT_SAMPLE = 2000             # items (compare) or queries (evaluate) of a sampled answer
KMEANS_ITERATIONS = 20            # Lloyd iterations a k-means run typically takes to settle
BUDGET_ENV = "SPACELENS_BUDGET"


def seconds_words(x: float) -> str:
    """Seconds in words: ``42 s``, ``7.5 min``; below a second ``0.001 s`` (a budget set that low)."""
    return format_seconds(x) if x >= 1 else f"{x:.2g} s"


def budget_seconds(budget: float | None = None) -> float:
    """The budget in seconds: ``budget`` if given, else ``$SPACELENS_BUDGET``, else 60."""
    if budget is None:
        env = os.environ.get(BUDGET_ENV)
        if not env:
            return DEFAULT_BUDGET_SECONDS
        try:
            budget = float(env)
        except ValueError:
            raise SpacelensError(f"{BUDGET_ENV}={env!r} is not a number of seconds",
                                 f"Set it to e.g. 60, or unset it (default {DEFAULT_BUDGET_SECONDS:.0f} s)") from None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0 or math.isinf(budget):
        raise SpacelensError(f"budget={budget!r} must be a positive number of seconds",
                             "Pass e.g. --budget 60 (or --full for the full result whatever it costs)")
    return float(budget)


@dataclass
class Plan:
    """What a verb will compute: in full, or from a sample, and why."""

    verb: str                 # "comparison", "evaluation", "paired evaluation", ...
    n_items: int
    full_seconds: float       # estimated seconds of the full result (0: everything stored)
    budget: float
    sampled: bool
    sample: int | None = None
    parts: dict = field(default_factory=dict)   # what the full estimate is made of: {what: seconds}
    forced: bool = False      # --full was asked
    deferrable: float = 0.0   # seconds a sample cannot save (k-means' fits behind NMI/AMI)
    sample_seconds: float = 0.0   # estimated seconds of the sampled answer without them

    @property
    def deferred(self) -> list[str]:
        """Figures a sampled answer leaves out: those whose unsampleable cost would take it past the budget."""
        return ["NMI", "AMI"] if self.sampled and self.deferrable + self.sample_seconds > self.budget else []

    @property
    def reason(self) -> str:
        cost = f"about {format_seconds(self.full_seconds)}" if self.full_seconds >= 1 else "under a second"
        if self.forced:
            return f"full {self.verb} asked for (--full); estimated {cost}"
        if self.n_items <= FULL_ALWAYS_MAX_ITEMS:
            return f"full {self.verb}: {self.n_items:,} items (at most {FULL_ALWAYS_MAX_ITEMS:,} always run in full)"
        if not self.sampled:
            return f"full {self.verb}: estimated {cost}, within the {seconds_words(self.budget)} budget"
        return (f"sampled: the full {self.verb} would take {cost} here, more than the "
                f"{seconds_words(self.budget)} budget")

    def headline(self) -> str | None:
        """The sampled answer's first line (None for a full one): what it rests on, what the full
        result would cost, and how to get it."""
        if not self.sampled:
            return None
        left = (f" NMI and AMI are left out: k-means over all {self.n_items:,} items takes about "
                f"{seconds_words(self.deferrable)} here however few items score it." if self.deferred else "")
        return (f"Sampled answer: {self.sample:,} random of {self.n_items:,} items, with 95% intervals. "
                f"The full {self.verb} would take about {seconds_words(self.full_seconds)} here (budget "
                f"{seconds_words(self.budget)}): pass --full for it (full=True in Python); once stored it is "
                f"used everywhere instead of the sample.{left}")

    def to_dict(self) -> dict:
        return {"verb": self.verb, "sampled": self.sampled, "sample": self.sample, "n_items": int(self.n_items),
                "full_seconds": round(float(self.full_seconds), 1), "budget": self.budget, "forced": self.forced,
                "parts": {k: round(float(v), 1) for k, v in self.parts.items()}, "reason": self.reason,
                "deferred": self.deferred, "headline": self.headline()}


def decide(verb: str, n_items: int, parts: dict, *, full: bool = False, budget: float | None = None,
           sample: int | None = None, deferrable: float = 0.0, sample_seconds: float = 0.0) -> Plan:
    """The plan for a verb over ``n_items`` whose full result costs ``sum(parts.values())`` seconds:
    sampled exactly when ``n_items > FULL_ALWAYS_MAX_ITEMS`` and that sum exceeds the budget."""
    b = budget_seconds(budget)
    sample = DEFAULT_SAMPLE if sample is None else sample
    total = float(sum(parts.values()))
    sampled = (not full) and n_items > FULL_ALWAYS_MAX_ITEMS and total > b
    return Plan(verb, int(n_items), total, b, sampled, int(min(sample, n_items)) if sampled else None,
                dict(parts), bool(full), float(deferrable), float(sample_seconds))


# -- what the full results cost ----------------------------------------------------------------

def graph_seconds(reg, rec, k: int, metric: str) -> float:
    """Seconds to get ``rec``'s kNN graph at ``k``: 0 when a stored graph serves, else the auto
    engine's estimate for building it (at the shared k, as it would be built)."""
    from spacelens.neighbors.auto import AutoEngine
    from spacelens.neighbors.cache import graph_available, shared_k

    if graph_available(reg, rec, k, metric):
        return 0.0
    return AutoEngine().estimate_seconds(rec.n_rows, rec.n_rows, rec.dim, shared_k(rec.n_rows, k))


def search_seconds(n_queries: int, n_base: int, dim: int, k: int) -> float:
    """Seconds of a streamed search of ``n_queries`` among ``n_base`` (the auto engine's choice)."""
    from spacelens.neighbors.auto import AutoEngine

    return AutoEngine().estimate_seconds(n_queries, n_base, dim, k)


def kmeans_seconds(n: int, dim: int, n_clusters: int, n_init: int = 3, points_per_cluster: int = 256,
                   assign: bool = True) -> float:
    """Seconds of evaluate's k-means (:func:`~spacelens.evaluate.clustering.kmeans_assignment`):
    per run, seeding on 16 points per cluster, ~20 Lloyd iterations on at most 256 points per
    cluster, and (``assign``) every point assigned to its nearest centre. Without ``assign``: the
    fits alone, which the sampled NMI/AMI estimate still runs
    (:mod:`spacelens.evaluate.clustering_sampled`)."""
    c = max(1, min(int(n_clusters), int(n)))
    fit = min(n, points_per_cluster * c)
    seed_pts = min(n, 16 * c)
    per_run = (exact_seconds(seed_pts, c * (2 + int(math.log(c))), dim)   # k-means++ candidates
               + KMEANS_ITERATIONS * exact_seconds(fit, c, dim)          # Lloyd on the fitting points
               + (exact_seconds(n, c, dim) if assign else 0.0))           # assignment and inertia
    return max(1, int(n_init)) * per_run


def plan_compare(reg, a: str, b: str, k_max: int, metric_a: str = "cosine", metric_b: str = "cosine", *,
                 full: bool = False, budget: float | None = None, baseline: str | None = None) -> Plan:
    """The plan of ``compare a b`` (and a vs ``baseline``): the graphs not stored yet."""
    import numpy as np

    ra, rb = reg.space(a), reg.space(b)
    others = [(rb, metric_b)] + ([(reg.space(baseline), metric_a)] if baseline else [])
    rows_a = reg.load_rows(ra)
    parts: dict = {}
    n = 0
    for rec_o, metric_o in others:
        shared = np.intersect1d(rows_a, reg.load_rows(rec_o), assume_unique=True).size
        n = max(n, shared)
        for rec, metric in ((ra, metric_a), (rec_o, metric_o)):
            key = f"kNN graph of {rec.name}"
            if key in parts:
                continue
            if shared == rec.n_rows:      # the space's own (cacheable) graph serves
                parts[key] = graph_seconds(reg, rec, k_max, metric)
            else:                          # a graph of the shared items only, never stored
                parts[key] = search_seconds(shared, shared, rec.dim, k_max)
    return decide("comparison", n, parts, full=full, budget=budget)


def plan_evaluate(reg, space: str, *, label_field: str, metric: str = "cosine", k=None, split_field: str = "split",
                  query_split=None, reference_split=None, clustering: bool = True, n_init: int = 3,
                  full: bool = False, budget: float | None = None, verb: str = "evaluation",
                  spaces: tuple[str, ...] | None = None) -> Plan:
    """The plan of ``evaluate space`` (``spaces``: every space a paired evaluation scores): the
    search of the queries at the metrics' k (0 where a stored graph serves) and the k-means
    clustering behind NMI/AMI (with ``clustering``)."""
    import numpy as np
    import pandas as pd

    from spacelens.evaluate.core import _select, check_settings, load_labels
    from spacelens.evaluate.retrieval import label_counts, resolve_k

    check_settings(metric, k)
    parts: dict = {}
    fits = sampled = 0.0
    n_items = 0
    for name in spaces or (space,):
        rec = reg.space(name)
        codes, classes = pd.factorize(load_labels(reg, rec, label_field))
        q_pos, ref_pos, inc = _select(reg, rec, split_field, query_split, reference_split)
        qc = codes[q_pos]
        rc = codes if ref_pos is None else codes[ref_pos]
        counts = label_counts(qc.astype("int32"), rc.astype("int32"), inc, len(classes))
        kk = resolve_k(k, counts, len(rc))
        n_items = max(n_items, len(q_pos))
        sampled += exact_seconds(min(DEFAULT_SAMPLE, len(q_pos)), len(rc), rec.dim)
        if ref_pos is None and kk > 0:
            from spacelens.neighbors.cache import graph_available

            parts[f"search of {name}'s queries"] = (0.0 if graph_available(reg, rec, kk, metric)
                                                    else search_seconds(len(q_pos), len(rc), rec.dim, kk))
        elif kk > 0:
            parts[f"search of {name}'s queries"] = search_seconds(len(q_pos), len(rc), rec.dim, kk)
        if clustering:
            n_lab = int(np.unique(qc).size)
            parts[f"k-means of {name} (NMI, AMI)"] = kmeans_seconds(len(q_pos), rec.dim, n_lab, n_init)
            fits += kmeans_seconds(len(q_pos), rec.dim, n_lab, n_init, assign=False)
    return decide(verb, n_items, parts, full=full, budget=budget, deferrable=fits, sample_seconds=sampled)


def sampled_line(plans: list[dict]) -> str:
    """One first line for an answer resting on several sampled results (``Plan.to_dict()``s):
    what was sampled, what the full results would cost together, and how to get them."""
    if len(plans) == 1:
        return plans[0]["headline"]
    parts = [f"{p['sample']:,} random {'items' if p['verb'] == 'comparison' else 'queries'} of {p['n_items']:,} "
             f"for the {p['verb']}" for p in plans]
    total = sum(p["full_seconds"] for p in plans)
    return (f"Sampled answer ({'; '.join(parts)}), with 95% intervals: the full results would take about "
            f"{seconds_words(total)} here (budget {seconds_words(plans[0]['budget'])}); pass --full for them.")
