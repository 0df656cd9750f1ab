"""spacelens: track, compare, evaluate and see embedding spaces."""

# Some verbs share their name with the subpackage that implements them (spacelens.compare,
# .evaluate, .project, .evolution). Importing a submodule sets it as an attribute of this package,
# which would shadow the verb; so the subpackages are loaded first and the verbs bound after.
# The subpackages import nothing heavy at import time (tests/test_imports.py).
import spacelens.answer  # noqa: F401
import spacelens.compare  # noqa: F401
import spacelens.evaluate  # noqa: F401
import spacelens.evolution  # noqa: F401
import spacelens.project  # noqa: F401
import spacelens.report  # noqa: F401
# the package first: the verb imported below then takes its name (spacelens.audit is the function;
# from spacelens.audit import ... still reaches the package)
import spacelens.audit  # noqa: F401
from spacelens.api import (add, answer, audit, build_index, change_groups, changed_items, compare, compare_all, composition, delete_index,
                           evaluate, evaluate_versus, knn, leaderboard, list_indexes, load_dataset,
                           load_space, log_space, ls, neighbour_changes, open_registry, project, prune, prune_evaluations,
                           query, remove_evaluations, rm, show)
# Verbs built on the API (they call it; it never calls them): no import cycle.
from spacelens.evolution import evolution
from spacelens.report import report
from spacelens.errors import NotFoundError, SpacelensError, SpacelensWarning

from spacelens.version import __version__

__all__ = [
    # track
    "add", "log_space", "ls", "show", "rm", "prune", "load_space", "load_dataset", "open_registry",
    # neighbours
    "knn", "query", "build_index", "list_indexes", "delete_index",
    # compare, evaluate, maps, training
    "compare", "compare_all", "evaluate", "leaderboard", "remove_evaluations", "prune_evaluations", "project",
    "evolution",
    # where and how two spaces differ (the answer first)
    "answer", "neighbour_changes", "changed_items", "change_groups", "composition", "evaluate_versus", "report",
    # can the evaluation be trusted (leaks, duplicates, label errors, outliers)
    "audit",
    # errors
    "SpacelensError", "NotFoundError", "SpacelensWarning", "__version__",
]


def widget(a, b, **kwargs):
    """The analyzer's two linked maps in a notebook cell (needs ``spacelens[notebook]``);
    see :func:`spacelens.notebook.widget`."""
    from spacelens.notebook.analyzer import widget as _widget

    return _widget(a, b, **kwargs)


__all__.append("widget")
