"""Static PNGs for comparisons: the per-item Jaccard histogram (with the k curve) and the
similarity heatmap of all spaces of a dataset.

matplotlib is imported here only, inside the functions, and drawn with the Agg canvas
directly (no pyplot, no GUI backend, no global state): safe in servers and headless jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _bars(ax, hist: dict, color: str, label: str, offset: float = 0.0, width: float = 0.8):
    counts = np.asarray(hist["counts"], dtype=float)
    share = counts / max(counts.sum(), 1)
    x = np.arange(len(counts)) + offset
    ax.bar(x, share, width=width, color=color, label=label)
    ax.set_xticks(np.arange(len(counts)))
    if hist["kind"] == "shared":
        ax.set_xticklabels([f"{s}\n{j:.2f}" for s, j in zip(hist["shared"], hist["levels"])], fontsize=7)
        ax.set_xlabel("shared neighbours / Jaccard")
    else:
        ax.set_xticklabels(hist["labels"], fontsize=7, rotation=30)
        ax.set_xlabel("Jaccard")
    ax.set_ylabel("share of items")


def histogram_png(comparison, path) -> Path:
    """Write the comparison's histogram (and k curve, when several k) to ``path`` (PNG)."""
    path = Path(path)
    info = comparison.info
    base = comparison.baseline
    curve = info.get("curve", {})
    two = len(curve) > 1
    fig = _figure(10 if two else 6.5, 4)
    ax = fig.add_subplot(1, 2 if two else 1, 1)
    width = 0.4 if base is not None else 0.8
    _bars(ax, info["histogram"], "#3b6ea8", f"{comparison.space_a} vs {comparison.space_b}",
          -width / 2 if base is not None else 0.0, width)
    if base is not None and base.info["histogram"]["kind"] == info["histogram"]["kind"]:
        _bars(ax, base.info["histogram"], "#c9843a", f"{base.space_a} vs {base.space_b} (baseline)", width / 2, width)
    sampled = f", {info['sample']['n']:,} sampled items" if "sample" in info else ""
    ax.set_title(f"k = {comparison.k}: similarity {comparison.mean:.3f} (chance {info['chance']:.3f}){sampled}",
                 fontsize=9)
    ax.legend(fontsize=7)
    if two:
        ax2 = fig.add_subplot(1, 2, 2)
        ks = sorted(int(k) for k in curve)
        ax2.plot(ks, [curve[str(k)]["mean"] for k in ks], "o-", color="#3b6ea8",
                 label=f"{comparison.space_a} vs {comparison.space_b}")
        if base is not None and base.info.get("curve"):
            bc = base.info["curve"]
            bk = sorted(int(k) for k in bc)
            ax2.plot(bk, [bc[str(k)]["mean"] for k in bk], "s-", color="#c9843a", label="baseline")
        ax2.plot(ks, [curve[str(k)]["chance"] for k in ks], "--", color="grey", label="chance")
        ax2.set_xscale("log")
        ax2.set_xlabel("k")
        ax2.set_ylabel("mean Jaccard")
        ax2.set_ylim(0, 1)
        ax2.set_title("k curve", fontsize=9)
        ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def heatmap_png(matrix, path, which: str = "jaccard") -> Path:
    """Write the similarity matrix of a dataset's spaces as a heatmap PNG."""
    path = Path(path)
    values = np.asarray(matrix.jaccard if which == "jaccard" else matrix.cka, dtype=float)
    names = matrix.spaces
    n = len(names)
    size = max(4.0, 0.6 * n + 2.5)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(values, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                ax.text(j, i, "-" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 else "white")
    label = f"mean kNN Jaccard, k = {matrix.k}" if which == "jaccard" else "linear CKA"
    ax.set_title(f"{matrix.dataset}: {label}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
