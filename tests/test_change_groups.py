"""Groups of items whose neighbourhoods changed together, against a planted structure: simulated
spaces where known subsets of items had their neighbourhoods reshuffled (and a scattered set of
single items changed at random) must come out as ranked groups described by their metadata."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

import spacelens
from spacelens.compare import Comparison
from spacelens.compare.agreement import overlap
from spacelens.compare.groups import change_groups, describe_group, signature_matrix
from spacelens.compare.jaccard import jaccard

K = 10


def planted(seed=0, n_clusters=15, per=100, d=10):
    """15 labelled blobs; B = A + small noise, except: the items of blob 3 swap places among
    themselves (s1), so do 60 items of blob 11 (s2), and 40 scattered items elsewhere (s3)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6, size=(n_clusters, d))
    lab = np.repeat(np.arange(n_clusters), per)
    a = centers[lab] + rng.normal(size=(len(lab), d))
    b = a + 0.15 * rng.normal(size=a.shape)
    s1 = np.flatnonzero(lab == 3)
    b[s1] = b[rng.permutation(s1)]
    s2 = np.flatnonzero(lab == 11)[:60]
    b[s2] = b[rng.permutation(s2)]
    s3 = rng.choice(np.flatnonzero((lab != 3) & (lab != 11)), 40, replace=False)
    b[s3] = b[rng.permutation(s3)]
    colour = np.random.default_rng(seed + 1).choice(["red", "green", "blue"], len(lab))
    table = pd.DataFrame({"id": [f"item{i:05d}" for i in range(len(lab))], "label": lab, "colour": colour})
    return a.astype(np.float32), b.astype(np.float32), table, s1, s2, s3


def _graph(x, k=K):
    return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[1][:, 1:]


def _comparison(a, b):
    ga, gb = _graph(a), _graph(b)
    n = len(a)
    jac = jaccard(ga, gb, K)
    return Comparison("A", "B", K, float(jac.mean()), np.array([f"item{i:05d}" for i in range(n)]), np.arange(n),
                      jac, per_k={K: jac}, overlap_k={K: overlap(ga, gb, K)}, graph_a=ga, graph_b=gb,
                      pool_rows=np.arange(n))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_groups_are_found_ranked_and_described(seed):
    a, b, table, s1, s2, s3 = planted(seed)
    res = _comparison(a, b)
    out = change_groups(res, table[["label", "colour"]])
    g1, g2 = out["groups"][:2]
    # the whole reshuffled blob is the first group: biggest and most changed
    assert set(g1["rows"]) == set(s1.tolist())
    assert g1["features"][0] == pytest.approx({"column": "label", "value": 3, "share": 1.0, "overall": 1 / 15,
                                               "lift": 15.0})
    assert "100% label=3 (vs 6.7% overall)" in g1["description"]
    assert g1["mean_jaccard"] == pytest.approx(float(res.jaccard[s1].mean()))
    # the group is its whole class: it is set against every other item (brute force)
    rest = np.setdiff1d(np.arange(len(res.jaccard)), s1)
    assert g1["against"] == "rest" and g1["reference"] == pytest.approx(float(res.jaccard[rest].mean()))
    assert g1["score"] == pytest.approx(100 * (g1["reference"] - g1["mean_jaccard"]))
    assert g1["unusual"] and "reshuffled within label=3" in g1["description"]
    # the partly reshuffled blob: every planted item that changed (a few land near where they were),
    # plus blob-11 items whose neighbours were among them
    moved = [r for r in s2.tolist() if res.overlap_k[K][r] <= 0.5]
    assert len(moved) >= 0.9 * len(s2) and len(set(moved) & set(g2["rows"])) >= 0.95 * len(moved)
    assert set(table["label"].to_numpy()[g2["rows"]]) == {11}
    assert g2["score"] <= g1["score"]
    # the random colour column describes nothing; scattered single changes form no group of their own
    assert all(f["column"] != "colour" for g in out["groups"] for f in g["features"])
    grouped = set(r for g in out["groups"] for r in g["rows"])
    assert len(grouped & set(s3.tolist())) <= 4
    # every grouped item changed (kept at most half of its neighbours)
    assert all(res.overlap_k[K][r] <= 0.5 for r in grouped)


