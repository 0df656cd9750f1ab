"""The report's plots, drawn from its content dict, as inline SVG strings.

matplotlib is imported inside the functions and drawn on the Agg/SVG canvas directly (no
pyplot, no global state). SVG keeps text sharp and needs no external file or font: the
glyphs are written as paths (``svg.fonttype = "path"``), so the page renders the same
everywhere with no network.
"""

from __future__ import annotations

import io
import math

import numpy as np

BLUE, ORANGE, GREY, RED = "#3b6fb6", "#e08a2c", "#9a9a9a", "#c0392b"


def _figure(w: float, h: float):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasSVG(fig)
    return fig


def _svg(fig) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "spacelens"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML


def _style(ax):
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def agreement_curve(content: dict) -> str | None:
    """Mean Jaccard, overlap@k and CKNNA over k (A vs B solid; baseline dashed)."""
    curve = content["agreement"]["curve"]
    if not curve:
        return None
    ks = sorted(int(k) for k in curve)
    fig = _figure(6.4, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    series = (("mean", "Jaccard", BLUE), ("overlap", "overlap@k", ORANGE), ("cknna", "CKNNA", "#4a9a5b"))
    base = content.get("noise", {}).get("curve", {}) if content.get("noise") else {}
    for key, label, color in series:
        y = [curve[str(k)].get(key) for k in ks]
        if all(v is None for v in y):
            continue
        ax.plot(ks, [np.nan if v is None else v for v in y], "o-", color=color, label=f"{label}")
        if base:
            yb = [base.get(str(k), {}).get(key) for k in ks]
            if not all(v is None for v in yb):
                ax.plot(ks, [np.nan if v is None else v for v in yb], "o--", color=color, alpha=0.55,
                        label=f"{label}, baseline")
    ax.plot(ks, [curve[str(k)].get("overlap_chance", 0) for k in ks], ":", color=GREY, label="overlap by chance")
    ax.set_xscale("log") if len(ks) > 2 and ks[-1] / max(ks[0], 1) >= 10 else None
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_ylim(0, 1)
    ax.set_xlabel("k (neighbours per item)")
    ax.set_ylabel("agreement")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    _style(ax)
    return _svg(fig)


def histogram(content: dict) -> str | None:
    """Share of items per number of shared neighbours (A vs B, and the baseline)."""
    hist = content["agreement"].get("histogram")
    if not hist:
        return None
    fig = _figure(6.4, 2.8)
    ax = fig.add_subplot(1, 1, 1)
    counts = np.asarray(hist["counts"], float)
    x = np.arange(len(counts))
    base = (content.get("noise") or {}).get("histogram")
    w = 0.4 if base else 0.8
    ax.bar(x - (w / 2 if base else 0), counts / max(counts.sum(), 1), width=w, color=BLUE, label="A vs B")
    if base:
        bc = np.asarray(base["counts"], float)[:len(x)]
        ax.bar(x[:len(bc)] + w / 2, bc / max(bc.sum(), 1), width=w, color=ORANGE,
               label="A vs C (baseline: A reseeded)")
    ax.set_xticks(x)
    if hist["kind"] == "shared":
        ax.set_xticklabels([str(s) for s in hist["shared"]], fontsize=8)
        ax.set_xlabel(f"neighbours shared (of k = {content['k']})")
    else:
        ax.set_xticklabels(hist["labels"], fontsize=7, rotation=30)
        ax.set_xlabel("Jaccard")
    ax.set_ylabel("share of items")
    ax.legend(fontsize=7, frameon=False)
    _style(ax)
    return _svg(fig)


def by_group(content: dict, limit: int = 30) -> str | None:
    """Mean Jaccard per group with its 95% interval, least agreeing at the top."""
    by = (content.get("where") or {}).get("by")
    if not by or not by.get("groups"):
        return None
    groups = by["groups"]
    if len(groups) > limit:
        groups = groups[:limit // 2] + groups[-limit // 2:]
    fig = _figure(6.4, 0.8 + 0.24 * len(groups))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(groups))[::-1]
    means = np.array([g["mean"] for g in groups])
    lo = np.array([g["ci95"][0] if g["ci95"][0] is not None else g["mean"] for g in groups])
    hi = np.array([g["ci95"][1] if g["ci95"][1] is not None else g["mean"] for g in groups])
    ax.errorbar(means, y, xerr=[means - lo, hi - means], fmt="o", color=BLUE, ecolor="#8fb0dd", capsize=2)
    ax.axvline(by["overall"], color=GREY, linestyle=":", label="all items")
    ax.set_yticks(y)
    ax.set_yticklabels([str(g["group"]) for g in groups], fontsize=8)
    ax.set_xlabel(f"mean Jaccard at k = {by['k']} (95% CI)")
    ax.legend(fontsize=7, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def composition_change(content: dict, limit: int = 20) -> str | None:
    """Heatmap of (share in B - share in A) of neighbour labels per class."""
    st = content.get("structure")
    if not st:
        return None
    ca, cb = np.array(st["composition_a"], dtype=float), np.array(st["composition_b"], dtype=float)
    classes = st["classes"]
    if len(classes) > limit:  # keep the classes involved in the largest changes
        keep = []
        for p in st["pairs"]:
            for c in (p["class"], p["neighbour_class"]):
                if c not in keep:
                    keep.append(c)
        idx = [classes.index(c) for c in keep[:limit]]
        ca, cb, classes = ca[np.ix_(idx, idx)], cb[np.ix_(idx, idx)], [classes[i] for i in idx]
    diff = 100 * (cb - ca)     # percentage points: the cells' numbers and the colour bar in one unit
    m = np.nanmax(np.abs(diff)) if np.isfinite(diff).any() else 1.0
    size = 1.6 + 0.32 * len(classes)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-max(m, 1e-7), vmax=max(m, 1e-7))
    ax.set_xticks(range(len(classes)))
    ax.set_yticks(range(len(classes)))
    ax.set_xticklabels([str(c) for c in classes], fontsize=7, rotation=90)
    ax.set_yticklabels([str(c) for c in classes], fontsize=7)
    ax.set_xlabel("neighbour's class")
    ax.set_ylabel("item's class")
    if len(classes) <= 12:
        for i in range(len(classes)):
            for j in range(len(classes)):
                if math.isfinite(diff[i, j]) and abs(diff[i, j]) >= 0.5:
                    ax.text(j, i, f"{diff[i, j]:+.0f}", ha="center", va="center", fontsize=6,
                            color="white" if abs(diff[i, j]) > 0.6 * m else "black")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share in B − share in A (percentage points)", fontsize=7)
    return _svg(fig)


def retrieval_differences(content: dict) -> str | None:
    """Each metric's difference B - A with its 95% interval (and the baseline's, for scale)."""
    rt = content.get("retrieval")
    if not rt:
        return None
    from spacelens.catalogue import short

    metrics = list(rt["metrics"])
    fig = _figure(6.4, 0.9 + 0.45 * len(metrics) * (2 if "baseline" in rt else 1))
    ax = fig.add_subplot(1, 1, 1)
    rows = []
    for m in metrics:
        rows.append((f"{short(m)}: B − A", rt["metrics"][m], BLUE))
        if "baseline" in rt:
            rows.append((f"{short(m)}: C − A (seeds)",
                         rt["baseline"]["metrics"][m], ORANGE))
    y = np.arange(len(rows))[::-1]
    for yi, (_, r, color) in zip(y, rows):
        lo, hi = r["ci95"]
        ax.errorbar([r["difference"]], [yi], xerr=[[r["difference"] - lo], [hi - r["difference"]]], fmt="o",
                    color=color, capsize=3)
    ax.axvline(0, color=GREY, linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_xlabel("difference (95% CI, paired over queries)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


MAP_POINTS = 30_000     # at most this many points drawn per map (a fixed random subset)


def space_map(reg, content: dict, alias: str) -> bytes | None:
    """PNG of one space's PCA map (``spacelens.project``, stored and reused), coloured by the
    label field when there is one. A raster: its size does not grow with the items."""
    from spacelens import api
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    info = (content.get("maps") or {}).get(alias)
    if not info:
        return None
    p = api.project(info["space"], method="pca", home=reg)
    xy = np.asarray(p.coords, dtype=np.float64)
    rows = np.asarray(p.rows)
    keep = np.arange(len(xy))
    if len(keep) > MAP_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(len(xy), MAP_POINTS, replace=False))
    fig = Figure(figsize=(4.6, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    field = content.get("label_field")
    size = max(1.0, min(12.0, 6000 / max(len(keep), 1)))
    if field:
        import pandas as pd

        ds = reg.space(info["space"]).dataset
        labels = reg.load_table(ds, columns=[field])[field].to_numpy()[rows[keep]]
        codes, classes = pd.factorize(labels, sort=True)
        cmap = "tab10" if len(classes) <= 10 else "tab20"
        ax.scatter(xy[keep, 0], xy[keep, 1], c=codes % 20, cmap=cmap, vmin=0, vmax=(9 if len(classes) <= 10 else 19),
                   s=size, linewidths=0, alpha=0.85)
        if len(classes) <= 20:
            import matplotlib

            colours = matplotlib.colormaps[cmap]
            n = 10 if len(classes) <= 10 else 20
            handles = [matplotlib.lines.Line2D([], [], marker="o", linestyle="", markersize=4,
                                               color=colours(i / (n - 1)), label=str(c)) for i, c in enumerate(classes)]
            ax.legend(handles=handles, title=str(field), fontsize=6, title_fontsize=7, frameon=False,
                      loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        ax.scatter(xy[keep, 0], xy[keep, 1], s=size, color=BLUE, linewidths=0, alpha=0.6)
    ax.set_title(f"{alias} (PCA)" + (f", {len(keep):,} of {len(xy):,} items" if len(keep) < len(xy) else ""),
                 fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig)


def training_curves(content: dict) -> str | None:
    """Per experiment with epochs: MAP@R (with labels) and Jaccard to the previous epoch, over
    epochs; the epoch of A (and B) marked."""
    curves = (content.get("training") or {}).get("curves") or []
    if not curves:
        return None
    from spacelens.catalogue import PRIMARY_METRIC, short

    has_metric = any(e["metrics"].get(PRIMARY_METRIC) is not None for ev in curves for e in ev["epochs"])
    fig = _figure(7.2 if has_metric else 3.6, 3.0)
    axes = fig.subplots(1, 2 if has_metric else 1, squeeze=False, gridspec_kw={"wspace": 0.35})[0]
    colours = (BLUE, ORANGE, "#4a9a5b", RED)
    for i, ev in enumerate(curves):
        steps = [e["step"] for e in ev["epochs"]]
        col = colours[i % len(colours)]
        label = f"{ev['experiment']} ({ev['alias']})"
        panels = []
        if has_metric:
            panels.append((axes[0], [e["metrics"].get(PRIMARY_METRIC) for e in ev["epochs"]]))
        panels.append((axes[-1], [e["jaccard_prev"] for e in ev["epochs"]]))
        for ax, y in panels:
            ax.plot(steps, [np.nan if v is None else v for v in y], "o-", ms=2.5, color=col, label=label)
            at = steps.index(ev["step"]) if ev["step"] in steps else None
            if at is not None and y[at] is not None:
                ax.plot([ev["step"]], [y[at]], "o", ms=7, mfc="none", color=col)
    if has_metric:
        axes[0].set_ylabel(short(PRIMARY_METRIC))
        axes[0].set_title(f"{short(PRIMARY_METRIC)} per epoch", fontsize=9)
    axes[-1].set_ylabel(f"Jaccard to previous epoch (k = {curves[0]['k']})", fontsize=8)
    axes[-1].set_ylim(0, 1)
    axes[-1].set_title("how much neighbourhoods still move", fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        _style(ax)
    axes[0].legend(fontsize=7, frameon=False)
    return _svg(fig)


def all_figures(content: dict, reg=None) -> dict[str, str | bytes]:
    """Every plot the content allows, by section name."""
    out = {}
    for name, fn in (("curve", agreement_curve), ("histogram", histogram), ("by_group", by_group),
                     ("composition", composition_change), ("retrieval", retrieval_differences),
                     ("training", training_curves)):
        svg = fn(content)
        if svg:
            out[name] = svg
    if reg is not None:
        for alias in (content.get("maps") or {}):
            png = space_map(reg, content, alias)
            if png:
                out[f"map_{alias}"] = png
    return out
