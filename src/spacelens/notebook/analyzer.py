"""The notebook widget: two linked maps of two spaces, with the selection shared with Python.

The front end is the page's (``web/src/widget.ts`` imports the page's map, colour, frame and
panel modules; ``npm run build`` writes ``static/widget.js``). It asks the kernel for data by
the page's paths (``spaces/NAME/map``, ``datasets/NAME/colors``, ``comparison``, ``query``)
in custom messages; :class:`SpacelensWidget` answers with the frames the web server sends
(:mod:`spacelens.views.frames`), so no server runs and nothing leaves the kernel but what
the cell draws.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from spacelens.errors import SpacelensError

STATIC = Path(__file__).with_name("static")
MAP_PATH = re.compile(r"^spaces/(?P<name>[^/]+)/map$")
COLORS_PATH = re.compile(r"^datasets/(?P<name>[^/]+)/colors$")
ITEM_PATH = re.compile(r"^datasets/(?P<name>[^/]+)/items/(?P<row>\d+)$")


def _anywidget():
    try:
        import anywidget
        import traitlets
    except ImportError:
        raise SpacelensError("The notebook widget needs anywidget",
                             "Install the notebook extra: pip install 'spacelens[notebook]'") from None
    if not (STATIC / "widget.js").is_file():
        raise SpacelensError(f"The widget's front end is not built ({STATIC / 'widget.js'} is missing)",
                             "Build it with 'make web' (or: cd web && npm ci && npm run build)")
    return anywidget, traitlets


_WIDGET_CLASS = None


def widget_class():
    """The anywidget class (made on first use, so importing spacelens needs no anywidget)."""
    global _WIDGET_CLASS
    if _WIDGET_CLASS is not None:
        return _WIDGET_CLASS
    anywidget, t = _anywidget()

    class SpacelensWidget(anywidget.AnyWidget):
        """Two linked maps of two spaces of one dataset; ``.selection`` / ``.select(ids)``."""

        _esm = STATIC / "widget.js"
        _css = STATIC / "widget.css"
        spaces = t.List(t.Unicode(), default_value=["", ""]).tag(sync=True)
        dataset = t.Unicode("").tag(sync=True)
        method = t.Unicode("pca").tag(sync=True)
        color = t.Unicode("").tag(sync=True)
        k = t.Int(10).tag(sync=True)
        columns = t.List(t.Unicode()).tag(sync=True)
        selected_rows = t.List(t.Int()).tag(sync=True)
        height = t.Int(420).tag(sync=True)

        def __init__(self, reg, **kwargs):
            from spacelens.views.data import ComparisonCache, TableCache

            super().__init__(**kwargs)
            self._reg = reg
            self._tables = TableCache()
            self._comparisons = ComparisonCache()
            self._static: tuple | None = None
            self.on_msg(self._on_message)

        # -- what Python reads and sets ------------------------------------------------------
        @property
        def registry(self):
            return self._reg

        @property
        def selection(self):
            """The selected items' metadata (one row per item, dataset order), with their
            ``row`` and, when the two spaces were compared, their ``jaccard`` at ``k``."""
            import pandas as pd

            rows = np.asarray(sorted(self.selected_rows), dtype=np.int64)
            e = self._tables.entry(self._reg, self.dataset)
            df = e["table"].iloc[rows].reset_index(drop=True)
            df.insert(0, "row", rows)
            try:
                comp = self._comparisons.get(self._reg, self.spaces[0], self.spaces[1], self.k)
            except SpacelensError:
                return df
            jac = pd.Series(comp.jaccard, index=comp.rows)
            df["jaccard"] = jac.reindex(rows).to_numpy()
            return df

        def select(self, ids=None, *, rows=None):
            """Highlight items in both maps: by ``ids`` (the dataset's ids) or dataset ``rows``."""
            if (ids is None) == (rows is None):
                raise SpacelensError("select() needs ids or rows", "Pass select(ids) or select(rows=[...])")
            n = self._reg.dataset(self.dataset).n_rows
            if ids is not None:
                if isinstance(ids, (str, int, np.integer)):
                    ids = [ids]
                all_ids = self._tables.entry(self._reg, self.dataset)["ids"]
                where = {str(v): i for i, v in enumerate(all_ids)}
                wanted = [str(v) for v in ids]
                missing = [v for v in wanted if v not in where]
                if missing:
                    raise SpacelensError(f"{len(missing)} ids are not in dataset {self.dataset!r}: "
                                         f"{', '.join(missing[:5])}", "Pass ids of the dataset's items")
                rows = [where[v] for v in wanted]
            rows = sorted({int(r) for r in np.asarray(rows).reshape(-1)})
            if rows and (rows[0] < 0 or rows[-1] >= n):
                raise SpacelensError(f"Rows must be in 0..{n - 1}", "Pass dataset row numbers")
            self.selected_rows = rows
            return self

        def clear(self):
            self.selected_rows = []
            return self

        # -- what a notebook keeps when no kernel runs ------------------------------------------
        def _repr_mimebundle_(self, **kwargs):
            """anywidget's bundle (the widget view, drawn while a kernel runs) plus a static
            fallback: ``text/html`` (names, items, mean Jaccard, a PNG of both maps) and a
            ``text/plain`` summary, which a saved notebook shows where no widget manager can
            draw the view (nbviewer, GitHub, nbconvert, a reopened notebook without a kernel)."""
            bundle = super()._repr_mimebundle_(**kwargs)
            if bundle is None:
                return None
            data, metadata = bundle
            return {**data, "text/plain": self.summary_text(), "text/html": self.static_html()}, metadata

        def summary(self) -> dict:
            """What the static fallback says: the two spaces, the dataset's items, the items
            both spaces hold and their mean per-item kNN Jaccard at ``k``."""
            comp = self._comparisons.get(self._reg, self.spaces[0], self.spaces[1], self.k)
            return {"a": self.spaces[0], "b": self.spaces[1], "dataset": self.dataset,
                    "n_items": int(self._reg.dataset(self.dataset).n_rows), "n_shared": len(comp.rows),
                    "k": int(self.k), "mean_jaccard": float(comp.mean), "method": self.method,
                    "color": self.color, "n_selected": len(self.selected_rows)}

        def summary_text(self) -> str:
            s = self.summary()
            return (f"spacelens widget: {s['a']} vs {s['b']} · {s['n_items']:,} items · "
                    f"mean Jaccard@{s['k']} {s['mean_jaccard']:.3f} ({s['n_shared']:,} shared items)")

        def static_html(self) -> str:
            """The fallback's HTML (its maps' figure drawn once per spaces, map, colour, k)."""
            key = (tuple(self.spaces), self.method, self.color, self.k)
            if self._static is None or self._static[0] != key:
                try:
                    self._static = (key, maps_figure(self))
                except ImportError:  # no matplotlib: the table alone
                    self._static = (key, None)
            return static_html(self, self._static[1])

        # -- what the front end asks ----------------------------------------------------------
        def _on_message(self, _widget, content, _buffers):
            if not isinstance(content, dict) or content.get("type") != "get":
                return
            from spacelens.views import binary
            from spacelens.views.data import plain

            reply = {"type": "reply", "id": content.get("id")}
            try:
                out = self.answer(str(content.get("path", "")), dict(content.get("params") or {}))
            except SpacelensError as exc:
                self.send({**reply, "error": str(exc)})
                return
            except Exception as exc:  # noqa: BLE001 - shown in the cell, never a silent blank widget
                self.send({**reply, "error": f"{type(exc).__name__}: {exc}"})
                return
            if isinstance(out, tuple):
                header, buffers = out
                self.send(reply, buffers=[binary.encode(plain(header), buffers)])
            else:
                self.send({**reply, "content": plain(out)})

        def answer(self, path: str, params: dict):
            """The page's API paths, answered from the registry (frames as (header, buffers))."""
            from spacelens.views.frames import colors_frame, comparison_frame, map_frame, with_shared
            from spacelens.views.images import image_roots, query_previews

            reg = self._reg
            k = int(params.get("k", self.k))
            if m := MAP_PATH.match(path):
                return map_frame(reg, _unquote(m["name"]), str(params.get("method", self.method)),
                                 params.get("align_to") or None)
            if m := COLORS_PATH.match(path):
                by = str(params.get("by", ""))
                comp = None
                if by == "coincidence":
                    comp = self._comparisons.get(reg, params.get("a", self.spaces[0]), params.get("b", self.spaces[1]), k)
                return colors_frame(reg, _unquote(m["name"]), by, self._tables, comp)
            if m := ITEM_PATH.match(path):
                return self.item(_unquote(m["name"]), int(m["row"]), params.get("a") or None,
                                 params.get("b") or None, k)
            if path == "comparison":
                a, b = params.get("a", self.spaces[0]), params.get("b", self.spaces[1])
                return comparison_frame(reg, reg.space(a).dataset, self._comparisons.get(reg, a, b, k))
            if path == "query":
                from spacelens import api

                space, vs = params.get("space", self.spaces[0]), params.get("vs", self.spaces[1])
                row = int(params["row"])
                ids = self._tables.entry(reg, reg.space(space).dataset)["ids"]
                ds = reg.space(space).dataset
                res = api.query(space, str(ids[row]), k=k, vs=vs, home=reg)
                previews = query_previews(res, self._tables.entry(reg, ds), ds, image_roots(reg, ds), inline=True)
                return {**with_shared(res), "k": res.get("k") or k, **previews}
            raise SpacelensError(f"The widget cannot answer {path!r}", "Update spacelens and rebuild the front end")

        def item(self, dataset: str, row: int, a: str | None, b: str | None, k: int) -> dict:
            """A hovered item for the tooltip: id, metadata, image URLs, Jaccard of a and b at k
            (the page's ``datasets/NAME/items/ROW``; a kernel has no file route: small files under
            the dataset's image folder come inline as data: URLs, image URLs as they are)."""
            from spacelens.views.data import row_record
            from spacelens.views.images import image_roots, row_images

            e = self._tables.entry(self._reg, dataset)
            if not 0 <= row < len(e["ids"]):
                raise SpacelensError(f"Row {row} is not in dataset {dataset!r}", "Hover a drawn point")
            out = {"row": row, "id": str(e["ids"][row]), "metadata": row_record(e["table"], row),
                   "images": row_images(e, dataset, row, image_roots(self._reg, dataset), inline=True)}
            if a and b:
                comp = self._comparisons.get(self._reg, a, b, k)
                i = int(np.searchsorted(comp.rows, row))
                out["jaccard"] = float(comp.jaccard[i]) if i < len(comp.rows) and comp.rows[i] == row else None
            return out

    _WIDGET_CLASS = SpacelensWidget
    return SpacelensWidget


STATIC_POINTS = 20_000  # points per map in the static PNG (an even sample above that)


def static_html(w, fig=None) -> str:
    """A saved notebook's view of widget ``w``: its summary table and ``fig`` (both maps) as a PNG."""
    import html

    from spacelens.display import card_html, table_html

    s = w.summary()
    rows = [("spaces", f"{s['a']} vs {s['b']}"), ("dataset", s["dataset"]), ("items", s["n_items"]),
            ("items in both spaces", s["n_shared"]), ("k", s["k"]), (f"mean Jaccard@{s['k']}", s["mean_jaccard"]),
            ("map", s["method"])]
    if s["n_selected"]:
        rows.append(("selected", s["n_selected"]))
    note = "A static view of the spacelens widget: run the cell with a live kernel for the linked maps."
    return card_html("widget", table_html(rows, "spacelens: two spaces, one dataset"), fig, note).replace(
        "class='spacelens-result'", f"class='spacelens-result spacelens-widget-static' title='{html.escape(s['a'])} vs "
                                    f"{html.escape(s['b'])}'", 1)


def maps_figure(w):
    """Both maps side by side, coloured as the widget colours them (a column or the per-item
    Jaccard), at most STATIC_POINTS points each."""
    import pandas as pd

    from spacelens import api
    from spacelens.display import figure

    reg = w.registry
    table = w._tables.entry(reg, w.dataset)["table"]
    comp = w._comparisons.get(reg, w.spaces[0], w.spaces[1], w.k)
    n = len(table)
    ticks = None
    if w.color and w.color != "coincidence" and w.color in table.columns:
        col, label = table[w.color], w.color
        if pd.api.types.is_numeric_dtype(col) and col.nunique() > 12:   # a gradient
            values, cmap = col.to_numpy(dtype=float), "viridis"
            vmin, vmax = np.nanmin(values), np.nanmax(values)
        else:   # categories: one colour each, named on the colour bar
            import matplotlib
            from matplotlib.colors import ListedColormap

            codes, cats = pd.factorize(col, sort=True)
            base = matplotlib.colormaps["tab10" if len(cats) <= 10 else "tab20"]
            cmap = ListedColormap([base(i % base.N) for i in range(max(len(cats), 1))])
            values = np.where(codes < 0, np.nan, codes).astype(float)
            vmin, vmax = -0.5, max(len(cats), 1) - 0.5
            if len(cats) <= 20:
                ticks = (list(range(len(cats))), [str(c) for c in cats])
    else:
        values = np.full(n, np.nan)
        values[comp.rows] = comp.jaccard
        cmap, label, vmin, vmax = "viridis", f"kNN Jaccard@{w.k}", 0.0, 1.0
    fig = figure(8.4, 3.9)
    axes = fig.subplots(1, 2)
    for ax, side, space in zip(axes, "AB", w.spaces):
        p = api.project(space, method=w.method, home=reg)
        keep = np.linspace(0, len(p.rows) - 1, min(len(p.rows), STATIC_POINTS)).astype(np.int64)
        xy, rows = np.asarray(p.coords, dtype=float)[keep], np.asarray(p.rows)[keep]
        size = float(np.clip(12000 / max(len(xy), 1), 0.3, 8))
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=size, c=values[rows], cmap=cmap, vmin=vmin, vmax=vmax, linewidths=0,
                        rasterized=True, plotnonfinite=True)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{side}: {space}", fontsize=9)
    bar = fig.colorbar(sc, ax=axes, shrink=0.8, label=label)
    if ticks:
        bar.set_ticks(ticks[0], labels=ticks[1])
    return fig


