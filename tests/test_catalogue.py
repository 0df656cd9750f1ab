"""One catalogue of figures (spacelens.catalogue), one table of engines, one JSON encoder:
every surface reads them, and nothing else in the source redefines them."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import spacelens
from spacelens import catalogue
from spacelens.jsonable import dumps, jsonable

SRC = Path(__file__).resolve().parents[1] / "src" / "spacelens"


def _string_constants(node) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_every_metric_evaluate_reports_is_catalogued_and_every_catalogued_metric_is_reported(labeled, home):
    spacelens.add(labeled.vectors, labeled.csv, dataset_name="d", experiment_name="e", space_name="s")
    res = spacelens.evaluate("s", label_field="label")
    reported = {k for k, v in res.items() if isinstance(v, float)}
    assert reported == set(catalogue.METRIC_NAMES)
    for f in catalogue.METRICS:
        lo, hi = f.range
        assert lo <= res[f.name] <= hi, f.name


def test_entries_are_complete_and_unique():
    names = [f.name for f in catalogue.entries()]
    shorts = [f.short for f in catalogue.entries()]
    assert len(set(names)) == len(names) and len(set(shorts)) == len(shorts)
    for f in catalogue.entries():
        assert f.family in ("metric", "measure") and f.short and f.label and f.definition and f.doc
        assert f.range[0] < f.range[1]
    assert catalogue.PRIMARY_METRIC in catalogue.PAIRED_METRICS
    assert set(catalogue.VERSUS_METRICS) <= set(catalogue.PAIRED_METRICS)
    with pytest.raises(KeyError, match="known"):
        catalogue.get("nope")


def test_no_module_keeps_its_own_table_of_metric_labels():
    """A dict literal keyed by metric names with their short labels belongs to the catalogue only."""
    offenders = []
    metric_names = set(catalogue.METRIC_NAMES)
    for p in SRC.rglob("*.py"):
        if p.name == "catalogue.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                values = {v.value for v in node.values if isinstance(v, ast.Constant)}
                if len(keys & metric_names) >= 2 and values & ({f.short for f in catalogue.METRICS} | {"R-prec"}):
                    offenders.append(f"{p.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, (ast.Tuple, ast.List)) and all(isinstance(e, (ast.Tuple, ast.List)) for e in node.elts):
                pairs = {tuple(_string_constants(e)) for e in node.elts}
                if sum(1 for pr in pairs if set(pr) & metric_names and set(pr) & {"MAP@R", "P@1"}) >= 2:
                    offenders.append(f"{p.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"metric labels defined outside spacelens.catalogue: {offenders}"


def test_engine_names_are_not_compared_outside_the_engine_table():
    """Code outside neighbors/ asks the table (is_exact, RECALL_ENGINES ...) instead of naming engines."""
    engine_names = {"hnsw", "ivf", "dask"}
    offenders = []
    for p in SRC.rglob("*.py"):
        if "neighbors" in p.parts:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Compare):
                consts = set()
                for c in [node.left, *node.comparators]:
                    consts |= _string_constants(c) if isinstance(c, (ast.Constant, ast.Tuple, ast.List, ast.Set)) else set()
                if consts & engine_names:
                    offenders.append(f"{p.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"engine names compared outside spacelens.neighbors: {offenders}"


def test_engine_table_properties_match_the_engines():
    from spacelens.neighbors import engines

    for e in engines.TABLE:
        if e.extra:
            continue
        cls = e.load()
        assert cls.name == e.name
        assert ("recall" in cls.__init__.__code__.co_varnames) == e.recall_target, e.name
    assert engines.is_exact("exact") and engines.is_exact("dask") and not engines.is_exact("ivf")
    assert not engines.is_exact(None)
    with pytest.raises(spacelens.SpacelensError, match="Use one of"):
        engines.info("annoy")


def test_cli_tables_use_the_catalogue_labels(cli, labeled):
    cli("add", "-e", _npy(labeled), "-d", labeled.csv, "--dataset-name", "d", "--experiment-name", "e",
        "--embedding-space-name", "s", check=True)
    out = cli("evaluate", "s", "--label-field", "label", "--per-class", check=True).out
    for m in catalogue.RETRIEVAL_METRICS:          # per-label table headers
        assert catalogue.short(m) in out
    board = cli("leaderboard", "d", check=True).out
    assert f"ranked by {catalogue.short(catalogue.PRIMARY_METRIC)}" in board
    assert "R-prec " not in board and "R-prec\n" not in board


def test_the_page_serves_the_catalogue(home):
    pytest.importorskip("fastapi")
    from _web import local_client

    from spacelens.server import create_app

    with local_client(create_app(home, jobs="thread")) as c:
        got = c.get("/api/catalogue")
    assert got.status_code == 200, got.text
    assert got.json() == json.loads(json.dumps(catalogue.as_json()))


# -- one JSON encoder ---------------------------------------------------------------------------
@dataclasses.dataclass
class _Point:
    x: float
    tags: tuple


def test_jsonable_turns_numpy_nan_and_containers_into_strict_json():
    value = {1: np.float32(0.5), "nan": float("nan"), "inf": np.float64(np.inf), "arr": np.array([[1, 2]]),
             "nested": [np.int64(3), (np.bool_(True), None)], "point": _Point(math.nan, ("a",)),
             "path": Path("/tmp/x"), "set": {2, 1}}
    got = jsonable(value)
    assert got == {"1": 0.5, "nan": None, "inf": None, "arr": [[1, 2]], "nested": [3, [True, None]],
                   "point": {"x": None, "tags": ["a"]}, "path": "/tmp/x", "set": [1, 2]}
    assert type(got["nested"][1][0]) is bool and type(got["nested"][0]) is int
    assert json.loads(dumps(value)) == got       # strict: would raise on a NaN that slipped through


def _npy(labeled) -> Path:
    p = labeled.csv.with_suffix(".npy")
    np.save(p, labeled.vectors)
    return p
