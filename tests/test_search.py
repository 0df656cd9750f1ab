"""Finding items by text (spacelens.views.search.find_items and GET /datasets/{name}/matches),
against a brute-force reference written with plain Python loops over the values: awkward
inputs (mixed case, numbers vs strings, missing values, unicode, regex metacharacters, hostile
text, column:value)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from spacelens.views.search import find_items, parse_query

HOSTILE = "<img src=x onerror=alert(1)>"


def _table(n_extra: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    head = {
        "id": ["Item-1", "item-10", "ITEM.*(", "émile", "x3", "3", "a b", HOSTILE, "kind", "Z"],
        "label": [3, 13, 0, 3, 1, 2, 30, 3, 7, -1],
        "score": [3.0, 0.5, np.nan, 1e0, 13.5, np.nan, 0.25, 3.0, -1.0, 2.0],
        "caption": ["A photo of a CAT", None, "regex .*( here", "Émile Zola", "naïve café 日本語",
                    "thing of kind Z", HOSTILE, "x" * 150 + "needle" + "y" * 150, "", "3 cats"],
        "mixed": [3, "3", "x3", None, 3.5, "True", np.nan, "13", 30, "three"],
        "flag": [True, False, True, True, False, False, True, False, True, False],
        "nflag": pd.array([True, None, False, True, None, False, True, True, False, None], dtype="boolean"),
        "cat": pd.Categorical(["kind z", "Kind Y", None, "kind z", "émile", "3", "a", "b", "kind z", None]),
        "nint": pd.array([3, None, 13, 3, None, 0, 1, 2, 3, None], dtype="Int64"),
    }
    t = pd.DataFrame(head)
    words = np.array(["Cat", "dog", "kind z", "ÉMILE", "3", ".*(", "x3", "Straße"])
    extra = pd.DataFrame({
        "id": [f"item{i:05d}" for i in range(n_extra)],
        "label": rng.integers(0, 14, n_extra),
        "score": np.where(rng.random(n_extra) < 0.1, np.nan, rng.integers(0, 8, n_extra) / 2),
        "caption": [None if rng.random() < 0.1 else f"{words[rng.integers(8)]} and {words[rng.integers(8)]} #{i}"
                    for i in range(n_extra)],
        "mixed": [[3, "3", None, "Cat", 13.0][i % 5] for i in range(n_extra)],
        "flag": rng.random(n_extra) < 0.5,
        "nflag": pd.array([[True, False, None][i % 3] for i in range(n_extra)], dtype="boolean"),
        "cat": pd.Categorical(words[rng.integers(0, 8, n_extra)]),
        "nint": pd.array([None if i % 7 == 0 else int(i % 5) for i in range(n_extra)], dtype="Int64"),
    })
    out = pd.concat([t, extra], ignore_index=True)
    out["cat"] = out["cat"].astype("category")
    out["mixed"] = out["mixed"].astype(object)
    return out


# -- the reference: one value at a time ------------------------------------------------------------
def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _as_number(s: str):
    if "_" in s or s != s.strip():
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _value_matches(kind: str, v, needle: str) -> bool:
    if _missing(v):
        return False
    if kind == "bool":
        return needle.lower() in ("true", "false") and bool(v) == (needle.lower() == "true")
    if kind == "number":
        x = _as_number(needle)
        return x is not None and float(v) == x
    return needle.lower() in str(v).lower()


def _kind(s: pd.Series) -> str:
    dt = s.dtype.categories.dtype if isinstance(s.dtype, pd.CategoricalDtype) else s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    return "number" if pd.api.types.is_numeric_dtype(dt) else "text"


def brute(table, ids, needle, only=None, ids_too=True, keep=None):
    """[(row, column or None)] ranked: exact id, id prefix, id substring, then columns in order."""
    rows = range(len(ids)) if keep is None else [r for r in range(len(ids)) if keep[r]]
    out, seen = [], set()

    def take(pred, col):
        for r in rows:
            if r not in seen and pred(r):
                seen.add(r)
                out.append((r, col))

    if ids_too and needle:
        nl = needle.lower()
        take(lambda r: ids[r] == needle, None)
        take(lambda r: ids[r].lower().startswith(nl), None)
        take(lambda r: nl in ids[r].lower(), None)
    cols = [c for c in table.columns if c != "id"] if only is None else [only]
    for c in cols if needle else []:
        kind, values = _kind(table[c]), table[c].tolist()
        take(lambda r: _value_matches(kind, values[r], needle), c)
    return out


def _got(m):
    return [(int(r), m.column_of(i)) for i, r in enumerate(m.rows)]


QUERIES = ["3", "item", "ITEM", ".*(", "émile", "ÉMILE", "true", "False", "0.5", "3.0", "13", "-1", "1e0",
           "+3", "nan", "inf", "1_3", HOSTILE, "<img", "a b", "x", "kind z", "KIND", "straße", "日本", "naïve",
           "needle", "cat", "Z", "#1", "\\", "'", '"', "   3   ", "no such text"]


@pytest.mark.parametrize("q", QUERIES)
def test_every_match_ranked_as_brute_force(q):
    t = _table()
    ids = t["id"].to_numpy()
    m = find_items(t, ids, q, id_field="id")
    assert _got(m) == brute(t, ids, q.strip())
    assert m.complete
    # the counts per column add up to the matches
    assert sum(m.by_column().values()) == len(m.rows)
    ref = pd.Series([c or "id" for _, c in brute(t, ids, q.strip())], dtype=object).value_counts().to_dict()
    assert m.by_column() == ref


@pytest.mark.parametrize("q,needle,col,ids_too", [
    ("label:3", "3", "label", False), ("Label:3", "3", "label", False), ("caption:\"kind z\"", "kind z", "caption", False),
    ("caption:'.*('", ".*(", "caption", False), ("mixed:3", "3", "mixed", False), ("cat : kind z", "kind z", "cat", False),
    ("nflag:true", "true", "nflag", False), ("score:0.5", "0.5", "score", False), ("nint:13", "13", "nint", False),
])
def test_column_value_searches_that_column_only(q, needle, col, ids_too):
    t = _table()
    ids = t["id"].to_numpy()
    m = find_items(t, ids, q, id_field="id")
    assert _got(m) == brute(t, ids, needle, only=col, ids_too=ids_too)
    assert m.query.column == col and m.query.needle == needle


def test_column_syntax_edges():
    t = _table()
    ids = t["id"].to_numpy()
    # id:value: the ids alone, prefix and substring ranked as usual
    m = find_items(t, ids, "id:item-1", id_field="id")
    assert _got(m) == brute(t, ids, "item-1", only="label", ids_too=True)[:len(m.rows)]
    assert all(c is None for _, c in _got(m)) and len(m.rows) == 2
    # a prefix naming no column is plain text: the whole query searched as typed
    assert parse_query("http://x", t.columns, "id").column is None
    assert _got(find_items(t, ids, "nosuch:3", id_field="id")) == brute(t, ids, "nosuch:3")
    # an empty value searches the text as typed too
    assert parse_query("label:", t.columns, "id").needle == "label:"
    # "label:3" finds label 3, never 13 or 30 (numbers by equality)
    got = find_items(t, ids, "label:3", id_field="id").rows
    assert set(t["label"].to_numpy()[got]) == {3}


def test_spaces_mask_limit_and_records():
    t = _table()
    ids = t["id"].to_numpy()
    keep = np.random.default_rng(1).random(len(ids)) < 0.6
    for q in ["3", "item", "kind z", ".*("]:
        m = find_items(t, ids, q, id_field="id", keep=keep)
        assert _got(m) == brute(t, ids, q, keep=keep)
        full = find_items(t, ids, q, id_field="id")
        part = find_items(t, ids, q, id_field="id", limit=5)
        assert len(part.rows) >= min(5, len(full.rows))
        assert part.rows.tolist() == full.rows[:len(part.rows)].tolist()    # same ranking, stopped early
        for rec in full.records(t, ids, 50):
            before, hit, after = rec["mark"]
            if rec["column"] is None:     # an id match: the id cut around the match
                assert before + hit + after == rec["id"] and hit.lower() == q.lower()
            elif _kind(t[rec["column"]]) == "text":
                assert before + hit + after == rec["text"] and hit.lower() == q.lower()
                assert len(rec["text"]) <= 80
                value = str(t[rec["column"]].iloc[rec["row"]])
                assert rec["text"].strip("…") in value
            else:
                assert hit == rec["text"] and float(hit) == float(q)


def test_long_text_excerpt_shows_the_match():
    t = _table()
    ids = t["id"].to_numpy()
    rec = find_items(t, ids, "NEEDLE", id_field="id").records(t, ids, 1)[0]
    assert rec["row"] == 7 and rec["mark"][1] == "needle"
    assert rec["text"].startswith("…") and rec["text"].endswith("…") and len(rec["text"]) <= 80


# -- the route: every match as a frame ----------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    import spacelens
    from _web import local_client
    from spacelens.server import create_app

    home = tmp_path_factory.mktemp("find") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPACELENS_NO_PROGRESS", "1")
    from spacelens.registry import Registry

    t = _table()
    t["mixed"] = [None if _missing(v) else str(v) for v in t["mixed"]]   # parquet holds one type a column
    n = len(t)
    rng = np.random.default_rng(3)
    va = rng.normal(size=(n, 6)).astype(np.float32)
    subset = np.sort(rng.choice(n, n // 2, replace=False))
    spacelens.add(va, t, dataset_name="found", experiment_name="e", space_name="A", home=home)
    spacelens.add(va[subset], dataset_name="found", experiment_name="e", space_name="C",
                  ids=t["id"].to_numpy()[subset], home=home)
    app = create_app(home, jobs="thread")
    with local_client(app) as client:
        # the reference reads the table the registry stored (dtypes as the server sees them)
        yield {"client": client, "table": Registry(home).load_table("found"), "subset": subset}
    mp.undo()


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
@pytest.mark.parametrize("q", ["3", "kind z", ".*(", "item", HOSTILE, "label:3", "no such text"])
def test_matches_frame_holds_every_match(served, q):
    from spacelens.views import binary

    client, t = served["client"], served["table"]
    ids = t["id"].to_numpy()
    needle = re.sub(r'^label:', "", q)
    only = "label" if q.startswith("label:") else None
    for spaces, keep in [(None, None), ("A,C", np.isin(np.arange(len(ids)), served["subset"]))]:
        r = client.get("/api/datasets/found/matches", params={"q": q, "limit": 7, "spaces": spaces})
        assert r.status_code == 200 and r.headers["content-type"].startswith(binary.MEDIA_TYPE)
        head, bufs = binary.decode(r.content)
        ref = brute(t, ids, needle, only=only, ids_too=only is None, keep=keep)
        assert bufs["rows"].tolist() == [row for row, _ in ref]
        assert head["n"] == len(ref) and head["n_dataset"] == len(ids)
        assert head["n_held"] == (len(ids) if keep is None else int(keep.sum()))
        assert [(h["row"], h["column"]) for h in head["first"]] == ref[:7]
        assert sum(head["by_column"].values()) == len(ref)
        # the suggestions (the kNN query's box) are the first of the same ranking
        sugg = client.get("/api/datasets/found/search", params={"q": q, "limit": 12, "spaces": spaces}).json()
        assert [(h["row"], h["column"]) for h in sugg] == ref[:12]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_matches_refuse_a_space_of_another_dataset_in_words(served):
    r = served["client"].get("/api/datasets/found/matches", params={"q": "3", "spaces": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