def test_identical_spaces_have_no_groups():
    a, _, table, *_ = planted(0)
    out = change_groups(_comparison(a, a.copy()), table[["label"]])
    assert out["n_changed"] == 0 and out["groups"] == []


def test_signature_matrix_brute_force():
    rng = np.random.default_rng(4)
    n, k = 25, 5
    ga = np.array([rng.choice([j for j in range(n) if j != i], k, replace=False) for i in range(n)])
    gb = np.array([rng.choice([j for j in range(n) if j != i], k, replace=False) for i in range(n)])
    gb[:5] = ga[:5]
    sig, n_lost, n_gained = signature_matrix(ga, gb, n, k)
    dense = sig.toarray()
    for i in range(n):
        lost, gained = set(ga[i]) - set(gb[i]), set(gb[i]) - set(ga[i])
        assert set(np.flatnonzero(dense[i, :n])) == lost and set(np.flatnonzero(dense[i, n:])) == gained
        assert n_lost[i] == len(lost) and n_gained[i] == len(gained)


def test_describe_group_hand_example():
    table = pd.DataFrame({"kind": ["x"] * 6 + ["y"] * 4, "size": [1.0] * 5 + [9.0] * 5, "note": list("abcdefghij")})
    feats = describe_group(np.array([5, 6, 7, 8, 9]), table)
    # kind y: 4 of 5 in the group (80%) vs 40% overall -> lift 2; size: mean 9 vs 5 overall, SD 4 -> effect 1
    assert {"column": "kind", "value": "y", "share": 0.8, "overall": 0.4, "lift": 2.0} in feats
    size = [f for f in feats if f["column"] == "size"][0]
    assert size["mean"] == 9.0 and size["overall_mean"] == 5.0 and size["effect"] == pytest.approx(1.0)
    # 'note' has a distinct value per row: 10% of the group each, never over-represented
    assert all(f["column"] != "note" for f in feats)
    # a column recoding another adds nothing
    table["kind_text"] = "kind " + table["kind"]
    assert describe_group(np.array([5, 6, 7, 8, 9]), table) == feats


@pytest.fixture
def registered(home, tmp_path):
    a, b, table, s1, s2, s3 = planted(0)
    csv = tmp_path / "planted.csv"
    table.to_csv(csv, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, csv, dataset_name="planted", experiment_name="e", space_name="pa", home=home)
        spacelens.add(b, dataset_name="planted", experiment_name="e", space_name="pb", home=home)
    return {"home": home, "s1": s1, "s2": s2, "table": table}


def test_api_change_groups_and_export_table(registered):
    home, s1 = registered["home"], registered["s1"]
    out = spacelens.change_groups("pa", "pb", k=K, home=home)
    assert set(out["groups"][0]["rows"]) == set(s1.tolist())
    assert out["groups"][0]["ids"][0].startswith("item")
    assert out["groups"][0]["features"][0]["column"] == "label"      # the id column is not a description
    json.dumps(out)                                                   # JSON-ready
    df = spacelens.changed_items("pa", "pb", k=K, columns="all", groups=out, home=home)
    assert {"label", "colour", "group"} <= set(df.columns)
    assert set(df.loc[df["group"] == 1, "row"]) == set(s1.tolist())
    assert (df["label"].to_numpy() == registered["table"]["label"].to_numpy()[df["row"]]).all()
    with pytest.raises(spacelens.SpacelensError, match="no column 'nope'"):
        spacelens.change_groups("pa", "pb", columns=["nope"], home=home)


def test_cli_compare_groups_and_export_changes(cli, registered, tmp_path):
    s1 = set(registered["s1"].tolist())
    j = cli("compare", "pa", "pb", "-k", "10", "--groups", "--no-items", "--json", check=True).json()
    assert set(j["groups"]["groups"][0]["rows"]) == s1
    out = tmp_path / "changes.csv"
    txt = cli("compare", "pa", "pb", "-k", "10", "--groups", "--export-changes", str(out), check=True).out
    flat = " ".join(txt.split())
    assert "regions to look at first" in flat and "label=3" in flat and str(out.name) in flat
    df = pd.read_csv(out)
    assert {"id", "jaccard", "overlap", "label", "colour", "group"} <= set(df.columns)
    assert set(df.loc[df["group"] == 1, "row"]) == s1
    assert df["jaccard"].is_monotonic_increasing                      # most changed first
    pq = tmp_path / "changes.parquet"
    cli("compare", "pa", "pb", "-k", "10", "--export-changes", str(pq), check=True)
    df2 = pd.read_parquet(pq)
    assert "group" not in df2.columns and "label" in df2.columns and len(df2) == len(df)
    bad = cli("compare", "pa", "pb", "--export-changes", str(tmp_path / "x.txt"))
    assert bad.code != 0 and ".parquet or .csv" in " ".join(bad.err.split())


