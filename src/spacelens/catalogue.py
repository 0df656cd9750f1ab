"""One catalogue of every figure spacelens reports: its name, labels, definition and how to read it.

Every surface (CLI tables, the page, the notebook widget and result cards, the HTML report,
``evolution`` and the leaderboard) takes its labels, order and reading rules from here, so a
figure is called the same thing everywhere and a new one is one entry (plus the function that
computes it). Two families:

- **metrics**: labeled retrieval and clustering metrics of one space (``evaluate``), with
  pytorch-metric-learning's ``AccuracyCalculator`` definitions and its key names;
- **measures**: how two spaces (or a space and its 2D map) agree (``compare``, ``project``).

Nothing here imports numpy or anything heavy: the page fetches :func:`as_json` once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    """One reported figure.

    ``name``: the key in results and JSON; ``short``: a table header; ``label``: words for
    a sentence; ``definition``: one line a user can check by hand; ``higher_is_better``:
    which way is better (None when neither is); ``range``: the values it can take;
    ``chance``: what it reads as by chance (the baseline to read it against) or None;
    ``paired``: per-query (or per-item) values exist, so a paired difference with an
    interval applies; ``family``: "metric" or "measure"; ``doc``: where it is explained.
    """

    name: str
    short: str
    label: str
    definition: str
    family: str
    higher_is_better: bool | None = True
    range: tuple[float, float] = (0.0, 1.0)
    chance: str | None = None
    paired: bool = False
    doc: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["range"] = list(self.range)
        return d


_EVAL_DOC = "docs/evaluate.md"
_CMP_DOC = "docs/compare-insight.md"

METRICS: tuple[Figure, ...] = (
    Figure("mean_average_precision_at_r", "MAP@R", "mean average precision at R",
           "mean over queries of (1/R) sum of P@i at correct ranks i <= R", "metric",
           chance="about the share of the query's class among the reference items", paired=True,
           doc=_EVAL_DOC),
    Figure("r_precision", "R-precision", "R-precision",
           "correct among the first R neighbours, / R", "metric",
           chance="about the share of the query's class among the reference items", paired=True, doc=_EVAL_DOC),
    Figure("precision_at_1", "P@1", "precision at 1",
           "nearest neighbour has the query's label", "metric",
           chance="about the share of the query's class among the reference items", paired=True, doc=_EVAL_DOC),
    Figure("mean_average_precision", "MAP", "mean average precision",
           "(1/R) sum of P@i at correct ranks i <= k", "metric", paired=True, doc=_EVAL_DOC),
    Figure("mean_reciprocal_rank", "MRR", "mean reciprocal rank",
           "1 / rank of the first correct neighbour (0 if none within k)", "metric", paired=True, doc=_EVAL_DOC),
    Figure("NMI", "NMI", "normalised mutual information",
           "normalised mutual information, clusters vs labels", "metric", doc=_EVAL_DOC),
    Figure("AMI", "AMI", "adjusted mutual information",
           "adjusted (for chance) mutual information, clusters vs labels", "metric", range=(-1.0, 1.0),
           chance="0 (adjusted for chance)", doc=_EVAL_DOC),
)

MEASURES: tuple[Figure, ...] = (
    Figure("jaccard", "Jaccard", "mean kNN Jaccard",
           "per item |N_A(i) & N_B(i)| / |N_A(i) | N_B(i)| of its k nearest neighbours in each space, averaged",
           "measure", chance="about k / (2(n - 1)) for k << n: two random neighbour sets of size k among the n - 1 others "
                  "(compare.jaccard.chance_jaccard gives it exactly)",
           paired=True, doc=_CMP_DOC + "#jaccard"),
    Figure("overlap", "overlap@k", "mutual kNN overlap",
           "per item |N_A(i) & N_B(i)| / k, averaged (Huh et al.'s mutual kNN)", "measure",
           chance="k / (n - 1): a random neighbour set of size k", paired=True, doc=_CMP_DOC),
    Figure("cknna", "CKNNA", "CKNNA",
           "CKA computed only on pairs that are neighbours in both spaces (Huh et al. 2024)", "measure",
           range=(-1.0, 1.0), doc=_CMP_DOC),
    Figure("cka", "linear CKA", "linear CKA",
           "centered kernel alignment of the linear kernels (Kornblith et al. 2019)", "measure", doc=_CMP_DOC,
           note="under cosine the rows are L2-normalised first (Huh et al.'s pipeline), not Kornblith's raw "
                "features"),
    Figure("cka_unbiased", "unbiased CKA", "unbiased CKA",
           "CKA from the unbiased HSIC estimator (Song et al. 2012), near 0 for unrelated spaces", "measure",
           range=(-1.0, 1.0), chance="0", doc=_CMP_DOC,
           note="under cosine the rows are L2-normalised first (Huh et al.'s pipeline), not Kornblith's raw "
                "features"),
    Figure("knn_preservation", "kNN kept", "kNN preservation",
           "share of each item's k nearest neighbours in the space that are also its neighbours in the 2D map",
           "measure", paired=True, doc="docs/graphs.md"),
    Figure("trustworthiness", "trust.", "trustworthiness",
           "1 - penalty for map neighbours that are far in the space (Venna & Kaski; sklearn's definition)",
           "measure", range=(0.0, 1.0), chance="about 0.5 for a random map", doc="docs/graphs.md"),
)

_BY_NAME = {f.name: f for f in METRICS + MEASURES}

# The metric a verdict is stated on (evaluate --vs, evolution, the leaderboard's default rank).
PRIMARY_METRIC = "mean_average_precision_at_r"
# Metrics with per-query values: what ``evaluate --vs`` pairs, in the order tables show them.
PAIRED_METRICS = tuple(f.name for f in METRICS if f.paired)
# Retrieval metrics in reading order; clustering after them.
METRIC_NAMES = tuple(f.name for f in METRICS)
CLUSTERING_METRICS = ("NMI", "AMI")
RETRIEVAL_METRICS = tuple(m for m in METRIC_NAMES if m not in CLUSTERING_METRICS)
# The three a side-by-side verdict reports (primary first).
VERSUS_METRICS = ("mean_average_precision_at_r", "r_precision", "precision_at_1")


def get(name: str) -> Figure:
    """The entry called ``name`` (KeyError with the known names otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the catalogue; known: {', '.join(_BY_NAME)}") from None


def short(name: str) -> str:
    """The table header of ``name``; unknown names are returned as they are."""
    f = _BY_NAME.get(name)
    return f.short if f else name


def label(name: str) -> str:
    f = _BY_NAME.get(name)
    return f.label if f else name


def definition(name: str) -> str:
    f = _BY_NAME.get(name)
    return f.definition if f else ""


def entries(family: str | None = None) -> tuple[Figure, ...]:
    """Every entry, or those of one family ("metric" or "measure")."""
    every = METRICS + MEASURES
    return every if family is None else tuple(f for f in every if f.family == family)


def as_json() -> dict:
    """The catalogue as the page and the widget read it."""
    return {"metrics": [f.to_dict() for f in METRICS], "measures": [f.to_dict() for f in MEASURES],
            "primary_metric": PRIMARY_METRIC, "versus_metrics": list(VERSUS_METRICS)}
