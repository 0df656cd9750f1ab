"""Spaces over training: is it worth training longer?

An experiment logged from a training loop has one space per (epoch, split): ``step`` is the
epoch. For one split, :func:`evolution` walks the epochs in order and reports for each

- ``jaccard_prev``: mean kNN Jaccard to the previous epoch's space (how much the
  neighbourhoods still move; high and rising = settling down),
- ``jaccard_last``: mean kNN Jaccard to the last epoch's space (how far from the end point),
- with a label field, the evaluation metrics (MAP@R, P@1, ... from :mod:`spacelens.evaluate`).

Comparisons and evaluations go through :func:`spacelens.api.compare` /
:func:`spacelens.api.evaluate`, so they are stored in the registry and reused (a stored
exact comparison or evaluation with the same settings is read back, not recomputed).

A mean Jaccard J at k means an item keeps about 2J / (1 + J) of its k neighbours
(s shared of k: J = s / (2k - s)); J = 0.8 keeps ~89%.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spacelens import catalogue
from spacelens.errors import SpacelensError
from spacelens.registry import PrunedError, Registry, Space

# Verdict thresholds: "still improving" when the primary metric's mean over the last quarter of
# the epochs beats the mean over the quarter before by at least MIN_GAIN; "settled" when the
# last epoch's Jaccard to the previous one is at least SETTLED_JACCARD (an item keeps ~89% of
# its neighbours from one epoch to the next).
PRIMARY = catalogue.PRIMARY_METRIC
MIN_GAIN = 0.005
SETTLED_JACCARD = 0.8
METRICS_SHOWN = ("mean_average_precision_at_r", "r_precision", "precision_at_1", "NMI", "AMI")
SHORT = {f.name: f.short for f in catalogue.METRICS}   # headers, from the one catalogue


@dataclass
class EpochRow:
    """One epoch of the evolution."""

    step: int
    space: str
    n_rows: int
    jaccard_prev: float | None   # to the previous epoch's space (None for the first)
    jaccard_last: float          # to the last epoch's space (1.0 for the last itself)
    metrics: dict = field(default_factory=dict)  # evaluate() metrics, empty without a label field


@dataclass
class Evolution:
    experiment: str
    split: str | None
    k: int
    metric: str
    label_field: str | None
    epochs: list[EpochRow]
    verdict: str
    info: dict = field(default_factory=dict)

    @property
    def steps(self) -> list[int]:
        return [e.step for e in self.epochs]

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "split": self.split, "k": self.k, "metric": self.metric,
                "label_field": self.label_field, "epochs": [asdict(e) for e in self.epochs],
                "verdict": self.verdict, "info": self.info}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{"step": e.step, "space": e.space, "n_rows": e.n_rows, "jaccard_prev": e.jaccard_prev,
                              "jaccard_last": e.jaccard_last, **e.metrics} for e in self.epochs])


def kept_fraction(j: float) -> float:
    """Share of an item's k neighbours kept when the mean Jaccard is ``j`` (s/k = 2J/(1+J))."""
    return 2 * j / (1 + j)


def epoch_spaces(reg: Registry, experiment: str, split: str | None = "val", run: str | None = None) -> list[Space]:
    """The experiment's spaces of ``split`` and of one training ``run`` that carry a step, in step order.

    ``run=None``: the latest run (the one whose space was registered last), so that a re-run
    is never mixed with the epochs an earlier run left behind. Spaces logged without a run
    form a run of their own.
    """
    reg.experiment(experiment)  # NotFoundError with a hint when unknown
    spaces = [s for s in reg.spaces_of(experiment=experiment) if s.step is not None]
    if not spaces:
        raise SpacelensError(f"Experiment {experiment!r} has no spaces logged with a step (epoch)",
                             "Log them from the training loop with spacelens.log_space(..., step=epoch, split=...) "
                             "or the pytorch-metric-learning hook")
    splits = sorted({s.split for s in spaces}, key=str)
    if split is None:
        if len(splits) > 1:
            shown = ", ".join(map(str, splits))
            raise SpacelensError(f"Experiment {experiment!r} has spaces of several splits ({shown})",
                                 "Pick one with --split")
        split = splits[0]
    chosen = [s for s in spaces if s.split == split]
    if not chosen:
        raise SpacelensError(f"Experiment {experiment!r} has no {split!r} spaces with a step",
                             f"Use --split with one of: {', '.join(map(str, splits))}")
    runs = runs_of(chosen)
    if run is None:
        run = runs[-1]
    elif run not in runs:
        raise SpacelensError(f"Experiment {experiment!r} has no {split!r} spaces of run {run!r}",
                             f"Use --run with one of: {', '.join(str(r) for r in runs)}")
    chosen = sorted((s for s in chosen if s.run == run), key=lambda s: s.step)
    steps = [s.step for s in chosen]
    dup = sorted({x for x in steps if steps.count(x) > 1})
    if dup:
        names = [s.name for s in chosen if s.step == dup[0]]
        raise SpacelensError(f"Several {split!r} spaces of {experiment!r} have step {dup[0]} ({', '.join(names)})",
                             "Remove or rename the extra ones ('spacelens rm space NAME')")
    return chosen


