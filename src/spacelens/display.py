"""Results that display themselves in a notebook: a compact table and its plot.

What ``compare``, ``evaluate``, ``project`` and ``evolution`` return shows, as the last
expression of a notebook cell, as a small HTML table with its figure inline (a PNG in base64:
no files, no network). Each keeps its figure as ``.figure`` (a matplotlib ``Figure``, drawn
once, on first use) and gives its per-item (or per-class, per-epoch) values as a DataFrame with
``.to_frame()``.

matplotlib is imported inside the functions (no pyplot: no global figure state, nothing shown
twice); nothing here runs unless a result is displayed or its figure asked for.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from spacelens import catalogue

BLUE, ORANGE, GREY = "#3b6ea8", "#c9843a", "#8a8a8a"
SHORT = {f.name: f.short for f in catalogue.METRICS}   # metric headers, from the one catalogue


# -- building blocks -----------------------------------------------------------------------
def figure(w: float, h: float):
    """A matplotlib Figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return "–" if math.isnan(v) else f"{float(v):.4f}"
    return str(v)


def table_html(rows: list[tuple[str, object]], caption: str = "") -> str:
    cap = f"<caption style='text-align:left;font-weight:600'>{html.escape(caption)}</caption>" if caption else ""
    body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
                   f"<td style='text-align:right'>{html.escape(fmt(v))}</td></tr>" for k, v in rows)
    return f"<table class='spacelens-table'>{cap}{body}</table>"


def card_html(kind: str, table: str, fig=None, note: str = "") -> str:
    """The table beside its plot (wrapping under it on narrow outputs)."""
    img = f"<img alt='{html.escape(kind)} plot' src='{png_data_uri(fig)}' style='max-width:560px'/>" if fig else ""
    note = f"<div style='color:#555;font-size:90%;margin-top:4px'>{html.escape(note)}</div>" if note else ""
    return (f"<div class='spacelens-result' data-kind='{html.escape(kind)}' style='display:flex;flex-wrap:wrap;"
            f"gap:16px;align-items:flex-start'><div>{table}{note}</div>{img}</div>")


# -- compare ------------------------------------------------------------------------------------
def comparison_figure(c):
    """Per-item Jaccard histogram (the baseline's beside it), and the k curve when several k."""
    curve = c.info.get("curve", {}) or {}
    two = len(curve) > 1
    fig = figure(8.4 if two else 4.6, 3.0)
    axes = fig.subplots(1, 2 if two else 1, squeeze=False)[0]
    ax = axes[0]
    bins = np.linspace(0, 1, 21)
    ax.hist(np.asarray(c.jaccard, dtype=float), bins=bins, color=BLUE, alpha=0.85, label=f"{c.space_a} vs {c.space_b}")
    if c.baseline is not None and len(c.baseline.jaccard):
        ax.hist(np.asarray(c.baseline.jaccard, dtype=float), bins=bins, histtype="step", color=ORANGE, lw=1.5,
                label="baseline (reseeded)")
    ax.axvline(c.mean, color="black", lw=1, ls="--")
    ax.set_xlabel(f"per-item kNN Jaccard (k={c.k})")
    ax.set_ylabel("items")
    ax.set_title(f"mean {c.mean:.3f}", fontsize=9)
    ax.legend(fontsize=7)
    if two:
        ks = sorted(int(k) for k in curve)
        ax2 = axes[1]
        ax2.plot(ks, [curve[str(k)]["mean"] for k in ks], "o-", color=BLUE, label="Jaccard")
        if all("chance" in curve[str(k)] for k in ks):
            ax2.plot(ks, [curve[str(k)]["chance"] for k in ks], "--", color=GREY, label="chance")
        ax2.set_xscale("log")
        ax2.set_xlabel("k")
        ax2.set_ylim(0, 1)
        ax2.set_title("k curve", fontsize=9)
        ax2.legend(fontsize=7)
    return fig


