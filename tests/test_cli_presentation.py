"""What a person reads in an 80- and a 120-column terminal (issue 16, "The terminal"), through
the real entry point: names never cut, only comparable evaluations ranked together, the other
space named, the headline at the primary k, clear warnings and errors, --home before the verb.

The registry is built through the Python API (fast); only what is checked runs through the CLI.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import spacelens

WIDTHS = ["80", "120"]
# Long names as training loops write them (the issue's `digits-triplet.epoch_20.val`).
TRIPLET = "digits-triplet.epoch_20.val"
ARCFACE = "digits-arcface.epoch_20.val"
EARLY = "digits-triplet.epoch_01.val"
PIXELS = "digits-all-items.pixels"
SEED2 = "digits-triplet-margin02-lr1e-3-seed2.epoch_20.val"  # 50 characters: too long even at 120 for rich


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A dataset with a val split; val spaces of several runs and a full space; evaluations
    under three different settings, one space evaluated twice with the same settings; a comparison."""
    home = tmp_path_factory.mktemp("presentation") / "home"
    rng = np.random.default_rng(0)
    n, d, n_classes = 400, 16, 8
    labels = rng.integers(0, n_classes, n)
    split = np.where(np.arange(n) % 3 == 0, "val", "train")
    table = pd.DataFrame({"id": [f"{i:05d}" for i in range(n)], "label": labels, "split": split,
                          "score": rng.random(n)})
    centers = rng.normal(size=(n_classes, d)) * 1.5  # overlapping classes: scores well below 1
    base = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    spacelens.add(base, table, dataset_name="digits", experiment_name="digits-all-items", space_name=PIXELS,
                  home=home)
    val = np.flatnonzero(split == "val")
    ids = table["id"].to_numpy()[val]
    noise = {TRIPLET: 0.5, ARCFACE: 1.0, EARLY: 3.0, SEED2: 0.5}
    for name, sigma in noise.items():
        x = base[val] + sigma * rng.normal(size=(len(val), d)).astype(np.float32)
        spacelens.add(x, ids=ids, dataset_name="digits", experiment_name=name.split(".")[0], space_name=name,
                      home=home)
    res = {s: spacelens.evaluate(s, label_field="label", clustering=False, home=home)
           for s in (TRIPLET, ARCFACE, EARLY, PIXELS)}
    # another split setting of the full space (a different k too), and TRIPLET again with an
    # explicit k equal to its default: the same settings twice
    split_res = spacelens.evaluate(PIXELS, label_field="label", query_split="val", reference_split="train",
                                   clustering=False, home=home)
    again = spacelens.evaluate(TRIPLET, label_field="label", k=res[TRIPLET]["info"]["k"], clustering=False,
                               home=home)
    spacelens.compare(TRIPLET, EARLY, k=10, cka=False, home=home)
    return {"home": home, "res": res, "split_res": split_res, "again": again, "table": table, "val": val}


def run(cli, world, *args, columns="120", check=True):
    return cli(*args, "--home", world["home"], env={"COLUMNS": columns}, check=check)


# -- leaderboard -------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", WIDTHS)
def test_leaderboard_names_whole_and_settings_never_mixed(cli, world, columns):
    res = world["res"]
    out = run(cli, world, "leaderboard", "digits", columns=columns).out
    assert "…" not in out
    flat = " ".join(out.split())  # header lines may wrap between words at 80 columns
    for name in (TRIPLET, ARCFACE, EARLY, PIXELS):
        assert re.search(rf"\b{re.escape(name)}\b", out), (name, out)
    # three settings, three header lines, each naming its k once (not a column per row)
    k_val, k_all, k_split = res[TRIPLET]["info"]["k"], res[PIXELS]["info"]["k"], world["split_res"]["info"]["k"]
    assert len({k_val, k_all, k_split}) == 3
    for k in (k_val, k_all, k_split):
        assert len(re.findall(rf"k = {k}\b", flat)) == 1, (k, out)
    assert "queries val vs train" in flat
    # every metric value in the header group is whole (4 decimals), never cut to '0…'
    assert f"{res[TRIPLET]['mean_average_precision_at_r']:.4f}" in out


