"""Static PNG scatter plots of maps, coloured by a metadata column or by a comparison.

matplotlib is imported lazily and only through its object API with the Agg canvas, so
plotting never changes the backend of a notebook or GUI that imported spacelens.

Colours:
- a categorical column (text, booleans, or whole numbers with at most 40 distinct values):
  the largest classes get the most distinct colours (tab10, then tab20's light shades,
  tab20b, tab20c: 60 in all), further classes cycle hues by the golden ratio with varied
  saturation and brightness; the legend lists the largest classes;
- a numeric column: viridis with a colour bar;
- ``coincidence``: the per-item kNN Jaccard of a stored comparison with another space
  (0 = the two spaces give the item entirely different neighbours, 1 = the same ones).
Missing values are drawn in light grey underneath.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacelens.errors import SpacelensError

MAX_CATEGORICAL_INTS = 40
LEGEND_MAX = 20
MISSING = (0.82, 0.82, 0.82, 1.0)


@dataclass
class Coloring:
    """What to colour each map row by: ``kind`` is "categorical", "numeric" or "none"."""

    kind: str
    values: np.ndarray | None  # per row of the projection (object for categorical, float for numeric)
    label: str = ""
    vmin: float | None = None
    vmax: float | None = None


def categorical_palette(n: int) -> np.ndarray:
    """``n`` RGBA colours, most distinct first (for classes sorted by decreasing size)."""
    from matplotlib import colormaps

    base = [colormaps["tab10"](i) for i in range(10)]
    base += [colormaps["tab20"](2 * i + 1) for i in range(10)]
    base += [colormaps["tab20b"](i) for i in range(20)] + [colormaps["tab20c"](i) for i in range(20)]
    out = base[:n]
    for i in range(n - len(out)):  # glasbey-like: golden-ratio hue steps, three levels of s and v
        h = (0.11 + i * 0.6180339887) % 1.0
        s = (0.95, 0.55, 0.75)[i % 3]
        v = (0.8, 0.95, 0.55)[(i // 3) % 3]
        out.append((*colorsys.hsv_to_rgb(h, s, v), 1.0))
    return np.array(out, dtype=float).reshape(-1, 4)


def _is_categorical(col) -> bool:
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == bool or not pd.api.types.is_numeric_dtype(col):
        return True
    return pd.api.types.is_integer_dtype(col) and col.nunique() <= MAX_CATEGORICAL_INTS


def column_coloring(reg, proj, column: str) -> Coloring:
    """Colour by a column of the space's dataset table."""
    rec = reg.space(proj.space)
    table = reg.load_table(rec.dataset, columns=[column])
    if column not in table.columns:
        names = ", ".join(map(str, reg.table_columns(rec.dataset)))
        raise SpacelensError(f"Dataset {rec.dataset!r} has no column {column!r}",
                             f"Use one of: {names}, or 'coincidence' with --vs")
    col = table[column].iloc[np.asarray(proj.rows)].reset_index(drop=True)
    if _is_categorical(col):
        values = np.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                           for v in col.tolist()], dtype=object)
        return Coloring("categorical", values, column)
    import pandas as pd

    return Coloring("numeric", pd.to_numeric(col, errors="coerce").to_numpy(dtype=float), column)


def coincidence_coloring(reg, proj, vs: str | None, k: int = 10) -> Coloring:
    """Colour by the per-item kNN Jaccard of a stored comparison of the map's space with ``vs``."""
    if not vs:
        raise SpacelensError("Colouring by coincidence needs the other space",
                             "Add --vs OTHER_SPACE (a space compared with this one by 'spacelens compare')")
    reg.space(vs)  # a clear NotFoundError for a wrong name
    cmp = None
    try:
        from spacelens.compare import load_comparison
    except ImportError:
        load_comparison = None
    if load_comparison is not None:
        cmp = load_comparison(reg, proj.space, vs, k=k)
        if cmp is None:
            cmp = load_comparison(reg, vs, proj.space, k=k)
    if cmp is None:
        raise SpacelensError(f"No stored comparison of {proj.space!r} and {vs!r} at k={k}",
                             f"Run 'spacelens compare {proj.space} {vs} --k {k}' first")
    import pandas as pd

    ids = proj.ids if proj.ids is not None else reg.space_ids(proj.space)
    pos = pd.Index(np.asarray(cmp.ids).astype(str)).get_indexer(np.asarray(ids).astype(str))
    jac = np.asarray(cmp.jaccard, dtype=float)
    values = np.where(pos >= 0, jac[np.maximum(pos, 0)], np.nan)
    return Coloring("numeric", values, f"kNN Jaccard with {vs} (k={k})", 0.0, 1.0)


def resolve_coloring(reg, proj, color: str | None, vs: str | None = None, k: int = 10) -> Coloring:
    if not color:
        return Coloring("none", None)
    if color == "coincidence":
        return coincidence_coloring(reg, proj, vs, k)
    return column_coloring(reg, proj, color)