def comparison_html(c) -> str:
    info = c.info
    rows = [("spaces", f"{c.space_a} vs {c.space_b}"), ("k", c.k), ("items", len(c.jaccard)),
            ("mean Jaccard", c.mean)]
    ci = (info.get("sample") or {}).get("ci95")
    if ci:
        rows.append(("95% interval", f"{ci[0]:.4f} – {ci[1]:.4f} ({info['sample']['n']:,} sampled items)"))
    if info.get("chance") is not None:
        rows.append(("chance level", info["chance"]))
    curve = info.get("curve", {}) or {}
    point = curve.get(str(c.k), {})
    for key, label in (("overlap", catalogue.short("overlap")), ("cknna", catalogue.short("cknna"))):
        if point.get(key) is not None:
            rows.append((label, point[key]))
    for key, label in (("cka", catalogue.short("cka")), ("cka_unbiased", catalogue.short("cka_unbiased"))):
        v = info.get(key)
        if isinstance(v, dict):
            v = v.get("value", v.get("cka"))
        if isinstance(v, (int, float)):
            rows.append((label, v))
    if c.baseline is not None:
        rows.append(("baseline (reseeded) mean", c.baseline.mean))
    return card_html("comparison", table_html(rows, "kNN agreement"), c.figure,
                     "Per-item values: .to_frame(); the figure: .figure")


# -- evaluate ------------------------------------------------------------------------------------
class EvaluationResult(dict):
    """The metrics dict of :func:`spacelens.evaluate` (index it as before), shown as a table
    and a bar chart in a notebook; ``.figure`` and ``.to_frame()`` (per class when asked
    for with ``per_class=True``, else one row per metric)."""

    def __init__(self, data: dict, *, space: str = "", label_field: str = ""):
        super().__init__(data)
        self.space = space
        self.label_field = label_field
        self._figure = None

    def metrics(self) -> dict:
        return {k: v for k, v in self.items() if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)}

    @property
    def figure(self):
        if self._figure is None:
            m = {k: v for k, v in self.metrics().items() if k in SHORT and v is not None and not math.isnan(v)}
            fig = figure(4.6, 2.6)
            ax = fig.add_subplot(1, 1, 1)
            names = [SHORT[k] for k in m]
            ax.barh(names[::-1], list(m.values())[::-1], color=BLUE)
            for y, v in enumerate(list(m.values())[::-1]):
                ax.text(min(v + 0.01, 0.9), y, f"{v:.3f}", va="center", fontsize=8)
            ax.set_xlim(0, 1)
            ax.set_title(f"{self.space} · labels: {self.label_field}", fontsize=9)
            self._figure = fig
        return self._figure

    def to_frame(self):
        import pandas as pd

        if self.get("per_class"):
            return pd.DataFrame(self["per_class"])
        return pd.DataFrame([{"metric": k, "value": v} for k, v in self.metrics().items()])

    def _repr_html_(self) -> str:
        rows = [(SHORT.get(k, k), v) for k, v in self.metrics().items()]
        info = self.get("info", {}) or {}
        for key in ("k", "metric", "n_queries", "engine"):
            if key in info and not isinstance(info[key], (dict, list)):
                rows.append((key, info[key]))
        return card_html("evaluation", table_html(rows, f"Evaluation of {self.space}"), self.figure,
                         "Index it like a dict; per class: evaluate(..., per_class=True).to_frame()")

    def __reduce__(self):  # pickles and copies as the plain dict it extends
        return (dict, (dict(self),))


