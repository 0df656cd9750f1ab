"""One rule for label columns (spacelens.labels), on every surface: integer class ids with many
classes are labels (evaluate, the page's pickers and colours, the widget); a measurement column
is refused with its reason; a column evaluated with is a label column everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens import labels
from spacelens.views.colors import categorical_codes, describe_columns

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def test_the_rule_by_hand():
    assert labels.refusal(pd.Series([0, 1, 999]), "label") is None                    # integers
    assert labels.refusal(pd.Series([True, False]), "flag") is None                   # booleans
    assert labels.refusal(pd.Series(["cat", "dog"]), "species") is None               # strings
    assert labels.refusal(pd.Series([1.0, 2.0, np.nan]), "label") is None             # whole floats (gaps)
    why = labels.refusal(pd.Series([0.5, 1.25]), "score")
    assert why is not None and "measurements" in why
    assert "id column" in labels.refusal(pd.Series(["a", "b"]), "id", id_field="id")
    with pytest.raises(spacelens.SpacelensError, match="pandas.qcut"):
        labels.check(np.array([0.1, 0.2]), "score")


def _table(n: int, n_classes: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lab = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
    return pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": lab,
                         "ink": rng.integers(16, 43, n), "score": rng.random(n),
                         "caption": [f"a picture number {i}" for i in range(n)],
                         "species": [f"s{x}" for x in lab]})


@pytest.mark.parametrize("n_classes", [10, 200, 1000])
def test_describe_columns_offers_integer_labels_at_any_number_of_classes(n_classes):
    cols = {c["name"]: c for c in describe_columns(_table(3 * n_classes, n_classes), "id")}
    assert cols["label"]["label"] and cols["label"]["kind"] == "categorical"      # named like classes
    assert cols["species"]["label"] and cols["species"]["kind"] == "categorical"  # strings, many classes
    assert cols["ink"]["label"] and cols["ink"]["kind"] == "numeric"              # a quantity, still allowed
    assert not cols["score"]["label"] and "measurements" in cols["score"]["label_reason"]
    assert not cols["id"]["label"] and cols["id"]["kind"] == "text"
    if n_classes >= 200:   # mostly-unique strings are free text, not classes
        assert cols["caption"]["kind"] == "text" and not cols["caption"]["label"]
    # a column evaluated with is a label column, coloured as categories, however many values
    ev = {c["name"]: c for c in describe_columns(_table(3 * n_classes, n_classes), "id", ["ink"])}
    assert ev["ink"]["evaluated"] and ev["ink"]["kind"] == "categorical"


def test_many_classes_colour_the_largest_and_say_the_rest_are_grey():
    s = pd.Series(np.repeat(np.arange(1000), np.arange(1000) % 7 + 1))
    codes, meta = categorical_codes(s)
    coloured = [e for e in meta["legend"] if not e.get("other") and e["label"] != "missing"]
    assert len(coloured) == 30 and meta["n_classes"] == 1000
    other = [e for e in meta["legend"] if e.get("other")][0]
    assert other["label"] == "970 smaller classes" and "30 largest of 1,000 classes" in meta["note"]
    sizes = s.value_counts()
    assert min(e["count"] for e in coloured) >= sizes.iloc[30]                      # the largest ones
    assert other["count"] == len(s) - sum(e["count"] for e in coloured) == int((codes == 30).sum())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """n = 3,000 items in 1,000 integer classes (3 each), two spaces; and a 200-class copy."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    h = tmp_path_factory.mktemp("labels") / "home"
    for n_classes in (200, 1000):
        t = _table(3000, n_classes, seed=n_classes)
        rng = np.random.default_rng(n_classes)
        centres = rng.normal(size=(n_classes, 8)) * 3
        for name, noise in (("A", 1.0), ("B", 0.3)):
            x = (centres[t["label"].to_numpy()] + noise * rng.normal(size=(len(t), 8))).astype(np.float32)
            spacelens.add(x, t if name == "A" else None, dataset_name=f"d{n_classes}", experiment_name=name,
                          space_name=f"{name}{n_classes}", home=h)
    yield h
    mp.undo()


def _p_at_1(x, lab):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = xn @ xn.T
    np.fill_diagonal(s, -np.inf)
    _, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
    scored = counts[inverse] > 1          # a class of one has nothing to retrieve (PML's rule)
    return float((lab[s.argmax(1)] == lab)[scored].mean())


def test_cli_evaluates_integer_labels_with_1000_classes(cli, home):
    r = cli("evaluate", "A1000", "--label-field", "label", "--no-clustering", "--json", "--home", home, check=True)
    reg = spacelens.open_registry(home)
    x = np.asarray(reg.load_vectors(reg.space("A1000")), dtype=np.float64)
    lab = reg.load_table("d1000")["label"].to_numpy()
    assert r.json()["precision_at_1"] == pytest.approx(_p_at_1(x, lab), abs=1e-12)
    r = cli("evaluate", "A1000", "--vs", "B1000", "--label-field", "label", "--json", "--home", home, check=True)
    assert r.json()["n_queries"] == 3000
    bad = cli("evaluate", "A1000", "--label-field", "score", "--home", home)
    assert bad.code == 1 and "measurements" in bad.err and "Traceback" not in bad.err


def test_the_page_api_and_widget_treat_integer_labels_as_labels(home):
    pytest.importorskip("fastapi")
    from _web import local_client, wait_job

    from spacelens.server import create_app
    from spacelens.views import binary

    with local_client(create_app(home, jobs="thread")) as c:
        cols = {x["name"]: x for x in c.get("/api/datasets/d1000").json()["columns"]}
        assert cols["label"]["label"] and cols["label"]["kind"] == "categorical"
        assert cols["ink"]["label"] and not cols["score"]["label"]
        header, _ = binary.decode(c.get("/api/datasets/d1000/colors", params={"by": "label"}).content)
        assert header["kind"] == "categorical" and header["n_classes"] == 1000 and "grey" in header["note"]
        job = wait_job(c, c.post("/api/versus", json={"a": "A200", "b": "B200", "label_field": "label"}).json())
        assert job["status"] == "done", job
        assert job["result"] == spacelens.evaluate_versus("A200", "B200", label_field="label", home=home)
        r = c.post("/api/versus", json={"a": "A200", "b": "B200", "label_field": "score"})
        assert r.status_code == 400 and "measurements" in r.json()["detail"]
        # evaluated with once, 'ink' (a quantity by its look) becomes a label column on the page
        spacelens.evaluate("A200", label_field="ink", clustering=False, home=home)
        cols = {x["name"]: x for x in c.get("/api/datasets/d200").json()["columns"]}
        assert cols["ink"]["evaluated"] and cols["ink"]["kind"] == "categorical"
    pytest.importorskip("anywidget")
    w = spacelens.widget("A1000", "B1000", color="label", home=home)
    assert "label" in w.columns and w.color == "label"
    header, _ = w.answer("datasets/d1000/colors", {"by": "label"})
    assert header["kind"] == "categorical" and header["n_classes"] == 1000
