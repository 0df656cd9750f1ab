"""The analyzer's HTTP API (FastAPI TestClient): every endpoint, its 404s and 400s, and that
no request reads a file outside the registry home.

The registry is built once per module with the real verbs (add, project, compare, evaluate)
and every answer is checked against those verbs' own results or a numpy reference.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _web import first_answer, local_client, wait_job

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import spacelens  # noqa: E402
from spacelens import api  # noqa: E402
from spacelens.registry import Registry  # noqa: E402
from spacelens.views import binary  # noqa: E402

N = 240
K = 5
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A registry with spaces A, B (all items), C (a subset) and D (no maps), and derived results."""
    root = tmp_path_factory.mktemp("server")
    home = root / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, N)
    centers = rng.normal(size=(4, 12)) * 3
    va = (centers[labels] + rng.normal(size=(N, 12))).astype(np.float32)
    vb = (va @ rng.normal(size=(12, 12)) + 2 * rng.normal(size=(N, 12))).astype(np.float32)
    score = rng.random(N)
    score[::17] = np.nan
    table = pd.DataFrame({
        "id": [f"it{i:04d}" for i in range(N)], "label": labels,
        "caption": [f"thing {i} of kind {'xyz'[i % 3]}" for i in range(N)], "score": score,
        "url": [f"https://example.org/img/{i}.png" for i in range(N)],
    })
    spacelens.add(va, table, dataset_name="items", experiment_name="runA", space_name="A", home=home)
    spacelens.add(vb, dataset_name="items", experiment_name="runB", space_name="B", home=home)
    subset = np.sort(rng.choice(N, 150, replace=False))
    spacelens.add(va[subset] * 2 + 1, dataset_name="items", experiment_name="runC", space_name="C",
                  ids=table["id"].to_numpy()[subset], home=home)
    spacelens.add(vb[:, ::-1].copy(), dataset_name="items", experiment_name="runD", space_name="D", home=home)
    # a second dataset whose image column holds file paths (one escaping the image folder)
    images = root / "images"
    images.mkdir()
    (images / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\nfake-cat")
    (root / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    pics = pd.DataFrame({"id": ["p0", "p1", "p2"], "path": ["cat.png", "../secret.png", str(root / "secret.png")]})
    spacelens.add(np.eye(3, dtype=np.float32), pics, dataset_name="pics", experiment_name="runP", space_name="P",
                  home=home)
    reg = Registry(home)
    yield {
        "root": root, "home": home, "reg": reg, "table": table, "subset": subset, "images": images,
        "proj": {s: api.project(s, method="pca", home=home) for s in ("A", "B", "C")},
        "cmp": api.compare("A", "B", k=K, home=home),
        "eval": api.evaluate("A", label_field="label", home=home),
    }
    mp.undo()


@pytest.fixture(scope="module")
def client(world):
    from spacelens.server import create_app

    app = create_app(world["home"], jobs="thread", image_roots=[world["images"]])
    with local_client(app) as c:
        yield c


def frame(resp):
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == binary.MEDIA_TYPE
    return binary.decode(resp.content)


# -- path safety: every request of this module is watched -------------------------------------
_opened: list[str] = []
_watching = [False]
_static_dirs: list[Path] = []  # page folders tests hand to create_app


def _audit(event, args):
    if _watching[0] and event in ("open", "sqlite3.connect") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def watch_files():
    """Record every file a request opens (Python's audit hooks see open() and sqlite connects)."""
    _watching[0] = True
    yield
    _watching[0] = False


def _allowed_roots(world) -> list[Path]:
    import spacelens.server

    code = Path(spacelens.__file__).resolve().parent
    return [Path(world["home"]).resolve(), code, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(spacelens.server.static_dir()).resolve(), world["images"].resolve(),
            *(d.resolve() for d in _static_dirs),
            Path(__file__).resolve().parent]  # pytest re-reads test sources for its reports


# -- registry browsing ------------------------------------------------------------------------
def test_registry_lists_everything(world, client):
    reg = client.get("/api/registry").json()
    assert [d["name"] for d in reg["datasets"]] == ["items", "pics"]
    assert {e["name"] for e in reg["experiments"]} == {"runA", "runB", "runC", "runD", "runP"}
    spaces = {s["name"]: s for s in reg["spaces"]}
    assert spaces["A"]["maps"] == ["pca"] and spaces["D"]["maps"] == []
    assert spaces["C"]["n_rows"] == 150 and spaces["A"]["dim"] == 12
    (comp,) = reg["comparisons"]
    assert (comp["a"], comp["b"], comp["k"]) == ("A", "B", K)
    assert comp["mean"] == pytest.approx(world["cmp"].mean)
    (ev,) = reg["evaluations"]
    assert ev["space"] == "A"
    for m in ("mean_average_precision_at_r", "precision_at_1", "r_precision", "NMI", "AMI"):
        assert ev["metrics"][m] == pytest.approx(world["eval"][m])
    assert "n_queries" not in ev["metrics"]  # counts are not metrics
    maps = {(m["space"], m["method"]): m for m in reg["maps"]}
    assert maps[("A", "pca")]["faithfulness"]["trustworthiness"] == pytest.approx(
        world["proj"]["A"].faithfulness["trustworthiness"])
    # the listing endpoints say the same as the overview
    assert client.get("/api/datasets").json() == reg["datasets"]
    assert client.get("/api/experiments").json() == reg["experiments"]
    assert [s["name"] for s in client.get("/api/spaces", params={"dataset": "items"}).json()] == ["A", "B", "C", "D"]
    assert client.get("/api/comparisons", params={"dataset": "items"}).json() == reg["comparisons"]
    assert client.get("/api/comparisons", params={"dataset": "pics"}).json() == []
    assert client.get("/api/evaluations", params={"space": "A"}).json() == reg["evaluations"]
    assert client.get("/api/evaluations", params={"space": "B"}).json() == []
    assert [m["space"] for m in client.get("/api/maps", params={"space": "C"}).json()] == ["C"]


def test_dataset_space_experiment_records(world, client):
    ds = client.get("/api/datasets/items").json()
    kinds = {c["name"]: c["kind"] for c in ds["columns"]}
    assert kinds == {"id": "text", "label": "categorical", "caption": "text", "score": "numeric", "url": "image"}
    assert ds["n_rows"] == N and ds["spaces"] == ["A", "B", "C", "D"]
    sp = client.get("/api/spaces/A").json()
    assert sp["evaluations"][0]["metrics"]["precision_at_1"] == pytest.approx(world["eval"]["precision_at_1"])
    assert [(c["a"], c["b"]) for c in sp["comparisons"]] == [("A", "B")]
    assert client.get("/api/spaces/B").json()["comparisons"][0]["mean"] == pytest.approx(world["cmp"].mean)
    assert client.get("/api/experiments/runC").json()["spaces"] == ["C"]


# -- binary map data --------------------------------------------------------------------------
def test_map_frame_is_the_projection_scaled_into_the_unit_square(world, client):
    head, bufs = frame(client.get("/api/spaces/A/map", params={"method": "pca"}))
    coords = world["proj"]["A"].coords.astype(np.float64)
    assert head["n"] == N and head["rows"] == "all" and "rows" not in bufs and "rows_mask" not in bufs
    x, y = bufs["x"].astype(np.float64), bufs["y"].astype(np.float64)
    assert bufs["x"].dtype == np.float32 and max(np.abs(x).max(), np.abs(y).max()) <= 1.0
    # one scale for both axes and a shift: x*s + c reproduces the map exactly (up to float32)
    s, (cx, cy) = head["transform"]["scale"], head["transform"]["centre"]
    np.testing.assert_allclose(x * s + cx, coords[:, 0], atol=1e-5 * s)
    np.testing.assert_allclose(y * s + cy, coords[:, 1], atol=1e-5 * s)
    assert head["faithfulness"]["knn_preservation"] == pytest.approx(world["proj"]["A"].faithfulness["knn_preservation"])
    # 8 bytes a point plus a small header: never JSON numbers
    assert len(client.get("/api/spaces/A/map", params={"method": "pca"}).content) < 8 * N + 1024


def test_subset_space_sends_its_rows_as_a_bit_mask(world, client):
    head, bufs = frame(client.get("/api/spaces/C/map", params={"method": "PCA"}))
    assert head["rows"] == "mask" and head["n"] == 150 and head["n_dataset"] == N
    mask = np.unpackbits(bufs["rows_mask"], bitorder="little")[:N].astype(bool)
    np.testing.assert_array_equal(np.flatnonzero(mask), world["reg"].load_rows("C"))
    np.testing.assert_array_equal(np.flatnonzero(mask), world["subset"])
    assert len(bufs["rows_mask"]) == (N + 7) // 8


def test_frame_buffers_are_8_byte_aligned():
    raw = binary.encode({"a": 1}, {"u": np.arange(3, dtype=np.uint8), "f": np.arange(5, dtype=np.float32),
                                   "i": np.array([-1, 2], dtype=np.int32)})
    head, bufs = binary.decode(raw)
    n = int.from_bytes(raw[4:8], "little")
    assert (8 + n) % 8 == 0 and all(b["offset"] % 8 == 0 for b in head["buffers"])
    np.testing.assert_array_equal(bufs["f"], np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(bufs["i"], [-1, 2])
    with pytest.raises(TypeError):
        binary.encode({}, {"bad": np.zeros(2, dtype=np.float64)})


def test_colour_by_categorical_column(world, client):
    head, bufs = frame(client.get("/api/datasets/items/colors", params={"by": "label"}))
    codes = bufs["codes"]
    assert head["kind"] == "categorical" and codes.dtype == np.uint8 and len(codes) == N
    assert len(head["palette"]) == 256
    label_of = {e["code"]: e["label"] for e in head["legend"]}
    assert [label_of[c] for c in codes] == [str(v) for v in world["table"]["label"]]
    counts = world["table"]["label"].value_counts()
    assert {e["label"]: e["count"] for e in head["legend"]} == {str(k): int(v) for k, v in counts.items()}


def test_colour_by_numeric_column_quantises_min_to_max(world, client):
    head, bufs = frame(client.get("/api/datasets/items/colors", params={"by": "score"}))
    v = world["table"]["score"].to_numpy()
    lo, hi = np.nanmin(v), np.nanmax(v)
    expected = np.where(np.isnan(v), 255, np.rint((v - lo) / (hi - lo) * 254)).astype(np.uint8)
    assert head["kind"] == "numeric" and head["min"] == pytest.approx(lo) and head["max"] == pytest.approx(hi)
    np.testing.assert_array_equal(bufs["codes"], expected)
    assert head["missing"] == int(np.isnan(v).sum()) > 0


def test_colour_by_coincidence_is_the_per_item_jaccard(world, client):
    cmp = world["cmp"]
    for a, b in (("A", "B"), ("B", "A")):  # either order: Jaccard is symmetric
        head, bufs = frame(client.get("/api/datasets/items/colors", params={"by": "coincidence", "a": a, "b": b,
                                                                             "k": K}))
        expected = np.full(N, 255, np.uint8)
        expected[cmp.rows] = np.rint(cmp.jaccard.astype(np.float64) * 254).astype(np.uint8)
        np.testing.assert_array_equal(bufs["codes"], expected)
        assert head["kind"] == "coincidence" and head["mean"] == pytest.approx(cmp.mean)
        assert head["palette"][0] != head["palette"][254]  # blue low, red high
        lo, hi = (int(head["palette"][i][1:3], 16) for i in (0, 254))
        assert hi > lo  # more red at the top


def test_comparison_histogram_counts_each_value_jaccard_takes(world, client):
    """One bin per value Jaccard takes at k (s / (2k - s), s = 0..k shared neighbours), counted by hand."""
    cmp = world["cmp"]
    head, bufs = frame(client.get("/api/comparison", params={"a": "B", "b": "A", "k": K}))
    j = cmp.jaccard.astype(np.float64)
    shared = [next(s for s in range(K + 1) if abs(v - s / (2 * K - s)) < 1e-6) for v in j]  # by hand
    counts = [shared.count(s) for s in range(K + 1)]
    h = head["histogram"]
    assert h["kind"] == "shared" and h["shared"] == list(range(K + 1))
    assert h["counts"] == counts and len(h["counts"]) == K + 1
    np.testing.assert_allclose(h["values"], [s / (2 * K - s) for s in range(K + 1)])
    assert head["mean"] == pytest.approx(float(np.mean(cmp.jaccard)), abs=1e-6)
    assert head["n"] == N and head["k"] == K
    bins = bufs["bins"]
    np.testing.assert_array_equal(bins[cmp.rows], shared)  # each item in the bar of its own value
    assert np.bincount(bins[bins != 255], minlength=K + 1).tolist() == counts
    assert head["info"]["chance"] == pytest.approx(cmp.info["chance"])


# -- items: tooltip, search, export, images --------------------------------------------------
def test_item_metadata_and_jaccard(world, client):
    t = world["table"]
    it = client.get("/api/datasets/items/items/17", params={"a": "A", "b": "B", "k": K}).json()
    assert it["id"] == "it0017" and it["metadata"]["caption"] == t["caption"][17]
    assert it["metadata"]["score"] is None  # NaN travels as null
    i = int(np.flatnonzero(world["cmp"].rows == 17)[0])
    assert it["jaccard"] == pytest.approx(float(world["cmp"].jaccard[i]))
    assert it["images"] == [{"column": "url", "url": "https://example.org/img/17.png"}]


def test_search_by_id_and_text(world, client):
    hits = client.get("/api/datasets/items/search", params={"q": "it0042"}).json()
    assert hits[0] == {"row": 42, "id": "it0042", "column": None, "text": None}
    hits = client.get("/api/datasets/items/search", params={"q": "kind Z", "limit": 50}).json()
    expected = [i for i, c in enumerate(world["table"]["caption"]) if "kind z" in c.lower()][:50]
    assert [h["row"] for h in hits] == expected and all(h["column"] == "caption" for h in hits)
    assert client.get("/api/datasets/items/search", params={"q": "no such thing"}).json() == []
    # anywhere in the id, not only at its start ("7" finds "007"): brute force over the ids
    hits = client.get("/api/datasets/items/search", params={"q": "042", "limit": 50}).json()
    assert [h["row"] for h in hits] == [i for i, x in enumerate(world["table"]["id"]) if "042" in x]


def test_search_offers_only_items_of_the_shown_spaces(world, client):
    """spaces=A,C: only items both spaces hold (C covers a subset), by brute force over the ids."""
    subset = set(world["subset"].tolist())
    ids = world["table"]["id"]
    hits = client.get("/api/datasets/items/search", params={"q": "it0", "limit": 50, "spaces": "A,C"}).json()
    assert [h["row"] for h in hits] == [i for i in sorted(subset) if ids[i].startswith("it0")][:50]
    outside = next(i for i in range(len(ids)) if i not in subset)
    assert client.get("/api/datasets/items/search", params={"q": ids[outside], "spaces": "A,C"}).json() == []
    assert client.get("/api/datasets/items/search", params={"q": ids[outside], "spaces": "A,B"}).json()[0]["row"] == outside
    # text matches are filtered too
    hits = client.get("/api/datasets/items/search", params={"q": "kind z", "limit": 50, "spaces": "C"}).json()
    assert [h["row"] for h in hits] == [i for i in sorted(subset) if "kind z" in world["table"]["caption"][i]][:50]
    # a space of another dataset is refused in words, not ignored
    resp = client.get("/api/datasets/items/search", params={"q": "it", "spaces": "P"})
    assert resp.status_code == 400 and "embeds dataset" in resp.json()["detail"]


def test_export_selection_as_csv(world, client):
    rows = np.array([200, 3, 17, 3], dtype="<u4")
    resp = client.post("/api/datasets/items/export", content=rows.tobytes(), params={"a": "A", "b": "B", "k": K})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    got = pd.read_csv(io.StringIO(resp.text))
    t = world["table"]
    want = np.array([3, 17, 200])
    assert got["id"].tolist() == t["id"][want].tolist() and got["row"].tolist() == want.tolist()
    assert got["caption"].tolist() == t["caption"][want].tolist()
    j = dict(zip(world["cmp"].rows.tolist(), world["cmp"].jaccard.tolist()))
    np.testing.assert_allclose(got[f"jaccard_k{K}"], [j[r] for r in want], rtol=1e-6)


def test_images_are_served_only_from_the_image_folder(world, client):
    ok = client.get("/api/datasets/pics/items/0/image", params={"column": "path"})
    assert ok.status_code == 200 and ok.content.endswith(b"fake-cat")
    for row in (1, 2):  # ../secret.png and an absolute path outside the folder
        resp = client.get(f"/api/datasets/pics/items/{row}/image", params={"column": "path"})
        assert resp.status_code == 404 and b"secret" not in resp.content
    item = client.get("/api/datasets/pics/items/0").json()
    assert item["images"] == [{"column": "path", "url": "api/datasets/pics/items/0/image?column=path"}]


def test_images_are_not_served_without_an_image_folder(world):
    from spacelens.server import create_app

    with local_client(create_app(world["home"], jobs="thread")) as c:
        resp = c.get("/api/datasets/pics/items/0/image", params={"column": "path"})
        assert resp.status_code == 404 and "--images" in resp.json()["detail"]
        assert c.get("/api/datasets/pics/items/0").json()["images"] == []


# -- kNN query -----------------------------------------------------------------------------------
def test_query_gives_the_api_neighbours_in_both_spaces(world, client):
    res = client.get("/api/query", params={"space": "A", "vs": "B", "id": "it0005", "k": 7}).json()
    ref = api.query("A", "it0005", k=7, vs="B", home=world["home"])
    for s in ("A", "B"):
        assert [n["id"] for n in res["spaces"][s]] == [n["id"] for n in ref["spaces"][s]]
        assert len(res["spaces"][s]) == 7
    ids_a = [n["id"] for n in ref["spaces"]["A"]]
    ids_b = {n["id"] for n in ref["spaces"]["B"]}
    assert res["shared"] == [i for i in ids_a if i in ids_b]
    by_row = client.get("/api/query", params={"space": "A", "vs": "B", "row": 5, "k": 7}).json()
    assert by_row["spaces"] == res["spaces"] and by_row["query"] == "it0005"


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, params, word", [
    ("/api/datasets/nope", {}, "nope"),
    ("/api/datasets/nope/colors", {"by": "label"}, "nope"),
    ("/api/datasets/items/colors", {"by": "nope"}, "nope"),
    ("/api/datasets/items/items/240", {}, "240"),
    ("/api/datasets/items/search", {"q": "x"}, None),
    ("/api/experiments/nope", {}, "nope"),
    ("/api/spaces/nope", {}, "nope"),
    ("/api/spaces/nope/map", {"method": "pca"}, "nope"),
    ("/api/spaces/A/map", {"method": "pca", "align_to": "nope"}, "nope"),
    ("/api/spaces", {"dataset": "nope"}, "nope"),
    ("/api/evaluations", {"space": "nope"}, "nope"),
    ("/api/comparison", {"a": "A", "b": "nope"}, "nope"),
    ("/api/query", {"space": "nope", "id": "it0001"}, "nope"),
    ("/api/jobs/999", {}, "999"),
    ("/api/no/such/endpoint", {}, "endpoint"),
])
def test_bad_names_are_404_with_a_message(client, path, params, word):
    resp = client.get(path, params=params)
    if word is None:  # a good request, as a control for the parametrization
        assert resp.status_code == 200
        return
    assert resp.status_code == 404, resp.text
    assert word in resp.json()["detail"]


def test_missing_results_are_404_naming_the_job(client):
    resp = client.get("/api/spaces/D/map", params={"method": "umap"})
    assert resp.status_code == 404
    assert resp.json()["missing"] == {"kind": "projection", "space": "D", "method": "umap"}
    resp = client.get("/api/comparison", params={"a": "A", "b": "D", "k": 5})
    assert resp.status_code == 404 and resp.json()["missing"] == {"kind": "comparison", "a": "A", "b": "D", "k": 5}
    resp = client.get("/api/datasets/items/colors", params={"by": "coincidence", "a": "A", "b": "C", "k": 5})
    assert resp.status_code == 404 and resp.json()["missing"]["kind"] == "comparison"


@pytest.mark.parametrize("method, path, kwargs, word", [
    ("get", "/api/spaces/A/map", {"params": {"method": "tsne"}}, "tsne"),
    ("get", "/api/datasets/items/colors", {"params": {"by": "caption"}}, "caption"),
    ("get", "/api/datasets/items/colors", {"params": {"by": "coincidence"}}, "two spaces"),
    ("get", "/api/comparison", {"params": {"a": "A", "b": "P"}}, "different datasets"),
    ("get", "/api/comparison", {"params": {"a": "A", "b": "B", "k": 0}}, "k must"),
    ("get", "/api/query", {"params": {"space": "A"}}, "which item"),
    ("post", "/api/datasets/items/export", {"content": np.array([240], "<u4").tobytes()}, "240"),
    ("post", "/api/datasets/items/export", {"content": b"abc"}, "uint32"),
    ("post", "/api/jobs", {"json": {"kind": "sing"}}, "sing"),
    ("post", "/api/jobs", {"json": {"kind": "comparison", "a": "A", "b": "A"}}, "two different"),
])
def test_bad_requests_are_400_with_a_message(client, method, path, kwargs, word):
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == 400, resp.text
    assert word in resp.json()["detail"]


@pytest.mark.parametrize("path", [
    "/api/datasets/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/datasets/%2e%2e/colors?by=label",
    "/api/spaces/..%2Fregistry.sqlite/map?method=pca",
    "/api/spaces/%2Fetc%2Fpasswd",
    "/api/datasets/items/items/0/image?column=..%2F..%2Fetc%2Fpasswd",
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/..%2Fapp.py",
    "/registry.sqlite",
])
def test_names_never_become_paths(client, path):
    resp = client.get(path)
    assert resp.status_code in (400, 404), (path, resp.status_code)
    assert b"root:" not in resp.content and b"SQLite format" not in resp.content
    assert b"create_app" not in resp.content


# -- jobs --------------------------------------------------------------------------------------
def test_missing_map_is_computed_by_a_worker_process(world):
    """The default job runner: one worker process, progress forwarded from the core's bars."""
    from spacelens.server import create_app

    home = world["home"]
    with local_client(create_app(home)) as c:
        assert c.get("/api/spaces/D/map", params={"method": "pca"}).status_code == 404
        job = c.post("/api/jobs", json={"kind": "projection", "space": "D", "method": "pca"})
        assert job.status_code == 202
        again = c.post("/api/jobs", json={"kind": "projection", "space": "D", "method": "pca"}).json()
        assert again["id"] == job.json()["id"]  # the same request joins the pending job
        done = wait_job(c, job.json())
        assert done["status"] == "done" and done["fraction"] == 1.0, done
        # after our own "preparing ..." stage come the core's own progress bars, forwarded from the worker
        assert done["stages"][:2] == ["starting", "preparing the PCA map of D"], done["stages"]
        assert any(s.startswith("PCA map of D") for s in done["stages"][2:]), done["stages"]
        head, bufs = frame(c.get("/api/spaces/D/map", params={"method": "pca"}))
        ref = api.project("D", method="pca", home=home)
        assert ref.cached  # the job stored it; the API read it back without recomputing
        s, (cx, cy) = head["transform"]["scale"], head["transform"]["centre"]
        np.testing.assert_allclose(bufs["x"] * s + cx, ref.coords[:, 0], atol=1e-5 * s)
        np.testing.assert_allclose(bufs["y"] * s + cy, ref.coords[:, 1], atol=1e-5 * s)
        assert [j["id"] for j in c.get("/api/jobs").json()] == [done["id"]]


def test_comparison_job_and_failed_job(world, client):
    job = client.post("/api/jobs", json={"kind": "comparison", "a": "D", "b": "A", "k": 4}).json()
    done = wait_job(client, job)
    assert done["status"] == "done", done
    head, _ = frame(client.get("/api/comparison", params={"a": "A", "b": "D", "k": 4}))
    from spacelens.compare import load_comparison

    ref = load_comparison(world["reg"], "A", "D", k=4)
    assert head["mean"] == pytest.approx(ref.mean) and head["n"] == N
    # UMAP of a 3-item space cannot work: the job fails with the library's message
    bad = wait_job(client, client.post("/api/jobs", json={"kind": "projection", "space": "P", "method": "umap"}).json())
    assert bad["status"] == "failed" and "'P' has 3 items" in bad["error"]


# -- the page and the command --------------------------------------------------------------------
def test_page_is_served_or_explains_how_to_build(world, tmp_path):
    _static_dirs.append(tmp_path)
    from spacelens.server import create_app

    with local_client(create_app(world["home"], jobs="thread", static=tmp_path)) as c:
        resp = c.get("/")
        assert resp.status_code == 503 and "make web" in resp.text
    (tmp_path / "index.html").write_text("<html>spacelens page</html>")
    with local_client(create_app(world["home"], jobs="thread", static=tmp_path)) as c:
        assert "spacelens page" in c.get("/").text
        assert c.get("/api/info").json()["version"] == spacelens.__version__


def test_ui_command_refuses_without_a_built_page(world, monkeypatch):
    from typer.testing import CliRunner

    import spacelens.server.app as server_app
    from spacelens.cli import app

    monkeypatch.setattr(server_app, "frontend_built", lambda: False)
    res = CliRunner().invoke(app, ["ui", "--home", str(world["home"]), "--no-browser"])
    assert isinstance(res.exception, spacelens.SpacelensError)
    assert "make web" in res.exception.message and "npm ci" in res.exception.message


@pytest.mark.slow
def test_ui_command_serves_the_registry(world, tmp_path):
    import subprocess

    import httpx

    from spacelens.server import frontend_built

    if not frontend_built():
        pytest.skip("the front end is not built (make web)")
    env = {**os.environ, "SPACELENS_NO_PROGRESS": "1"}
    for cmd in ("ui", "run"):
        p = subprocess.Popen([sys.executable, "-m", "spacelens", cmd, "--home", str(world["home"]), "--port", "0",
                              "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = p.stdout.readline()
            assert "http://127.0.0.1:" in line, line + p.stderr.read()
            url = line.split()[2]
            r = first_answer(url + "api/registry")
            assert [s["name"] for s in r.json()["spaces"]][:2] == ["A", "B"]
            assert "<canvas" in httpx.get(url, timeout=5).text
        finally:
            p.terminate()
            p.wait(timeout=20)


# -- last: what all the requests above opened ----------------------------------------------------
def test_no_request_opened_a_file_outside_home(world, client):
    """Runs last in this module (pytest keeps file order): every request above opened files in the home only
    (or the package's own code and page, or the image folder the app was given)."""
    for path in ["/api/registry", "/api/spaces/A/map?method=pca", "/api/datasets/items/colors?by=label"]:
        client.get(path)
    roots = _allowed_roots(world)
    outside = {p for p in _opened
               if not p.startswith(("/proc/", "/dev/", "/sys/")) and p not in (":memory:", "", "/etc/mime.types")
               and not any(Path(p).resolve().is_relative_to(r) for r in roots)}
    assert _opened, "the audit hook saw nothing: the check would be vacuous"
    assert not outside, f"requests opened files outside the home: {sorted(outside)}"