def _unquote(s: str) -> str:
    from urllib.parse import unquote

    return unquote(s)


def widget(a, b, *, color: str | None = "label", map: str = "pca", k: int = 10, labels=None, metadata=None,
           names=("A", "B"), height: int = 420, home=None):
    """The analyzer's two linked maps of ``a`` and ``b`` in a notebook cell (an anywidget).

    ``a``, ``b``: two arrays (n_items, dim) whose row i is the same item (kept in a scratch
    registry, :mod:`spacelens.scratch`; ``labels``, ``metadata`` describe the items, ``names``
    title the maps), or two registered spaces' names (of ``home``). ``map``: "pca", "umap" or
    "pca-umap" (computed once and cached). ``color``: a dataset column or "coincidence" (the
    per-item kNN Jaccard at ``k``); "label" falls back to coincidence when there is no such
    column. Lasso items (shift-drag, or tick "lasso") and read them with ``w.selection``;
    highlight items from Python with ``w.select(ids)``.
    """
    from spacelens import api
    from spacelens.scratch import is_array, register
    from spacelens.views.data import check_method

    cls = widget_class()
    method = check_method(map)
    if is_array(a) or is_array(b):
        if not (is_array(a) and is_array(b)):
            raise SpacelensError("widget got one array and one space name",
                                 "Pass two arrays (same rows), or two registered spaces' names")
        if home is not None:
            raise SpacelensError("widget got arrays and home=", "Pass arrays alone, or registered names with home=")
        names = tuple(names)
        if len(names) != 2 or names[0] == names[1]:
            raise SpacelensError(f"names={names!r}", "Pass two different names, e.g. names=('triplet', 'arcface')")
        scratch = register({names[0]: a, names[1]: b}, labels=labels, metadata=metadata)
        reg, (a, b) = scratch.reg, scratch.names
    else:
        if labels is not None or metadata is not None:
            raise SpacelensError("labels/metadata were given with registered spaces",
                                 "Registered spaces use their dataset's columns: pass color=COLUMN")
        reg = api.open_registry(home)
    ra, rb = reg.space(a), reg.space(b)
    if ra.dataset != rb.dataset:
        raise SpacelensError(f"Spaces {a!r} and {b!r} embed different datasets ({ra.dataset!r}, {rb.dataset!r})",
                             "Pick two spaces of the same dataset")
    from spacelens.views.data import TableCache

    columns = [c["name"] for c in TableCache().columns(reg, ra.dataset)
               if c["kind"] in ("categorical", "numeric") and not c.get("is_id")]
    if color == "label" and "label" not in columns:
        color = "coincidence"
    if color not in (None, "", "coincidence") and color not in columns:
        raise SpacelensError(f"Cannot colour by {color!r}",
                             f"Use 'coincidence' or one of the columns: {', '.join(columns) or '(none)'}")
    for space in (a, b):  # cached: computed once per space and method
        api.project(space, method=method, home=reg)
    api.compare(a, b, k=k, cka=False, home=reg)
    return cls(reg, spaces=[a, b], dataset=ra.dataset, method=method, color=color or "", k=k, columns=columns,
               height=height)