# -- project ---------------------------------------------------------------------------------
def projection_figure(p):
    fig = figure(4.2, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    xy = np.asarray(p.coords, dtype=float)
    size = float(np.clip(20000 / max(len(xy), 1), 0.3, 10))
    sc = ax.scatter(xy[:, 0], xy[:, 1], s=size, c=np.asarray(p.per_item, dtype=float), cmap="viridis", vmin=0, vmax=1,
                    linewidths=0, rasterized=True)
    fig.colorbar(sc, ax=ax, shrink=0.8, label="kNN preservation")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{p.space} · {p.method}", fontsize=9)
    return fig


def projection_html(p) -> str:
    f = p.faithfulness or {}
    rows = [("space", p.space), ("method", p.method), ("items", len(p.coords))]
    if p.aligned_to:
        rows.append(("aligned to", p.aligned_to))
    for key in ("knn_preservation", "trustworthiness", "k"):
        if key in f:
            rows.append((key.replace("_", " "), f[key]))
    return card_html("projection", table_html(rows, "2D map"), p.figure,
                     "Coordinates and per-item preservation: .to_frame()")


def projection_frame(p):
    import pandas as pd

    cols = {"id": p.ids if p.ids is not None else np.arange(len(p.coords)).astype(str), "row": p.rows,
            "x": p.coords[:, 0], "y": p.coords[:, 1], "knn_preservation": p.per_item}
    if p.trust_per_item is not None:
        cols["trustworthiness"] = p.trust_per_item
    return pd.DataFrame(cols)


def _result_class(base, html_fn, figure_fn, frame_fn=None):
    """A subclass of ``base`` (no new fields) that displays itself; see as_projection_result."""
    ns = {"_repr_html_": lambda self: html_fn(self), "__doc__": base.__doc__,
          "figure": property(lambda self: _cached_figure(self, figure_fn))}
    if frame_fn is not None:
        ns["to_frame"] = lambda self: frame_fn(self)
    return type(base.__name__, (base,), ns)


def _cached_figure(obj, figure_fn):
    if obj.__dict__.get("_figure") is None:
        obj.__dict__["_figure"] = figure_fn(obj)
    return obj.__dict__["_figure"]


_classes: dict = {}


def _display_as(obj, html_fn, figure_fn, frame_fn=None):
    base = type(obj)
    if getattr(base, "_repr_html_", None) is not None:
        return obj
    cls = _classes.get(base)
    if cls is None:
        cls = _classes[base] = _result_class(base, html_fn, figure_fn, frame_fn)
    obj.__class__ = cls  # the same object and fields: only display methods are added
    return obj


def as_projection_result(p):
    """``p`` (a :class:`~spacelens.project.Projection`) with ``_repr_html_``, ``.figure``, ``.to_frame()``."""
    return _display_as(p, projection_html, projection_figure, projection_frame)


# -- evolution -------------------------------------------------------------------------------
def evolution_figure(ev):
    from matplotlib.ticker import MaxNLocator

    cols = [m for m in SHORT if any(r.metrics.get(m) is not None for r in ev.epochs)]
    fig = figure(8.4 if cols else 4.6, 3.0)
    axes = fig.subplots(1, 2 if cols else 1, squeeze=False)[0]
    steps = ev.steps
    ax = axes[0]
    ax.plot(steps[1:], [r.jaccard_prev for r in ev.epochs[1:]], "o-", color=BLUE, label="to previous epoch")
    ax.plot(steps, [r.jaccard_last for r in ev.epochs], "s--", color=ORANGE, label="to last epoch")
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean kNN Jaccard (k={ev.k})")
    ax.legend(fontsize=7)
    if cols:
        for m in cols:
            axes[1].plot(steps, [r.metrics.get(m, float("nan")) for r in ev.epochs], "o-", ms=3, label=SHORT[m])
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].set_xlabel("epoch")
        axes[1].set_title(f"labels: {ev.label_field}", fontsize=9)
        axes[1].legend(fontsize=7)
    return fig


def evolution_html(ev) -> str:
    df = ev.to_frame()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    table = (f"<table class='spacelens-table'><caption style='text-align:left;font-weight:600'>"
             f"{html.escape(ev.experiment)} over training</caption><tr>{head}</tr>{body}</table>")
    return card_html("evolution", table, ev.figure, ev.verdict)


def as_evolution_result(ev):
    """``ev`` (an :class:`~spacelens.evolution.Evolution`) with ``_repr_html_`` and ``.figure``."""
    return _display_as(ev, evolution_html, evolution_figure)