def test_shares_are_against_the_compared_items_only():
    """Comparing a subset (e.g. the val split): 'overall' is the share among the compared items."""
    a, b, table, s1, *_ = planted(0)
    res = _comparison(a, b)
    n = len(a)
    # the dataset has 500 more rows (another split) after the compared ones, all of label 3
    extra = pd.DataFrame({"id": [f"x{i}" for i in range(500)], "label": 3, "colour": "red"})
    full = pd.concat([table, extra], ignore_index=True)
    res.rows = np.arange(n)
    out = change_groups(res, full[["label"]])
    f = out["groups"][0]["features"][0]
    assert (f["value"], f["share"], f["overall"]) == (3, 1.0, pytest.approx(1 / 15))


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_server_change_groups_and_query_changes(registered):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from _web import local_client, wait_job

    from spacelens.server import create_app

    home = registered["home"]
    with local_client(create_app(home, jobs="thread")) as client:
        # finding groups is a job (a GET never computes); the GET then reads the result back
        assert client.get("/api/change-groups", params={"a": "pa", "b": "pb", "k": K}).status_code == 404
        job = wait_job(client, client.post("/api/change-groups", json={"a": "pa", "b": "pb", "k": K}).json())
        assert job["status"] == "done", job
        r = client.get("/api/change-groups", params={"a": "pa", "b": "pb", "k": K})
        assert r.status_code == 200, r.text
        got = r.json()
        assert got == job["result"]
        ref = spacelens.change_groups("pa", "pb", k=K, top=12, home=home)
        assert [g["rows"] for g in got["groups"]] == [g["rows"] for g in ref["groups"]]
        assert set(got["groups"][0]["rows"]) == set(registered["s1"].tolist())
        assert got["groups"][0]["description"] == ref["groups"][0]["description"]
        item = f"item{registered['s1'][0]:05d}"
        q = client.get("/api/query", params={"space": "pa", "vs": "pb", "id": item, "k": K}).json()
        la, lb = ([n["id"] for n in q["spaces"][s]] for s in ("pa", "pb"))
        assert q["kept"] == [x for x in la if x in lb] and q["lost"] == [x for x in la if x not in lb]
        assert q["gained"] == [x for x in lb if x not in la]
        bad = client.get("/api/change-groups", params={"a": "pa", "b": "pa"})
        assert bad.status_code == 400 and "itself" in bad.json()["detail"]
        assert client.get("/api/change-groups", params={"a": "pa", "b": "nope"}).status_code == 404
        assert client.get("/api/change-groups", params={"a": "pa", "b": "pb", "k": 0}).status_code == 400


# -- ranked by what is unusual (issue #24 item 8) ----------------------------------------------------
def _blobs(seed=0, n_clusters=12, per=100, d=10):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6, size=(n_clusters, d))
    lab = np.repeat(np.arange(n_clusters), per)
    return rng, lab, (centers[lab] + rng.normal(size=(len(lab), d))).astype(np.float32)


def _permuted(rng, x, *subsets):
    y = x + 0.15 * rng.normal(size=x.shape).astype(np.float32)
    for s in subsets:
        y[s] = y[rng.permutation(s)]
    return y