def runs_of(spaces: list[Space]) -> list[str | None]:
    """The training runs among ``spaces``, oldest first (by when their last space was registered)."""
    last: dict = {}
    for s in spaces:  # ids never repeat and grow with time
        last[s.run] = max(last.get(s.run, -1), s.id)
    return sorted(last, key=last.get)


def _stored_jaccard(reg: Registry, a: str, b: str, k: int, metric: str) -> float | None:
    from spacelens.compare import load_comparison

    c = load_comparison(reg, a, b, k=k, metric_a=metric, metric_b=metric, include_self=False)
    from spacelens.neighbors.engines import is_exact

    if c is None or not is_exact(c.info.get("engine")):
        return None
    return float(c.mean)


def jaccard_between(reg: Registry, a: str, b: str, k: int, metric: str = "cosine", *, full: bool = False,
                    budget: float | None = None, sampled: list | None = None) -> float:
    """Mean kNN Jaccard of ``a`` and ``b`` (exact, self excluded), stored or computed via api.compare
    (within the budget: :mod:`spacelens.budget`; a sampled figure's plan is appended to ``sampled``)."""
    if a == b:
        return 1.0
    stored = _stored_jaccard(reg, a, b, k, metric)
    if stored is not None:
        return stored
    from spacelens import api

    res = api.compare(a, b, k=k, metric_a=metric, metric_b=metric, cka=False, full=full, budget=budget, home=reg)
    plan = res.info.get("budget") or {}
    if plan.get("sampled") and sampled is not None:
        sampled.append(plan)
    return float(res.mean)


def _stored_evaluation(reg: Registry, space: str, label_field: str, metric: str) -> dict | None:
    """A stored evaluation with exactly the settings ``api.evaluate`` would use (k-means clustering)."""
    from spacelens.evaluate.core import ARTIFACT, default_evaluation_params

    art = reg.get_artifact(ARTIFACT, space, default_evaluation_params(label_field, metric))
    return None if art is None else art.info


def metrics_of(reg: Registry, space: str, label_field: str, metric: str = "cosine", *, full: bool = False,
               budget: float | None = None, sampled: list | None = None) -> dict:
    """Evaluation metrics of ``space`` (a stored default evaluation, or api.evaluate within the budget)."""
    from spacelens import api

    info = _stored_evaluation(reg, space, label_field, metric)
    if info is None:
        info = api.evaluate(space, label_field=label_field, metric=metric, full=full, budget=budget, home=reg)
        plan = info["info"].get("budget") or {}
        if plan.get("sampled") and sampled is not None:
            sampled.append(plan)
    return {m: (None if info.get(m) is None else float(info[m])) for m in SHORT if m in info}


