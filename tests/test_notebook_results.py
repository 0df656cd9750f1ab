"""Arrays without ceremony and results that display themselves (issue 18).

compare/evaluate/project on plain arrays (no dataset, no experiment, no home) give the values a
brute-force reference gives, and the same values as the verbs on the same spaces registered by
name; the results show as an HTML table with an inline PNG, keep their figure, and give their
per-item values as a DataFrame.
"""

from __future__ import annotations

import base64
import re
from html import escape as html_escape

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.errors import SpacelensError


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:600].astype(np.float32), y[:600]
    B = (X @ np.random.default_rng(0).normal(size=(64, 12))).astype(np.float32)
    return X, B, y


def brute_knn(x: np.ndarray, k: int) -> np.ndarray:
    """Cosine kNN by brute force (self excluded, ties to the lower row)."""
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def brute_jaccard(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    na, nb = brute_knn(a, k), brute_knn(b, k)
    return np.array([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(na, nb)])


def png_images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_compare_arrays_equals_brute_force_and_named_spaces(digits, home):
    X, B, _ = digits
    c = spacelens.compare(X, B, k=10, cka=False)
    ref = brute_jaccard(X.astype(np.float64), B.astype(np.float64), 10)
    assert c.mean == pytest.approx(ref.mean(), abs=1e-6)
    np.testing.assert_allclose(c.to_frame().sort_values("row")["jaccard"].to_numpy(), ref, atol=1e-6)
    # the same arrays registered by name (in the user's home) give the same comparison
    table = pd.DataFrame({"id": [str(i) for i in range(len(X))]})
    spacelens.add(X, table, dataset_name="d", experiment_name="e", space_name="raw")
    spacelens.add(B, dataset_name="d", experiment_name="e", space_name="proj")
    named = spacelens.compare("raw", "proj", k=10, cka=False)
    assert named.mean == pytest.approx(c.mean, abs=1e-9)
    # nothing was written to the user's home by the array call: only the two named spaces
    assert sorted(s.name for s in spacelens.ls("spaces")) == ["proj", "raw"]


def test_compare_arrays_names_and_curve(digits):
    X, B, _ = digits
    c = spacelens.compare(X, B, k=[5, 10], names=("raw", "proj"), cka=False)
    assert (c.space_a, c.space_b) == ("raw", "proj")
    assert c.mean == pytest.approx(brute_jaccard(X.astype(np.float64), B.astype(np.float64), 10).mean(), abs=1e-6)
    df = c.to_frame()
    assert list(df.columns[:3]) == ["id", "row", "jaccard"] and "jaccard_k5" in df.columns
    # the same arrays again: the same scratch registry (content-keyed), the same numbers
    again = spacelens.compare(X, B, k=[5, 10], names=("raw", "proj"), cka=False)
    assert again.mean == c.mean


def test_evaluate_array_equals_brute_force_and_still_a_dict(digits, home):
    X, _, y = digits
    res = spacelens.evaluate(X, y, clustering=False)
    nn1 = brute_knn(X.astype(np.float64), 1)[:, 0]
    assert res["precision_at_1"] == pytest.approx(float(np.mean(y[nn1] == y)), abs=1e-9)
    assert isinstance(res, dict) and "info" in res
    # named: the same numbers from the registered space
    table = pd.DataFrame({"id": [str(i) for i in range(len(X))], "digit": y})
    spacelens.add(X, table, dataset_name="d", experiment_name="e", space_name="raw")
    named = spacelens.evaluate("raw", label_field="digit", clustering=False)
    for m in ("precision_at_1", "r_precision", "mean_average_precision_at_r"):
        assert named[m] == pytest.approx(res[m], abs=1e-12)
    frame = res.to_frame()
    assert dict(zip(frame["metric"], frame["value"]))["precision_at_1"] == res["precision_at_1"]
    per = spacelens.evaluate(X, y, clustering=False, per_class=True).to_frame()
    assert len(per) == len(np.unique(y))


def test_results_display_as_table_with_inline_png(digits):
    X, B, y = digits
    c = spacelens.compare(X, B, k=10, cka=False)
    e = spacelens.evaluate(X, y, clustering=False)
    p = spacelens.project(X, method="pca", trust_sample=None)
    for res, number in ((c, f"{c.mean:.4f}"), (e, f"{e['precision_at_1']:.4f}"),
                        (p, f"{p.faithfulness['knn_preservation']:.4f}")):
        html = res._repr_html_()
        assert "<table" in html and number in html
        pngs = png_images(html)
        assert len(pngs) == 1 and pngs[0][:8] == b"\x89PNG\r\n\x1a\n"
        from matplotlib.figure import Figure

        assert isinstance(res.figure, Figure) and res.figure is res.figure  # drawn once, kept
    # the map's per-item table: coordinates and kNN preservation of each row
    df = p.to_frame()
    np.testing.assert_allclose(df[["x", "y"]].to_numpy(), p.coords)
    assert df["knn_preservation"].mean() == pytest.approx(p.faithfulness["knn_preservation"], abs=1e-6)
    # the histogram in the figure counts every compared item
    ax = c.figure.axes[0]
    assert sum(patch.get_height() for patch in ax.patches) == len(X)


def test_evolution_displays_itself(digits, home):
    X, _, y = digits
    table = pd.DataFrame({"id": [str(i) for i in range(len(X))], "digit": y})
    spacelens.add(X, table, dataset_name="d", experiment_name="e", space_name="ep0", step=0, split="val")
    rng = np.random.default_rng(1)
    for step in (1, 2):
        spacelens.log_space(f"ep{step}", X + rng.normal(scale=2.0 * (3 - step), size=X.shape), dataset="d",
                            experiment="e", step=step, split="val")
    ev = spacelens.evolution("e", split="val", label_field="digit")
    html = ev._repr_html_()
    assert html_escape(ev.verdict) in html and len(png_images(html)) == 1
    assert ev.to_frame()["step"].tolist() == [0, 1, 2]
    for r in ev.epochs:
        assert f"{r.jaccard_last:.4f}" in html


def test_array_input_errors_name_the_fix(digits):
    X, B, y = digits
    cases = [
        (lambda: spacelens.compare(X, B[:10]), "different numbers of rows"),
        (lambda: spacelens.compare(X, "raw"), "one array and one space name"),
        (lambda: spacelens.compare(X[:, 0], B), "needs 2 dimensions"),
        (lambda: spacelens.evaluate(X), "needs its labels"),
        (lambda: spacelens.evaluate(X, y[:5]), "5 values but the embeddings have 600 rows"),
        (lambda: spacelens.evaluate("raw", y), "labels were given with the registered space"),
        (lambda: spacelens.compare(X, np.where(B > 0, np.nan, B)), "NaN"),
        (lambda: spacelens.compare(X, B, names=("a", "a")), "two different names"),
    ]
    for call, message in cases:
        with pytest.raises(SpacelensError, match=re.escape(message)):
            call()