def check_plot_path(path) -> Path:
    """``path`` as a Path, or a clear error before any work when it cannot be written as PNG."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise SpacelensError(f"Plots are written as PNG; {str(path)!r} does not end in .png", "Name the file *.png")
    if not path.parent.exists():
        raise SpacelensError(f"The folder {str(path.parent)!r} does not exist", "Create it or choose another path")
    return path


def space_coloring(reg, space: str, color: str | None, vs: str | None = None, k: int = 10) -> Coloring:
    """The colouring of every map of ``space`` (they share its rows), checked before any map is made."""
    from types import SimpleNamespace

    rec = reg.space(space)
    rows = SimpleNamespace(space=rec.name, rows=reg.load_rows(rec), ids=reg.space_ids(rec))
    return resolve_coloring(reg, rows, color, vs, k)


def _title(p) -> str:
    f = p.faithfulness
    name = {"pca": "PCA", "umap": "UMAP", "pca-umap": "PCA → UMAP"}.get(p.method, p.method)
    t = f"{p.space} · {name}"
    if p.aligned_to:
        t += f" (aligned to {p.aligned_to})"
    if f:
        trust = ("n/a" if f.get("trustworthiness") is None else f"{f['trustworthiness']:.3f}"
                 + ("*" if f.get("trust_sampled") else ""))
        t += f"\nkNN preservation@{f['k']} {f['knn_preservation']:.3f} · trustworthiness {trust}"
    return t


def plot_projections(projs, path, coloring: Coloring | list[Coloring] | None = None, *, title: str | None = None,
                     legend_max: int = LEGEND_MAX, seed: int = 0) -> Path:
    """Write one PNG with a panel per map (side by side); returns the path.

    ``coloring``: one :class:`Coloring` for all panels, or one per panel (same kind).
    Points are drawn in a seeded random order so no class hides another systematically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    projs = list(projs)
    colorings = coloring if isinstance(coloring, list) else [coloring or Coloring("none", None)] * len(projs)
    kind = colorings[0].kind
    path = check_plot_path(path)

    # categories ordered by size; the largest get the first colours
    classes, palette = [], None
    if kind == "categorical":
        import pandas as pd

        counts = pd.Series(colorings[0].values).dropna().value_counts(sort=True)  # panels map the same items
        rest = pd.Series(np.concatenate([c.values for c in colorings[1:]] or [np.array([], object)])).dropna()
        rest = rest[~rest.isin(counts.index)].value_counts(sort=True)
        counts = pd.concat([counts, rest]) if len(rest) else counts
        classes = list(counts.index)
        palette = categorical_palette(len(classes))
        lookup = {c: i for i, c in enumerate(classes)}

    extra = 2.2 if kind == "categorical" else 0.9 if kind == "numeric" else 0
    fig = Figure(figsize=(5.6 * len(projs) + extra, 5.6), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(projs), squeeze=False)[0]
    mappable = None
    rng = np.random.default_rng(seed)
    for ax, p, col in zip(axes, projs, colorings):
        xy = np.asarray(p.coords, dtype=float)
        n = len(xy)
        size = float(np.clip(30000 / max(n, 1), 0.3, 12))
        order = rng.permutation(n)
        if kind == "categorical":
            codes = np.array([lookup.get(v, -1) if v is not None else -1 for v in col.values])
            missing = codes < 0
            rgba = np.where(missing[:, None], np.array(MISSING), palette[np.maximum(codes, 0)])
            ax.scatter(xy[missing, 0], xy[missing, 1], s=size, c=[MISSING], linewidths=0, rasterized=True)
            o = order[~missing[order]]
            ax.scatter(xy[o, 0], xy[o, 1], s=size, c=rgba[o], linewidths=0, rasterized=True)
        elif kind == "numeric":
            v = np.asarray(col.values, dtype=float)
            missing = ~np.isfinite(v)
            ax.scatter(xy[missing, 0], xy[missing, 1], s=size, c=[MISSING], linewidths=0, rasterized=True)
            o = order[~missing[order]]
            vmin = col.vmin if col.vmin is not None else (np.nanmin(v) if (~missing).any() else 0.0)
            vmax = col.vmax if col.vmax is not None else (np.nanmax(v) if (~missing).any() else 1.0)
            mappable = ax.scatter(xy[o, 0], xy[o, 1], s=size, c=v[o], cmap="viridis", vmin=vmin, vmax=vmax,
                                  linewidths=0, rasterized=True)
        else:
            ax.scatter(xy[order, 0], xy[order, 1], s=size, c="#3b6ea5", linewidths=0, rasterized=True)
        ax.set_title(_title(p), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    if kind == "categorical" and classes:
        shown = classes[:legend_max]
        handles = [Line2D([], [], marker="o", linestyle="", markersize=6, color=palette[i],
                          label=f"{c} ({counts.iloc[i]:,})") for i, c in enumerate(shown)]
        if len(classes) > legend_max:
            handles.append(Line2D([], [], linestyle="", label=f"+ {len(classes) - legend_max:,} more classes"))
        axes[-1].legend(handles=handles, title=colorings[0].label, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                        fontsize=7, title_fontsize=8, frameon=False)
    elif kind == "numeric" and mappable is not None:
        fig.colorbar(mappable, ax=list(axes), label=colorings[0].label, shrink=0.8, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    if any(p.faithfulness.get("trust_sampled") for p in projs):
        items = max(p.faithfulness.get("trust_items", 0) for p in projs)
        fig.text(0.01, 0.01, f"* trustworthiness measured on a sample of {items:,} items", fontsize=7)
    fig.savefig(path, format="png")
    return path