def test_leaderboard_ranks_within_groups_latest_wins(cli, world):
    res, home = world["res"], world["home"]
    rows = run(cli, world, "leaderboard", "digits", "--json").json()
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    # each group shares its settings; a space appears once per settings
    for g in groups.values():
        assert len({repr(sorted(r["settings"].items())) for r in g}) == 1
        assert [r["rank"] for r in g] == list(range(1, len(g) + 1))
        assert len({r["space"] for r in g}) == len(g)
    # the val group ranks the three val runs as their own evaluate() results do
    val_group = next(g for g in groups.values() if g[0]["k"] == res[TRIPLET]["info"]["k"])
    scores = {s: res[s]["mean_average_precision_at_r"] for s in (TRIPLET, ARCFACE, EARLY)}
    assert len(set(scores.values())) == 3 and max(scores.values()) < 0.99
    expect = sorted(scores, key=lambda s: -scores[s])
    assert [r["space"] for r in val_group] == expect
    # the full space under its two settings lands in two groups of one
    pixel_groups = [g for g in groups.values() if g[0]["space"] == PIXELS]
    assert len(pixel_groups) == 2 and all(len(g) == 1 for g in pixel_groups)
    # TRIPLET was stored twice with equal settings: the leaderboard shows the latest only
    arts = spacelens.open_registry(home).find_artifacts(kind="evaluation", space=TRIPLET)
    assert len(arts) == 2
    shown = [r for r in rows if r["space"] == TRIPLET]
    assert len(shown) == 1 and shown[0]["evaluation_id"] == max(a.id for a in arts)


def test_rm_evaluation_and_prune(cli, world, tmp_path):
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(world["home"], home)
    w = {**world, "home": home}
    reg = spacelens.open_registry(home)
    n_before = len(reg.find_artifacts(kind="evaluation"))
    # a stray evaluation: on another label column, removed by label field
    spacelens.evaluate(ARCFACE, label_field="split", clustering=False, home=home)
    assert any(r["label_field"] == "split" for r in spacelens.leaderboard("digits", home=home))
    out = run(cli, w, "rm", "evaluation", ARCFACE, "--label-field", "split").out
    assert "removed" in out and ARCFACE in out and "'split'" in out
    assert not any(r["label_field"] == "split" for r in spacelens.leaderboard("digits", home=home))
    assert len(reg.find_artifacts(kind="evaluation")) == n_before
    bad = run(cli, w, "rm", "evaluation", ARCFACE, "--label-field", "nope", check=False)
    assert bad.code == 1 and "no evaluation with label_field='nope'" in bad.err and "labels 'label'" in bad.err
    # --prune deletes the superseded copy of TRIPLET's evaluation and nothing else
    old_id = min(a.id for a in reg.find_artifacts(kind="evaluation", space=TRIPLET))
    before = spacelens.leaderboard("digits", home=home)
    out = run(cli, w, "leaderboard", "digits", "--prune").out
    assert "superseded evaluation of " + TRIPLET in out
    left = reg.find_artifacts(kind="evaluation")
    assert len(left) == n_before - 1 and old_id not in {a.id for a in left}
    assert spacelens.leaderboard("digits", home=home) == before


# -- ls, show ----------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", WIDTHS)
def test_ls_names_whole(cli, world, columns):
    out = run(cli, world, "ls", columns=columns).out
    assert "…" not in out
    for name in (TRIPLET, ARCFACE, EARLY, PIXELS, SEED2, SEED2.split(".")[0]):
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", out, re.M), (name, out)
    width = max(len(line) for line in out.splitlines())
    assert width <= int(columns)


@pytest.mark.parametrize("columns", WIDTHS)
def test_show_names_the_other_space_from_either_side(cli, world, columns):
    # the comparison was stored as (TRIPLET, EARLY); EARLY is its second side
    for shown, other in ((EARLY, TRIPLET), (TRIPLET, EARLY)):
        info = run(cli, world, "show", shown, "--json").json()
        comps = [d for d in info["derived"] if d["kind"] == "comparison"]
        assert [d["other_space"] for d in comps] == [other]
        out = run(cli, world, "show", shown, columns=columns).out
        assert f"vs {other}" in out and f"vs {shown}" not in out


# -- compare -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def curve(world):
    """Independent references: each k compared on its own (no curve, no baseline)."""
    h = world["home"]
    ab = {k: spacelens.compare(TRIPLET, ARCFACE, k=k, cka=False, home=h).mean for k in (1, 5, 10, 50)}
    aa = {k: spacelens.compare(TRIPLET, SEED2, k=k, cka=False, home=h).mean for k in (1, 5, 10, 50)}
    return ab, aa


def _band(ab, aa):
    r = ab / aa
    return "more alike" if r > 1.1 else "within" if r >= 0.9 else "beyond"


