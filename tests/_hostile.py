"""A registry whose every text is hostile (#23), shared by the browser test of the page, widget
and report (test_browser_hostile.py) and the report's escaping test (test_report.py).

Ids, column names and values hold markup that runs script if it ever reaches ``innerHTML``
unescaped (each sets ``window.__pwned`` to its own number), a ``<script>``, an attribute
breaker, 5,000-character strings and right-to-left text (Arabic, Hebrew); the spaces are
named in Hebrew and Arabic (entity names allow letters only, no markup), and the experiment's
params carry markup too. Six classes of 30 items; in B the class whose value is IMG has its
items reshuffled among themselves, so that class changes together.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=2</script>"
QUOTE = "\"' autofocus onfocus=window.__pwned=3 x='"
ARABIC = "قطة سوداء"
HEBREW = "כלב לבן"
LONG = "W" * 4960 + "<img src=y onerror=window.__pwned=9>"   # 5,000 characters, markup at its end
CLASS_COL = "<img src=x onerror=window.__pwned=4>"        # a categorical column's name
SCORE_COL = "<svg onload=window.__pwned=5>score"          # a numeric column's name
NOTE_COL = "note<script>window.__pwned=6</script>"        # a text column's name
VALUES = [IMG, SCRIPT, ARABIC, HEBREW, LONG, QUOTE]       # CLASS_COL's six values
PREFIXES = [IMG, SCRIPT, ARABIC, HEBREW, QUOTE]
DATASET, A, B, EXPERIMENT = "hostile", "A-מרחב", "B-فضاء", "exp-שלום"
PARAMS = {IMG: SCRIPT, "note": LONG, "lr": 0.1}
N_CLASS, PER = 6, 30
N = N_CLASS * PER
K = 10


def hostile_ids() -> list[str]:
    return [(LONG if i % 37 == 0 else PREFIXES[i % len(PREFIXES)]) + f" {i}" for i in range(N)]


def build(home, *, derived: bool = True) -> dict:
    """Register the hostile dataset with spaces A and B (and, with ``derived``, their PCA maps,
    the comparison at K and an evaluation of A by CLASS_COL)."""
    import spacelens
    from spacelens import api

    rng = np.random.default_rng(23)
    lab = np.repeat(np.arange(N_CLASS), PER)
    centers = rng.normal(size=(N_CLASS, 12)) * 4
    a = (centers[lab] + rng.normal(size=(N, 12))).astype(np.float32)
    b = a + 0.2 * rng.normal(size=a.shape).astype(np.float32)
    moved = np.flatnonzero(lab == 0)
    b[moved] = b[rng.permutation(moved)]
    table = pd.DataFrame({
        "id": hostile_ids(),
        CLASS_COL: [VALUES[c] for c in lab],
        SCORE_COL: rng.random(N).round(3),
        NOTE_COL: [f"{HEBREW} {IMG} {ARABIC} #{i}" for i in range(N)],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spacelens.add(a, table, dataset_name=DATASET, experiment_name=EXPERIMENT, space_name=A, params=PARAMS,
                      home=home)
        spacelens.add(b.astype(np.float32), dataset_name=DATASET, experiment_name=EXPERIMENT, space_name=B,
                      home=home)
        if derived:
            for s in (A, B):
                api.project(s, method="pca", home=home)
            api.compare(A, B, k=K, home=home)
            api.evaluate(A, label_field=CLASS_COL, home=home)
    return {"home": home, "table": table, "labels": lab}
