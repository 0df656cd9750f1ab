"""examples/triplet_vs_arcface.ipynb, executed with a real kernel (nbclient), its outputs checked.

The notebook trains (2 epochs on a subset) into a registry the test names (DIGITS_HOME), so
the test can recompute every number it shows with the API in this process: the evaluations
and the comparison shown in the notebook must be the API's, each result must carry its
figure (an inline PNG), and the widget's cell must hold a widget view.
"""

from __future__ import annotations

import base64
import json
import os
import re
from html import escape
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow]
nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed (pip install 'spacelens[notebook]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install 'spacelens[notebook]')")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install 'spacelens[notebook]')")
pytest.importorskip("anywidget", reason="the notebook extra is not installed (pip install 'spacelens[notebook]')")
pytest.importorskip("torch", reason="the example trains with torch (pip install torch==2.13.0)")
pytest.importorskip("pytorch_metric_learning", reason="the example needs the pml extra")

import spacelens  # noqa: E402
from spacelens.notebook.analyzer import STATIC  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "triplet_vs_arcface.ipynb"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

if not (STATIC / "widget.js").is_file():
    pytest.skip("the widget's front end is not built (run: make web)", allow_module_level=True)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    home = tmp_path_factory.mktemp("digits-home")
    nb = nbformat.read(EXAMPLE, as_version=4)
    src = str(Path(spacelens.__file__).resolve().parents[1])
    env = {"DIGITS_HOME": str(home), "SPACELENS_NO_PROGRESS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(EXAMPLE.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    ARTIFACTS.mkdir(exist_ok=True)
    nbformat.write(nb, ARTIFACTS / "triplet_vs_arcface.executed.ipynb")
    return nb, home


def outputs_of(nb, needle: str) -> list[dict]:
    """The outputs of the code cell whose source contains ``needle``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(cells) == 1, needle
    return cells[0].outputs


def html_of(nb, needle: str) -> str:
    htmls = [o["data"]["text/html"] for o in outputs_of(nb, needle) if "text/html" in o.get("data", {})]
    assert htmls, f"no HTML output in the cell with {needle!r}"
    return htmls[-1]


def png_count(html: str) -> int:
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    return sum(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_example_notebook_runs_and_shows_the_apis_numbers(executed):
    nb, home = executed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    summary = json.loads(next(o["text"] for o in outputs_of(nb, "summary = ") if o.output_type == "stream"))

    # recompute with the API, here, from the registry the notebook trained into
    reg = spacelens.open_registry(home)
    table = spacelens.load_dataset("digits", home=reg)
    val = table[table["split"] == "val"]
    labels = val["label"].to_numpy()
    emb = {n: np.asarray(spacelens.load_space(f"{n}.epoch_2.val", home=reg)[0])
           for n in ("triplet", "arcface", "triplet-seed1")}
    for name, needle in (("triplet", 'triplet_eval = spacelens.evaluate'), ("arcface", 'arcface_eval = spacelens.evaluate')):
        res = spacelens.evaluate(emb[name], labels)
        assert summary["map_at_r"][name] == pytest.approx(res["mean_average_precision_at_r"], abs=1e-12)
        # the same figure the named space gives (the notebook used arrays, the API here a name)
        named = spacelens.evaluate(f"{name}.epoch_2.val", label_field="label", home=reg)
        assert named["mean_average_precision_at_r"] == pytest.approx(res["mean_average_precision_at_r"], abs=1e-12)
        html = html_of(nb, needle)
        assert f"{res['mean_average_precision_at_r']:.4f}" in html and png_count(html) == 1

    cmp = spacelens.compare(emb["triplet"], emb["arcface"], k=10, baseline=emb["triplet-seed1"],
                            names=("triplet", "arcface"))
    assert summary["jaccard"] == pytest.approx(cmp.mean, abs=1e-12)
    assert summary["baseline_jaccard"] == pytest.approx(cmp.baseline.mean, abs=1e-12)
    html = html_of(nb, "cmp = spacelens.compare")
    assert f"{cmp.mean:.4f}" in html and f"{cmp.baseline.mean:.4f}" in html and png_count(html) == 1
    reading = "".join(o.get("text", "") for o in outputs_of(nb, 'print(cmp.info["baseline_reading"])'))
    assert cmp.info["baseline_reading"] in reading

    ev = spacelens.evolution("triplet", split="val", label_field="label", home=reg)
    html = html_of(nb, "spacelens.evolution(")
    assert escape(ev.verdict) in html and png_count(html) == 1

    # the widget's cell shows a widget view; select() picked every 8 of the val split
    views = [o for o in outputs_of(nb, "w = spacelens.widget(") if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    assert summary["selected"] == int((labels == 8).sum())