def test_a_class_that_reshuffles_in_the_seed_baseline_too_ranks_below_an_unusual_change():
    """Classes 3 and 7 reshuffle between A and its reseeded run C (seed noise) and between A and B;
    60 items of class 11 reshuffle only between A and B: they are the region to look at first."""
    rng, lab, a = _blobs(0)
    c3, c7 = np.flatnonzero(lab == 3), np.flatnonzero(lab == 7)
    s11 = np.flatnonzero(lab == 11)[:60]
    b = _permuted(rng, a, c3, c7, s11)
    c = _permuted(rng, a, c3, c7)
    table = pd.DataFrame({"label": lab})
    res, base = _comparison(a, b), _comparison(a, c)
    plain = change_groups(res, table)
    # without a baseline the whole reshuffled classes are set against the other items: they lead
    assert set(table["label"].to_numpy()[plain["groups"][0]["rows"]]) <= {3, 7}
    out = change_groups(res, table, baseline=base)
    assert out["against"] == "baseline"
    first = out["groups"][0]
    assert set(table["label"].to_numpy()[first["rows"]]) == {11} and first["unusual"]
    base_j = jaccard(_graph(a), _graph(c), K)       # the reference, brute force
    for g in out["groups"]:
        assert g["against"] == "baseline"
        assert g["reference"] == pytest.approx(float(base_j[g["rows"]].mean()))
        assert g["score"] == pytest.approx(g["n"] * (g["reference"] - g["mean_jaccard"]))
        if set(table["label"].to_numpy()[g["rows"]]) <= {3, 7}:
            assert not g["unusual"] and g["score"] < first["score"]
            assert "changed about as much as" in g["description"] and "reseeded" in g["description"]
    assert [g["score"] for g in out["groups"]] == sorted((g["score"] for g in out["groups"]), reverse=True)


def test_when_every_class_reshuffles_no_group_is_unusual():
    """The demo's case: between two models every class reshuffles internally. No group is a region
    to look at first; each says it changed about as much as the other items."""
    rng, lab, a = _blobs(1)
    b = _permuted(rng, a, *[np.flatnonzero(lab == c) for c in range(12)])
    out = change_groups(_comparison(a, b), pd.DataFrame({"label": lab}))
    assert out["groups"]
    for g in out["groups"]:
        assert not g["unusual"] and abs(g["excess"]) < 0.1
        assert "reshuffled within label=" in g["description"] and "changed about as much as" in g["description"]


def test_a_group_is_set_against_the_rest_of_its_class():
    a, b, table, s1, s2, s3 = planted(0)
    res = _comparison(a, b)
    g = next(g for g in change_groups(res, table[["label", "colour"]])["groups"]
             if set(table["label"].to_numpy()[g["rows"]]) == {11})
    rest = np.setdiff1d(np.flatnonzero(table["label"].to_numpy() == 11), g["rows"])
    assert g["against"] == "class" and g["class"] == {"column": "label", "value": 11}
    assert g["reference"] == pytest.approx(float(res.jaccard[rest].mean()))
    assert g["unusual"] and "for the rest of label=11: changed more than that" in g["description"]


def test_a_count_column_is_described_as_a_range_not_a_value():
    """"ink" (an integer count with many values) is a quantity: "ink 30–41", never "28% ink=37"."""
    rng = np.random.default_rng(0)
    ink = rng.integers(0, 100, 400)
    members = np.flatnonzero((ink >= 30) & (ink <= 41))
    table = pd.DataFrame({"ink": ink, "digit": ink % 3})
    feats = describe_group(members, table)
    f = next(f for f in feats if f["column"] == "ink")
    assert "value" not in f
    lo, hi = np.quantile(ink[members], [0.1, 0.9])
    olo, ohi = np.quantile(ink, [0.1, 0.9])
    assert (f["low"], f["high"], f["overall_low"], f["overall_high"]) == pytest.approx((lo, hi, olo, ohi))
    assert 30 <= f["low"] <= f["high"] <= 41
    from spacelens.compare.groups import feature_text
    text = feature_text(f)
    assert text.startswith("ink ") and "–" in text and "ink=" not in text and "%" not in text
    # a column named as classes stays one value at a time, however many values it has
    feats = describe_group(np.flatnonzero(ink == 37), pd.DataFrame({"label": ink}))
    assert feats and feats[0]["column"] == "label" and feats[0]["value"] == 37
    # and so does a column evaluated with
    feats = describe_group(np.flatnonzero(ink == 37), pd.DataFrame({"ink": ink}), label_columns=["ink"])
    assert feats and feats[0]["value"] == 37
