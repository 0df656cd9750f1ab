"""Item previews without a browser: the one rule for serving image files (a dataset's own image
folder, ``spacelens ui --images`` folders; nothing outside them), the dataset's image folder as
registered by the API and the CLI, the query answer's thumbnails, and the demo's digit images
served through the app (checked against scikit-learn's digits themselves)."""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from _previews import grey_of, image_dataset, png
from _web import local_client

pytest.importorskip("fastapi")

import spacelens  # noqa: E402
from spacelens.errors import NotFoundError, SpacelensError  # noqa: E402
from spacelens.registry import Registry  # noqa: E402
from spacelens.views.images import image_file, row_images  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def grey(content: bytes) -> int:
    """The grey level of a flat PNG (matplotlib reads it: an independent decoder)."""
    import matplotlib.image

    a = matplotlib.image.imread(io.BytesIO(content))
    levels = np.unique(np.round(a[..., 0] * 255 if a.ndim == 3 else a * 255).astype(int))
    assert len(levels) == 1, levels
    return int(levels[0])


# -- the rule itself ----------------------------------------------------------------------------
def test_image_file_allows_only_image_files_under_a_folder(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(png(np.zeros((2, 2), np.uint8)))
    (root / "notes.txt").write_text("not an image")
    (tmp_path / "outside.png").write_bytes(png(np.zeros((2, 2), np.uint8)))
    (root / "link.png").symlink_to(tmp_path / "outside.png")  # inside by name, outside in fact
    roots = [root.resolve()]
    assert image_file("sub/a.png", roots) == (root / "sub" / "a.png").resolve()
    assert image_file(str(root / "sub" / "a.png"), roots) == (root / "sub" / "a.png").resolve()
    assert image_file("sub/../sub/a.png", roots) == (root / "sub" / "a.png").resolve()
    for escape in ("../outside.png", "sub/../../outside.png", str(tmp_path / "outside.png"), "link.png",
                   "/etc/../" + str(tmp_path / "outside.png").lstrip("/")):
        with pytest.raises(NotFoundError, match="leads outside the image folders") as exc:
            image_file(escape, roots)
        assert "--images" in exc.value.fix
    for bad in ("notes.txt", "", None, 7, "sub/a.png.exe", "bad\0name.png"):
        with pytest.raises(NotFoundError, match="not an image file path"):
            image_file(bad, roots)
    with pytest.raises(NotFoundError, match="not a file under"):
        image_file("sub/missing.png", roots)
    with pytest.raises(NotFoundError, match="not served") as exc:
        image_file("sub/a.png", [])
    assert "spacelens add" in exc.value.fix and "--images" in exc.value.fix


def test_inline_images_for_a_kernel_are_the_files_bytes(tmp_path):
    """The notebook widget has no file route: small files come as data: URLs of their bytes."""
    table, _, _ = image_dataset(tmp_path, n=6)
    e = {"table": table, "columns": [{"name": "image", "kind": "image"}, {"name": "notes", "kind": "text"}]}
    got = row_images(e, "ds", 2, [tmp_path.resolve()], inline=True)
    assert [g["column"] for g in got] == ["image"]
    head, data = got[0]["url"].split(",", 1)
    assert head == "data:image/png;base64"
    assert base64.b64decode(data) == (tmp_path / "pics" / "img002.png").read_bytes()
    assert row_images(e, "ds", 2, [], inline=True) == []            # no folder: nothing inline


# -- the dataset's image folder -------------------------------------------------------------------
@pytest.fixture
def pics(tmp_path, home):
    table, va, vb = image_dataset(tmp_path / "media")
    spacelens.add(va, table, dataset_name="pics", experiment_name="ea", space_name="A",
                  images=tmp_path / "media", home=home)
    spacelens.add(vb, dataset_name="pics", experiment_name="eb", space_name="B", home=home)
    return {"table": table, "va": va, "vb": vb, "media": tmp_path / "media", "home": home}


def test_a_datasets_image_folder_serves_its_files_and_nothing_else(pics, tmp_path):
    from spacelens.server import create_app

    reg = Registry(pics["home"])
    assert reg.dataset("pics").image_root == str(pics["media"].resolve())   # outside the home: absolute
    with local_client(create_app(pics["home"], jobs="thread")) as c:     # no --images: the dataset's folder
        for row in (0, 7, 59):
            item = c.get(f"/api/datasets/pics/items/{row}").json()
            assert item["images"] == [{"column": "image", "url": f"api/datasets/pics/items/{row}/image?column=image"}]
            resp = c.get("/" + item["images"][0]["url"])
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
            assert grey(resp.content) == grey_of(row)
        # a column that holds no images, a row out of range
        assert c.get("/api/datasets/pics/items/0/image", params={"column": "notes"}).status_code == 404
        assert c.get("/api/datasets/pics/items/60/image", params={"column": "image"}).status_code == 404


def test_escaping_paths_are_refused_with_a_clear_error(tmp_path, home):
    from spacelens.server import create_app

    media = tmp_path / "media"
    media.mkdir()
    (media / "ok.png").write_bytes(png(np.full((3, 3), 77, np.uint8)))
    (tmp_path / "secret.png").write_bytes(png(np.full((3, 3), 200, np.uint8)))
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.png").write_bytes(png(np.full((3, 3), 99, np.uint8)))
    import pandas as pd

    table = pd.DataFrame({"id": ["a", "b", "c", "d", "e"],
                          "path": ["ok.png", "../secret.png", str(tmp_path / "secret.png"), "o.png",
                                   str(other / "o.png")]})
    spacelens.add(np.eye(5, dtype=np.float32), table, dataset_name="d", experiment_name="e", space_name="s",
                  images=media, home=home)
    with local_client(create_app(home, jobs="thread")) as c:
        assert grey(c.get("/api/datasets/d/items/0/image", params={"column": "path"}).content) == 77
        for row in (1, 2):
            resp = c.get(f"/api/datasets/d/items/{row}/image", params={"column": "path"})
            assert resp.status_code == 404 and "leads outside the image folders" in resp.json()["detail"]
            assert c.get(f"/api/datasets/d/items/{row}").json()["images"] == []   # never offered either
        for row in (3, 4):  # in another folder: only when the server was given it
            assert c.get(f"/api/datasets/d/items/{row}/image", params={"column": "path"}).status_code == 404
    with local_client(create_app(home, jobs="thread", image_roots=[other])) as c:
        for row in (3, 4):
            assert grey(c.get(f"/api/datasets/d/items/{row}/image", params={"column": "path"}).content) == 99
        assert grey(c.get("/api/datasets/d/items/0/image", params={"column": "path"}).content) == 77
        assert c.get("/api/datasets/d/items/1/image", params={"column": "path"}).status_code == 404


def test_the_image_folder_inside_the_home_moves_with_it(tmp_path, home):
    table, va, _ = image_dataset(home / "media", n=10)
    spacelens.add(va, table, dataset_name="pics", experiment_name="e", space_name="A", images=home / "media",
                  home=home)
    assert Registry(home).dataset("pics").image_root == "media"               # relative to the home
    moved = tmp_path / "moved"
    os.rename(home, moved)
    reg = Registry(moved)
    assert reg.image_folder("pics") == (moved / "media").resolve()
    e = {"table": table, "columns": [{"name": "image", "kind": "image"}]}
    assert grey(image_file(table["image"][4], [reg.image_folder("pics")]).read_bytes()) == grey_of(4)
    assert row_images(e, "pics", 4, [reg.image_folder("pics")])[0]["url"].endswith("/items/4/image?column=image")


def test_images_of_an_existing_dataset_can_be_set_later_and_a_missing_folder_is_refused(tmp_path, home):
    table, va, vb = image_dataset(tmp_path / "media", n=10)
    spacelens.add(va, table, dataset_name="pics", experiment_name="e", space_name="A", home=home)
    assert Registry(home).dataset("pics").image_root is None
    with pytest.raises(SpacelensError, match="No image folder") as exc:
        spacelens.add(vb, dataset_name="pics", experiment_name="e", space_name="B", images=tmp_path / "nope",
                      home=home)
    assert "--images" in exc.value.fix
    assert [s.name for s in Registry(home).spaces_of(dataset="pics")] == ["A"]   # nothing registered
    spacelens.add(vb, dataset_name="pics", experiment_name="e", space_name="B", images=tmp_path / "media",
                  home=home)
    assert Registry(home).image_folder("pics") == (tmp_path / "media").resolve()


def test_cli_add_images_through_the_entry_point(tmp_path, home, cli):
    table, va, _ = image_dataset(tmp_path / "media", n=12)
    table.to_csv(tmp_path / "pics.csv", index=False)
    np.save(tmp_path / "a.npy", va)
    bad = cli("add", "-e", tmp_path / "a.npy", "-d", tmp_path / "pics.csv", "--dataset-name", "pics",
              "--experiment-name", "e", "--space-name", "A", "--images", tmp_path / "missing")
    assert bad.code != 0 and "No image folder" in bad.err + bad.out and "Traceback" not in bad.err
    cli("add", "-e", tmp_path / "a.npy", "-d", tmp_path / "pics.csv", "--dataset-name", "pics",
        "--experiment-name", "e", "--space-name", "A", "--images", tmp_path / "media", check=True)
    shown = cli("show", "pics", "--json", check=True).json()
    assert shown["image_root"] == str((tmp_path / "media").resolve())


def test_query_answer_carries_each_neighbours_thumbnail(pics):
    from spacelens.server import create_app

    with local_client(create_app(pics["home"], jobs="thread")) as c:
        res = c.get("/api/query", params={"space": "A", "vs": "B", "row": 9, "k": 6}).json()
        rows = {n["row"] for s in ("A", "B") for n in res["spaces"][s]}
        assert set(map(int, res["images"])) == rows and len(rows) >= 6
        assert res["image_column"] == "image"
        for r, url in res["images"].items():
            assert url == f"api/datasets/pics/items/{r}/image?column=image"
            assert grey(c.get("/" + url).content) == grey_of(int(r))
        # the neighbours are the API's (the images ride along, nothing else changes)
        ref = spacelens.api.query("A", "p009", k=6, vs="B", home=pics["home"])
        assert {s: [n["id"] for n in res["spaces"][s]] for s in ("A", "B")} == \
               {s: [n["id"] for n in ref["spaces"][s]] for s in ("A", "B")}


def test_a_version_3_registry_opens_and_gains_the_image_folder_column(tmp_path, home):
    table, va, _ = image_dataset(tmp_path / "media", n=10)
    spacelens.add(va, table, dataset_name="pics", experiment_name="e", space_name="A", home=home)
    conn = sqlite3.connect(home / "registry.sqlite")
    conn.execute("ALTER TABLE datasets DROP COLUMN image_root")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    reg = Registry(home)
    assert reg.dataset("pics").image_root is None and reg.image_folder("pics") is None
    spacelens.add(va, dataset_name="pics", experiment_name="e", space_name="A", images=tmp_path / "media",
                  overwrite=True, home=home)
    assert reg.image_folder("pics") == (tmp_path / "media").resolve()


# -- the demo --------------------------------------------------------------------------------------
def test_the_demo_dataset_serves_each_digit_as_a_png(tmp_path, home):
    """examples/demo.py's dataset step: the page shows the digits without --images, and each
    served PNG is that row's digit (compared with scikit-learn's own 8x8 pixels)."""
    from sklearn.datasets import load_digits

    from spacelens.server import create_app

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    try:
        from triplet_vs_arcface import digits_table, register_digits
    finally:
        sys.path.pop(0)
    import matplotlib.image

    reg = spacelens.open_registry(home)
    table, images = digits_table()
    register_digits(table, images, reg, experiment_name="digits-pixels", space_name="digits.pixels")
    digits = load_digits().images
    with local_client(create_app(home, jobs="thread")) as c:
        for row in (0, 5, 1796):
            item = c.get(f"/api/datasets/digits/items/{row}").json()
            assert item["id"] == f"digit{row:04d}" and len(item["images"]) == 1
            resp = c.get("/" + item["images"][0]["url"])
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
            a = matplotlib.image.imread(io.BytesIO(resp.content))
            assert a.shape[:2] == (32, 32)
            ink = 1 - a[::4, ::4, 0]                    # one pixel of each 4x4 block; ink is dark
            assert np.allclose(a[..., 0], np.kron(a[::4, ::4, 0], np.ones((4, 4))))   # nearest upscale
            np.testing.assert_allclose(ink, digits[row] / 16, atol=1 / 255 + 1e-6)
    # an earlier demo's digits dataset (no image column) is replaced, said in one line
    spacelens.rm("dataset", "digits", cascade=True, home=home)
    spacelens.add(images.reshape(len(table), -1), table, dataset_name="digits", experiment_name="digits-pixels",
                  space_name="digits.pixels", home=home)
    register_digits(table, images, reg, experiment_name="digits-pixels", space_name="digits.pixels",
                    overwrite=True)
    assert "image" in reg.table_columns("digits") and reg.image_folder("digits") == (home / "digit-images").resolve()


def test_notebook_widget_sends_small_image_files_inline(pics):
    """The widget has no file route: the kernel answers the tooltip and the query with data: URLs
    of the files' own bytes (the same rule: nothing outside the dataset's image folder)."""
    pytest.importorskip("anywidget")
    from spacelens.notebook.analyzer import widget

    w = widget("A", "B", color=None, k=6, home=pics["home"])
    item = w.item("pics", 7, None, None, 6)
    assert len(item["images"]) == 1
    head, data = item["images"][0]["url"].split(",", 1)
    assert head == "data:image/png;base64" and grey(base64.b64decode(data)) == grey_of(7)
    res = w.answer("query", {"space": "A", "vs": "B", "row": 9, "k": 6})
    rows = {n["row"] for s in ("A", "B") for n in res["spaces"][s]}
    assert set(map(int, res["images"])) == rows and res["image_column"] == "image"
    for r, url in res["images"].items():
        assert grey(base64.b64decode(url.split(",", 1)[1])) == grey_of(int(r))