@pytest.mark.parametrize("columns", WIDTHS)
def test_compare_headline_at_primary_k(cli, world, curve, columns):
    ab, aa = curve
    args = ("compare", TRIPLET, ARCFACE, "-k", "1,5,10,50", "--baseline", SEED2, "--no-cka")
    j = run(cli, world, *args, "--json").json()
    assert j["k"] == 10 and j["similarity"] == pytest.approx(ab[10])
    assert j["baseline"]["k"] == 10 and j["baseline"]["similarity"] == pytest.approx(aa[10])
    assert f"{ab[10]:.3f}" in j["baseline_reading"] and "at k = 10" in j["baseline_reading"]
    for k in (1, 5, 10, 50):  # the reading given per k
        point = j["curve"][str(k)]
        assert point["baseline"] == pytest.approx(aa[k])
        assert _band(ab[k], aa[k]) in point["reading"]
    out = run(cli, world, *args, columns=columns).out
    assert "…" not in out
    flat = " ".join(out.split())
    assert out.startswith("A (") or out.startswith("Neighbourhoods of A (")     # the answer first (issue 24)
    assert re.search(rf"{TRIPLET} vs {ARCFACE}: \d+ items, k = 10 \(headline", flat)
    assert re.search(rf"similarity \(mean Jaccard\)\s+{ab[10]:.4f}", out)
    assert "reading (k = 10):" in flat
    # the user marks another k; without 10 in the curve the first k given is the headline
    j = run(cli, world, *args, "--primary-k", "50", "--json").json()
    assert j["k"] == 50 and j["similarity"] == pytest.approx(ab[50]) and "at k = 50" in j["baseline_reading"]
    j = run(cli, world, "compare", TRIPLET, ARCFACE, "-k", "5,50", "--no-cka", "--json").json()
    assert j["k"] == 5 and j["similarity"] == pytest.approx(ab[5])


# -- evaluate, add: warnings and errors --------------------------------------------------------

def test_a_measurement_column_is_refused_as_labels_in_one_line(cli, world):
    """A float column with fractions is not classes (spacelens.labels): one line with the reason
    and the fix, exit 1, nothing stored; the integer label column goes through."""
    r = run(cli, world, "evaluate", ARCFACE, "-l", "score", "--no-clustering", "--json", check=False)
    assert r.code == 1 and r.out == ""
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "'score' holds measurements" in lines[0] and "pandas.qcut" in lines[0]
    assert "Traceback" not in r.err
    r = run(cli, world, "evaluate", ARCFACE, "-l", "label", "--no-clustering", "--json")
    assert r.code == 0 and "measurements" not in r.err


def test_the_id_column_is_refused_as_labels(cli, world):
    r = run(cli, world, "evaluate", ARCFACE, "-l", "id", "--no-clustering", "--json", check=False)
    assert r.code == 1 and "id column" in r.err   # the id column: every item a class of its own


def test_ids_that_lost_leading_zeros(cli, world, tmp_path):
    table = world["table"]
    x = np.random.default_rng(1).normal(size=(len(table), 4)).astype(np.float32)
    npz = tmp_path / "e.npz"
    np.savez(npz, embeddings=x, ids=np.arange(len(table)))  # integer ids: '00007' became 7
    r = run(cli, world, "add", "-e", npz, "--dataset-name", "digits", "--experiment-name", "ints",
            "--space-name", "ints", check=False)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1
    assert "np.str_" not in r.err and "(e.g. '0', '1', '2', ...)" in r.err
    assert "lost leading zeros" in r.err and "'00001'" in r.err and "as strings" in r.err
    # ids that are simply absent get the plain message with plain quoted strings
    np.savez(npz, embeddings=x[:2], ids=np.array(["nope-1", "nope-2"]))
    r = run(cli, world, "add", "-e", npz, "--dataset-name", "digits", "--experiment-name", "ints",
            "--space-name", "ints", check=False)
    assert r.code == 1 and "(e.g. 'nope-1', 'nope-2')" in r.err and "leading zeros" not in r.err


# -- --home, kinds ----------------------------------------------------------------------------

def test_home_before_the_verb(cli, world, home):
    # the fixture's $SPACELENS_HOME is another (empty) folder: only --home can find the spaces
    r = cli("--home", world["home"], "ls", "spaces", "--json", check=True)
    assert {s["name"] for s in r.json()} == {TRIPLET, ARCFACE, EARLY, PIXELS, SEED2}
    # the verb's own --home wins over the global one
    bad = cli("--home", world["home"], "ls", "--home", home / "elsewhere")
    assert bad.code == 1 and "No registry at" in bad.err


@pytest.mark.parametrize("verb", [("ls",), ("show", "x"), ("leaderboard", "digits"), ("evolution", "run")])
def test_missing_home_is_refused_not_created(cli, tmp_path, verb):
    typo = tmp_path / "typo"
    r = cli(*verb, "--home", typo)
    assert r.code == 1 and not typo.exists()
    assert r.err.strip().splitlines() == [f"error: No registry at {typo} — check --home / SPACELENS_HOME, or add "
                                          "something first with 'spacelens add'."]


def test_unknown_kind_names_the_choices(cli, world):
    r = run(cli, world, "ls", "spaaces", check=False)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1
    assert "Did you mean 'spaces'?" in r.err and "datasets, experiments, spaces" in r.err
