"""The leaderboard's clean column (api.leaderboard(clean=...), `spacelens leaderboard --clean`):
each evaluation's MAP@R with the leaked queries and likely label errors of its space's audit
left out, equal to a brute-force re-evaluation without those queries; read from a stored audit,
run on request, and left empty (saying why) where the audit scored the queries otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import spacelens
from spacelens.audit import planted_problems
from spacelens.evaluate.retrieval import retrieval_metrics

M = "mean_average_precision_at_r"


@pytest.fixture
def registered(home):
    p = planted_problems(2000, seed=7, n_classes=8)
    spacelens.add(p.vectors, p.table(), dataset_name="toy", experiment_name="exp", space_name="A", id_field="id")
    spacelens.evaluate("A", label_field="label", query_split="query", reference_split="reference", clustering=False)
    return p


def _brute_map_at_r(x, q_rows, ref_rows, labels):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    k = int(pd.Series(labels[ref_rows]).value_counts().max())
    idx = np.argsort(-(xn[q_rows] @ xn[ref_rows].T), axis=1, kind="stable")[:, :k]
    return retrieval_metrics(idx, labels[q_rows], labels[ref_rows], ref_includes_query=False).metrics[M]


def test_clean_column_equals_brute_force_without_the_flagged_queries(registered):
    p = registered
    before = spacelens.leaderboard("toy", clean="stored")
    assert before[0]["clean"]["value"] is None and "no stored audit" in before[0]["clean"]["note"]
    rows = spacelens.leaderboard("toy", clean=True)          # audited now, and stored
    c = rows[0]["clean"]
    assert c["audit"] == "computed" and c["left_out_what"] == "leaked queries and likely label errors"
    f = spacelens.audit("A", label_field="label", split_field="split", query_split="query",
                        reference_split="reference").to_frame()
    flagged = set(f.loc[f["kind"].isin(["leak", "label_error"]), "row"])
    q = np.flatnonzero(p.splits == "query")
    ref = np.flatnonzero(p.splits == "reference")
    kept = np.array([r for r in q if r not in flagged])
    assert c["left_out"] == len(q) - len(kept) > 0
    lab = np.asarray(p.labels)
    assert c["value"] == pytest.approx(_brute_map_at_r(p.vectors.astype(np.float64), kept, ref, lab), abs=1e-12)
    assert c["difference"] == pytest.approx(c["value"] - rows[0][M], abs=1e-12)
    assert c["ci95"][0] <= c["difference"] <= c["ci95"][1]
    # leaked queries find their copy: leaving them out changes the figure, and the interval says so
    assert rows[0][M] == pytest.approx(_brute_map_at_r(p.vectors.astype(np.float64), q, ref, lab), abs=1e-12)
    again = spacelens.leaderboard("toy", clean="stored")[0]["clean"]
    assert again["audit"] == "stored" and again["value"] == c["value"]


@pytest.mark.filterwarnings("ignore:k=5 is below")
def test_clean_column_stays_empty_where_the_audit_scored_otherwise(registered):
    spacelens.evaluate("A", label_field="label", query_split="query", reference_split="reference", k=5,
                       clustering=False)
    rows = spacelens.leaderboard("toy", clean=True)
    at5 = next(r for r in rows if r["k"] == 5)
    assert at5["clean"]["value"] is None and "otherwise" in at5["clean"]["note"]
    default = next(r for r in rows if r["k"] != 5)
    assert default["clean"]["value"] is not None


def test_cli_leaderboard_clean(cli, registered):
    out = cli("leaderboard", "toy", "--clean", check=True).out
    assert "MAP@R without leaks & label errors" in out and "left out" in out
    js = cli("leaderboard", "toy", "--clean", "--json", check=True).json()
    assert js[0]["clean"]["audit"] == "stored" and js[0]["clean"]["value"] < 1
    plain = cli("leaderboard", "toy", check=True).out
    assert "without leaks" not in plain