def epoch_evolution(reg: Registry, experiment: str, *, split: str | None = "val", k: int = 10,
              label_field: str | None = None, metric: str = "cosine", run: str | None = None, full: bool = False,
              budget: float | None = None) -> Evolution:
    """Per epoch: Jaccard to the previous and to the last epoch, and metrics (see module doc)."""
    if isinstance(k, bool) or int(k) < 1:
        raise SpacelensError(f"k={k!r} must be a positive whole number", "Pass e.g. -k 10")
    k = int(k)
    spaces = epoch_spaces(reg, experiment, split, run)
    split, run = spaces[0].split, spaces[0].run
    all_runs = runs_of([s for s in reg.spaces_of(experiment=experiment) if s.step is not None and s.split == split])
    if label_field is not None:
        cols = {c["name"] for c in reg.dataset(spaces[0].dataset).columns}
        if label_field not in cols:
            raise SpacelensError(f"Dataset {spaces[0].dataset!r} has no column {label_field!r}",
                                 f"Use one of: {', '.join(sorted(cols))}")
    from spacelens.progress import progress

    last = spaces[-1].name
    rows: list[EpochRow] = []
    sampled: list[dict] = []
    from spacelens.budget import budget_seconds, seconds_words

    # one verb, one budget: shared by the comparisons (two an epoch) and evaluations it runs
    total_budget = budget_seconds(budget)
    within = dict(full=full, budget=total_budget / (len(spaces) * (3 if label_field else 2)), sampled=sampled)
    with progress(f"Evolution of {experiment}", total=len(spaces)) as bar:
        for i, s in enumerate(spaces):
            try:
                prev = jaccard_between(reg, spaces[i - 1].name, s.name, k, metric, **within) if i else None
                to_last = jaccard_between(reg, s.name, last, k, metric, **within)
                mets = metrics_of(reg, s.name, label_field, metric, **within) if label_field else {}
            except PrunedError as exc:
                raise _pruned_gap(reg, exc, k, metric, label_field) from None
            rows.append(EpochRow(int(s.step), s.name, s.n_rows, prev, to_last, mets))
            bar.advance(1)
    info = {"n_epochs": len(rows), "dataset": spaces[0].dataset, "first_step": rows[0].step, "last_step": rows[-1].step,
            "window": _window(len(rows)), "min_gain": MIN_GAIN, "settled_jaccard": SETTLED_JACCARD,
            "run": run, "other_runs": [r for r in all_runs if r != run]}
    if sampled:
        cost = sum(p["full_seconds"] for p in sampled)
        info["sampled"] = {"figures": len(sampled), "line": (
            f"{len(sampled)} figures are sampled ({sampled[0]['sample']:,} random items or queries each, with 95% "
            f"intervals): in full they would take about {seconds_words(cost)} here, more than the "
            f"{seconds_words(total_budget)} budget shared by the whole evolution; pass --full for them.")}
    best = _best(rows)
    if best is not None:
        info["best"] = best
    return Evolution(experiment, split, k, metric, label_field, rows, _verdict(rows, k), info)


def _pruned_gap(reg: Registry, exc: PrunedError, k: int, metric: str, label_field: str | None) -> SpacelensError:
    """Evolution needs a figure of a pruned epoch that was not stored: say which settings were."""
    from spacelens.compare.core import KIND
    from spacelens.evaluate.core import ARTIFACT

    arts = reg.find_artifacts(space=exc.space)
    ks = sorted({a.params.get("k") for a in arts if a.kind == KIND and isinstance(a.params.get("k"), int)})
    fields = sorted({str(a.params.get("label_field")) for a in arts if a.kind == ARTIFACT})
    stored = "; ".join(x for x in (f"comparisons at k = {', '.join(map(str, ks))}" if ks else "",
                                   f"evaluations on {', '.join(fields)}" if fields else "") if x) or "none"
    wanted = f"k = {k}, {metric}" + (f", labels {label_field!r}" if label_field else "")
    return SpacelensError(
        f"Evolution ({wanted}) needs a figure of {exc.space!r} that was not stored before its vectors were "
        f"pruned on {str(exc.pruned_at)[:10]} (stored for it: {stored})",
        "Run evolution with the settings used before the prune, or pick a run that was not pruned (--run)")


