"""What every route shares: the registry, caches, the job queue, limits, and the checks
that turn a bad request into one clear 4xx message.

The app factory builds one :class:`ServerContext` and keeps it on ``app.state``; routes
receive it through the :func:`context` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from spacelens.answer_subset import ScoreCache
from spacelens.errors import NotFoundError, SpacelensError
from spacelens.registry import Registry
from spacelens.views.data import ComparisonCache, ComparisonData, TableCache
from spacelens.server.jobs import JobManager

MAX_K = 200
SEARCH_LIMIT = 50


@dataclass
class ServerContext:
    reg: Registry
    tables: TableCache
    comparisons: ComparisonCache
    jobs: JobManager
    image_roots: list[Path] = field(default_factory=list)
    max_k: int = MAX_K
    scores: ScoreCache = field(default_factory=ScoreCache)   # per-query scores for the shown items' figures

    # -- checks ----------------------------------------------------------------------------
    def check_k(self, k: int) -> int:
        if not 1 <= k <= self.max_k:
            raise SpacelensError(f"k must be between 1 and {self.max_k}, not {k}",
                                 f"Pass k=1..{self.max_k}")
        return k

    def same_dataset(self, a: str, b: str | None = None) -> str:
        """The dataset space ``a`` embeds; ``b`` (if given) must embed the same one."""
        ds = self.reg.space(a).dataset
        if b is not None:
            other = self.reg.space(b).dataset
            if other != ds:
                raise SpacelensError(f"Spaces {a!r} and {b!r} embed different datasets ({ds!r}, {other!r})",
                                     "Pick two spaces of the same dataset")
        return ds

    def of_dataset(self, dataset: str, *spaces: str | None) -> None:
        """Every named space must embed ``dataset`` (400 naming the fix)."""
        self.reg.dataset(dataset)
        for s in spaces:
            if s is None:
                continue
            ds = self.reg.space(s).dataset
            if ds != dataset:
                raise SpacelensError(f"Space {s!r} embeds dataset {ds!r}, not {dataset!r}",
                                     f"Pick spaces of dataset {dataset!r} (listed by /api/spaces?dataset={dataset})")

    def check_row(self, dataset: str, row: int) -> dict:
        """The dataset's cached table entry, after checking that ``row`` is one of its rows."""
        e = self.tables.entry(self.reg, dataset)
        if not 0 <= row < len(e["ids"]):
            raise NotFoundError(f"Dataset {dataset!r} has no row {row}", f"Rows run from 0 to {len(e['ids']) - 1}")
        return e

    def comparison(self, a: str, b: str, k: int) -> ComparisonData:
        """The stored comparison (cached by content; raises Missing when not computed)."""
        return self.comparisons.get(self.reg, a, b, self.check_k(k))


def context(request: Request) -> ServerContext:
    """FastAPI dependency: the app's shared context."""
    return request.app.state.ctx
