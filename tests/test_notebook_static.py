"""What a saved notebook keeps of ``spacelens.widget(...)`` when no kernel runs (issue 18).

The widget's mimebundle holds anywidget's widget view (drawn while a kernel runs) and a static
fallback for nbviewer, GitHub and nbconvert: ``text/html`` with the two spaces' names, the
items, k and the mean per-item kNN Jaccard, and a PNG of both maps; ``text/plain`` says the
same in a line. The numbers must equal a brute-force kNN Jaccard and ``spacelens.compare`` on
the same arrays; the PNG must show points in both maps.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

pytest.importorskip("anywidget", reason="the notebook extra is not installed (pip install 'spacelens[notebook]')")

import spacelens
from spacelens.notebook.analyzer import STATIC

if not (STATIC / "widget.js").is_file():
    pytest.skip("the widget's front end is not built (run: make web)", allow_module_level=True)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
N, K = 400, 10


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:N].astype(np.float32), y[:N]
    B = (X @ np.random.default_rng(1).normal(size=(64, 12))).astype(np.float32)
    return X, B, y


def brute_mean_jaccard(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Mean per-item Jaccard of the cosine kNN lists (self excluded, ties to the lower row)."""
    def knn(x):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = u @ u.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float(np.mean([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(knn(a), knn(b))]))


def table_cells(html: str) -> dict[str, str]:
    return dict(re.findall(r"<th[^>]*>(.*?)</th><td[^>]*>(.*?)</td>", html))


def ink_columns(png: bytes) -> np.ndarray:
    """Per image column, how many pixels are coloured (not white, not grey text/axes)."""
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    saturated = (a.max(axis=2) - a.min(axis=2)) > 40
    return saturated.sum(axis=0)


def test_mimebundle_holds_the_widget_view_and_a_static_fallback(digits):
    X, B, y = digits
    w = spacelens.widget(X, B, labels=y, names=("pixels", "projected"), k=K, map="pca")
    data, _meta = w._repr_mimebundle_()
    # the live view: anywidget's model, for front ends with a widget manager
    assert data[WIDGET_VIEW]["model_id"] == w.model_id

    ref = brute_mean_jaccard(X.astype(np.float64), B.astype(np.float64), K)
    api = spacelens.compare(X, B, k=K, cka=False).mean
    assert api == pytest.approx(ref, abs=1e-6)

    html = data["text/html"]
    cells = table_cells(html)
    assert cells["spaces"] == "pixels vs projected"
    assert cells["items"] == f"{N:,}"
    assert cells["items in both spaces"] == f"{N:,}"
    assert cells["k"] == str(K)
    assert float(cells[f"mean Jaccard@{K}"]) == pytest.approx(ref, abs=5e-5)   # shown to 4 decimals
    assert cells["map"] == "pca"
    assert f"mean Jaccard@{K} {api:.3f}" in data["text/plain"]
    assert data["text/plain"].startswith("spacelens widget: pixels vs projected · 400 items")

    # one PNG of both maps: coloured points in its left and in its right half
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(pngs) == 1
    cols = ink_columns(base64.b64decode(pngs[0]))
    half = len(cols) // 2
    assert cols[: half - 20].sum() > 300 and cols[half + 20:].sum() > 300


def test_fallback_follows_the_widgets_view(digits):
    """Colour and selection changed from Python show in the next saved view."""
    X, B, y = digits
    w = spacelens.widget(X, B, labels=y, names=("pixels", "projected"), k=K, map="pca")
    before = w._repr_mimebundle_()[0]["text/html"]
    assert "selected" not in table_cells(before)
    w.select(rows=[1, 2, 3])
    w.color = "coincidence"
    after = w._repr_mimebundle_()[0]["text/html"]
    assert table_cells(after)["selected"] == "3"
    png = lambda h: re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", h).group(1)
    assert png(after) != png(before)   # the maps recoloured by per-item Jaccard