def _window(n: int) -> int:
    return max(1, n // 4)


def _best(rows: list[EpochRow]) -> dict | None:
    vals = [(r.metrics.get(PRIMARY), r.step) for r in rows if r.metrics.get(PRIMARY) is not None]
    if not vals:
        return None
    v, step = max(vals, key=lambda t: (t[0], -t[1]))
    return {"metric": PRIMARY, "value": v, "step": step}


def _verdict(rows: list[EpochRow], k: int) -> str:
    """One sentence answering "is it worth training longer?" from the last quarter of epochs."""
    if len(rows) < 2:
        return "Only one epoch logged: log more epochs to see the trend"
    w = _window(len(rows))
    j = rows[-1].jaccard_prev
    moving = (f"the last epoch kept {kept_fraction(j):.0%} of each item's {k} neighbours "
              f"(Jaccard {j:.2f} to the previous epoch)")
    settled = j >= SETTLED_JACCARD
    # mean of the last w epochs vs the w before: one noisy epoch does not make a trend
    last_w = [r.metrics.get(PRIMARY) for r in rows[-w:]]
    before = [r.metrics.get(PRIMARY) for r in rows[-2 * w:-w]]
    vals = last_w + before
    if any(v is None or math.isnan(v) for v in vals):
        if settled:
            return f"Neighbourhoods have settled: {moving}; training longer will change little"
        return f"Neighbourhoods are still moving: {moving}; add a label field to see whether that helps"
    m_now = rows[-1].metrics[PRIMARY]
    gain = sum(last_w) / w - sum(before) / w
    span = f"the last {w} epochs vs the {w} before" if w > 1 else "the last epoch vs the one before"
    trend = f"MAP@R {gain:+.3f} over {span} (now {m_now:.3f})"
    best = _best(rows)
    if best and best["step"] != rows[-1].step and best["value"] - m_now >= MIN_GAIN:
        trend += f", best {best['value']:.3f} at epoch {best['step']}"
    if gain >= MIN_GAIN:
        return f"Still improving: {trend}; {moving}. Worth training longer"
    if gain <= -MIN_GAIN:
        at = f" (best at epoch {best['step']})" if best else ""
        return f"Getting worse: {trend}; {moving}. Stop earlier{at}, not later"
    if settled:
        return f"Plateau: {trend}; {moving}. Training longer is unlikely to help"
    return (f"Retrieval is flat but the space still moves: {trend}; {moving}. Longer training reshuffles "
            f"neighbours without improving retrieval")


def _width(metric: str) -> int:
    return max(7, len(SHORT[metric]))


def format_table(ev: Evolution) -> str:
    """A plain-text table of an evolution (for scripts and the example; the CLI uses rich)."""
    cols = [m for m in METRICS_SHOWN if any(m in r.metrics for r in ev.epochs)]
    head = f"{'epoch':>6} {'J(prev)':>8} {'J(last)':>8}" + "".join(f" {SHORT[m]:>{_width(m)}}" for m in cols)
    lines = [head]
    for r in ev.epochs:
        jp = "-" if r.jaccard_prev is None else f"{r.jaccard_prev:.3f}"
        lines.append(f"{r.step:>6} {jp:>8} {r.jaccard_last:>8.3f}"
                     + "".join(f" {_fmt(r.metrics.get(m)):>{_width(m)}}" for m in cols))
    lines.append(ev.verdict + ".")
    return "\n".join(lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def plot_evolution(ev: Evolution, path) -> Path:
    """PNG: Jaccard to previous / last epoch over epochs, and the metrics when present."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or window state
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise SpacelensError(f"The plot path {str(path)!r} does not end in .png", "Pass e.g. --plot evolution.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [m for m in METRICS_SHOWN if any(r.metrics.get(m) is not None for r in ev.epochs)]
    n_panels = 2 if cols else 1
    fig = Figure(figsize=(5.2 * n_panels, 3.8))
    axes = fig.subplots(1, n_panels, squeeze=False)
    steps = ev.steps
    ax = axes[0][0]
    ax.plot(steps[1:], [r.jaccard_prev for r in ev.epochs[1:]], "o-", label="to previous epoch")
    ax.plot(steps, [r.jaccard_last for r in ev.epochs], "s--", label=f"to last epoch ({steps[-1]})")
    ax.axhline(SETTLED_JACCARD, color="grey", lw=0.8, ls=":", label=f"settled ({SETTLED_JACCARD})")
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean kNN Jaccard (k={ev.k})")
    ax.set_title("how much the neighbourhoods move")
    ax.legend(loc="lower right", fontsize=8)
    if cols:
        ax2 = axes[0][1]
        for m in cols:
            ax2.plot(steps, [r.metrics.get(m) if r.metrics.get(m) is not None else float("nan") for r in ev.epochs],
                     "o-", ms=3, label=SHORT[m])
        ax2.set_xlabel("epoch")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_ylabel(f"metric (labels: {ev.label_field})")
        ax2.set_title("retrieval / clustering quality")
        ax2.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{ev.experiment} — {ev.split} split, {ev.metric}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def evolution(experiment: str, *, split: str | None = "val", k: int = 10, label_field: str | None = None,
              metric: str = "cosine", run: str | None = None, plot=None, full: bool = False,
              budget: float | None = None, home=None):
    """Per epoch of ``experiment`` (spaces of ``split`` logged with a step): mean kNN Jaccard to the
    previous and to the last epoch, and with ``label_field`` the evaluation metrics; answers "is it
    worth training longer?" in ``.verdict``. ``run``: which training run (default: the latest; the
    others are listed in ``.info["other_runs"]``). ``plot``: also write the curves to that PNG.
    Returns a :class:`~spacelens.evolution.Evolution` (``.epochs``, ``.to_dict()``, ``.to_frame()``).
    ``full`` / ``budget``: as every verb (:mod:`spacelens.budget`); epochs of more than 100,000 items
    whose full figures would take longer than the budget get sampled figures (``info["sampled"]``).
    """
    reg = home if isinstance(home, Registry) else Registry(home)
    ev = epoch_evolution(reg, experiment, split=split, k=k, label_field=label_field, metric=metric, run=run,
                         full=full, budget=budget)
    if plot is not None:
        plot_evolution(ev, plot)
    from spacelens.display import as_evolution_result

    return as_evolution_result(ev)
