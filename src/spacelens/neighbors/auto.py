"""The default engine: exact when its estimated time is short, else approximate at a target recall.

An exact kNN graph costs ~2·N²·d flops (:mod:`~spacelens.neighbors.cost` turns that into
seconds at this machine's measured GEMM speed). Up to ``exact_seconds`` (60 s by default)
``auto`` runs the exact engine; beyond, faiss IVF with its ``nprobe`` raised until the recall
measured against exact neighbours on a random sample of queries reaches ``recall``
(:class:`~spacelens.neighbors.approx.IvfEngine`; the recall and its 95% interval travel with
the graph). Before a job estimated to take more than ``ANNOUNCE_SECONDS``, one line
(:func:`spacelens.progress.announce`) says which engine runs, why, the estimated time, and
how to force the other. The approximate choice rests on an estimate; once the search effort
is tuned, its speed is timed on the tuning sample: when that says the search would take longer
than exact, or the target recall cannot be reached (and exact is affordable), exact runs
instead and one line says why (:func:`with_exact_fallback`).
"""

from __future__ import annotations

from spacelens.neighbors.base import Engine, KnnGraph
from spacelens.neighbors.cost import exact_seconds, format_seconds, gemm_speed

EXACT_SECONDS = 60.0     # auto runs the exact engine when it is estimated to take at most this long
ANNOUNCE_SECONDS = 10.0  # a choice is announced when the exact estimate passes this
DEFAULT_RECALL = 0.95


class AutoEngine(Engine):
    """Exact below ``exact_seconds`` of estimated work, else IVF tuned to ``recall``."""

    name = "auto"
    summary = "exact when estimated under a minute, else IVF tuned to a measured recall"

    def __init__(self, recall: float = DEFAULT_RECALL, exact_seconds: float = EXACT_SECONDS,
                 recall_queries: int | None = None, seed: int = 0):
        from spacelens.neighbors.approx import RECALL_QUERIES, check_recall

        self.recall = check_recall(recall)
        self.exact_seconds = float(exact_seconds)
        self.recall_queries = recall_queries or RECALL_QUERIES
        self.seed = int(seed)
        self.last_choice: dict | None = None

    @property
    def params(self) -> dict:
        return {"recall": self.recall}

    @property
    def settings(self) -> dict:
        return {"recall": self.recall, "exact_seconds": self.exact_seconds}

    def choose(self, n_queries: int, n_base: int, dim: int, k: int, what: str = "kNN search") -> Engine:
        """The engine for a search of this size; announces the choice when the job is long."""
        from spacelens.neighbors.approx import IvfEngine
        from spacelens.neighbors.exact import ExactEngine
        from spacelens.progress import announce

        est = exact_seconds(n_queries, n_base, dim)
        size = f"{n_queries:,} x {n_base:,} x {dim}"
        rule = f"auto runs exact below {format_seconds(self.exact_seconds)}"
        if est <= self.exact_seconds:
            eng: Engine = ExactEngine()
            msg = (f"{what}: exact engine, about {format_seconds(est)} ({size} at "
                   f"{gemm_speed() / 1e9:.0f} GFLOP/s; {rule}); for a faster approximate graph pass "
                   f"--engine ivf (engine='ivf')")
        else:
            eng = IvfEngine(recall=self.recall, recall_queries=self.recall_queries, seed=self.seed)
            eng.exact_fallback = est
            approx = eng.estimate_seconds(n_queries, n_base, dim, k)
            msg = (f"{what}: approximate engine (faiss IVF, search effort raised until recall@{k} >= "
                   f"{self.recall:g} on {self.recall_queries:,} exactly searched queries; the recall is "
                   f"reported), about {format_seconds(approx)}, because exact would take about "
                   f"{format_seconds(est)} ({size} at {gemm_speed() / 1e9:.0f} GFLOP/s; {rule}); "
                   f"exact runs instead if the tuned search times slower or misses the target; "
                   f"force exact with --engine exact (engine='exact')")
        self.last_choice = {"engine": eng.name, "exact_seconds_estimate": round(est, 3), "message": msg}
        if est > ANNOUNCE_SECONDS or eng.approximate:
            announce(msg)
        return eng

    def estimate_seconds(self, n_queries: int, n_base: int, dim: int, k: int) -> float:
        est = exact_seconds(n_queries, n_base, dim)
        if est <= self.exact_seconds:
            return est
        from spacelens.neighbors.approx import IvfEngine

        return IvfEngine(recall=self.recall).estimate_seconds(n_queries, n_base, dim, k)

    def search(self, queries, base, k: int, metric: str, query_rows=None, *, description=None):
        eng = self.choose(len(queries), len(base), base.shape[1], k, description or "kNN search")
        return with_exact_fallback(eng, lambda e: e.search(queries, base, k, metric, query_rows,
                                                           description=description))[1]

    def build_graph(self, vectors, k: int, metric: str, *, description: str | None = None) -> KnnGraph:
        eng = self.choose(len(vectors), len(vectors), vectors.shape[1], k, description or "kNN graph")
        return with_exact_fallback(eng, lambda e: e.build_graph(vectors, k, metric, description=description))[1]


def with_exact_fallback(engine: Engine, run):
    """``(engine used, run(engine))``; when ``engine`` (an approximate one the auto engine chose)
    finds, once tuned, that exact search is cheaper or that it cannot reach its target, one line
    says so and ``run`` is called again with the exact engine. The fallback's measurements are
    kept in ``last_choice``-style form on the exact graph's info (``info["fallback"]``)."""
    from spacelens.neighbors.approx import ExactIsCheaper
    from spacelens.neighbors.exact import ExactEngine
    from spacelens.progress import announce

    try:
        return engine, run(engine)
    except ExactIsCheaper as why:
        announce(why.message)
        exact = ExactEngine()
        out = run(exact)
        if isinstance(out, KnnGraph):
            out.info["fallback"] = why.measured
        return exact, out
