"""What a report on two spaces says: every figure gathered through :mod:`spacelens.api`.

The content is one JSON-ready dict (the ``--json`` of ``spacelens report``); the HTML page
(:mod:`.html`) and its plots (:mod:`.figures`) only render it. Sections:

- ``agreement``: per k mean Jaccard, overlap@k, CKNNA and chance; linear and unbiased CKA.
- ``noise`` (with a baseline): per k the per-item agreement difference against the baseline.
- ``where``: the groups of items whose neighbourhoods changed together (the regions to look
  at first, described by their metadata); with a label field agreement per label; the items
  that changed most, with their neighbours kept, lost and gained.
- ``structure`` (with a label field): neighbour-label composition and the pairs that changed.
- ``retrieval`` (with a label field): ``evaluate A --vs B`` (and the baseline).
- ``summary``: the plain sentences a reader needs, in order.
"""

from __future__ import annotations

import datetime as _dt

from spacelens import api
from spacelens.jsonable import jsonable

CHANGED_ITEMS = 20      # rows in the "changed most" table
CHANGED_DETAIL = 5      # of which this many with their neighbour lists
CHANGE_GROUPS = 8       # groups of items that changed together, at most
MIXING_NOTEWORTHY = 0.02  # a class pair's share change worth a summary sentence


_num = jsonable   # NaN as None (the one JSON encoder)


def build(a: str, b: str, *, baseline: str | None = None, label_field: str | None = None, k="5,10,20",
          metric_a: str = "cosine", metric_b: str = "cosine", seed: int = 0, home=None) -> dict:
    """The report's content for spaces ``a`` and ``b`` (see the module docstring)."""
    reg = api.open_registry(home)
    res = api.compare(a, b, k=k, metric_a=metric_a, metric_b=metric_b, baseline=baseline, seed=seed,
                      by=label_field, home=reg)
    d = res.to_dict(per_item=False)
    info = res.info
    out: dict = {"title": f"{a} vs {b}", "space_a": a, "space_b": b, "baseline": baseline,
                 "label_field": label_field, "k": res.k, "n_items": info["n_items"],
                 "created": _dt.datetime.now().isoformat(timespec="seconds"),
                 "settings": {"metric_a": metric_a, "metric_b": metric_b, "engine": info.get("engine"),
                              "ks": info.get("ks"), "seed": seed}}
    out["agreement"] = {"curve": d.get("curve", {}), "jaccard": d.get("similarity"), "overlap": d.get("overlap"),
                        "cknna": d.get("cknna"), "cka": d.get("cka"), "cka_unbiased": d.get("cka_unbiased"),
                        "chance": d.get("chance"), "histogram": d.get("histogram"), "quantiles": d.get("quantiles")}
    if res.baseline is not None:
        base = res.baseline.to_dict(per_item=False)
        out["noise"] = {"baseline": baseline, "curve": base.get("curve", {}), "jaccard": base.get("similarity"),
                        "histogram": base.get("histogram"), "cka": base.get("cka"),
                        "cka_unbiased": base.get("cka_unbiased"), "reading": d.get("baseline_reading"),
                        "difference": d.get("baseline_difference", {})}
    changed = api.changed_items(res, k=res.k, columns=[label_field] if label_field else None, home=reg)
    top = changed.head(CHANGED_ITEMS)
    where: dict = {"changed_most": [{key: _num(v.item() if hasattr(v, "item") else v) for key, v in row.items()}
                                    for row in top.to_dict(orient="records")],
                   "details": [api.neighbour_changes(res, id=str(i), k=res.k, home=reg)
                               for i in top["id"].head(CHANGED_DETAIL)]}
    if label_field:
        where["by"] = d.get("by")
    groups = api.change_groups(res, k=res.k, top=CHANGE_GROUPS, home=reg)
    for g in groups["groups"]:        # the page lists a few ids; the JSON keeps every member
        g["first_ids"] = g["ids"][:5]
    where["groups"] = groups
    out["where"] = where
    if label_field:
        out["structure"] = api.composition(res, label_field=label_field, k=res.k, home=reg)
        out["retrieval"] = api.evaluate_versus(a, b, label_field=label_field, baseline=baseline, metric=metric_a,
                                               seed=seed, home=reg)
    out["summary"] = summary(out)
    return out


def summary(c: dict) -> list[str]:
    """The plain sentences, most important first."""
    a, b, k = c["space_a"], c["space_b"], c["k"]
    ag = c["agreement"]
    cur = ag["curve"].get(str(k), {})
    s = []
    over = cur.get("overlap")
    if over is not None:
        s.append(f"At k = {k}, an item keeps on average {over * k:.1f} of its {k} nearest neighbours from {a} to {b} "
                 f"(overlap@k {over:.3f}, mean Jaccard {cur.get('mean', float('nan')):.3f}; chance would keep "
                 f"{cur.get('overlap_chance', 0) * k:.2f}).")
    if ag.get("cknna") is not None or ag.get("cka_unbiased") is not None:
        from spacelens.compare.cka import cka_rows

        rows = cka_rows(c["settings"]["metric_a"], c["settings"]["metric_b"])
        s.append(f"Alignment: CKNNA {_fmt(ag.get('cknna'))}, unbiased CKA {_fmt(ag.get('cka_unbiased'))} "
                 f"(linear CKA {_fmt(ag.get('cka'))}; CKA {rows}"
                 + (", as Huh et al., not Kornblith et al.'s raw features" if rows == "on L2-normalised rows" else "")
                 + "); 0 means unrelated, 1 the same up to rotation and scale.")
    noise = c.get("noise")
    if noise:
        reading = noise.get("difference", {}).get(str(k), {}).get("reading")
        if reading:
            r = reading.split(": ", 1)[-1]          # drop the "k=10: " prefix
            s.append(f"Against {noise['baseline']} (a reseeded run of {a}), at k = {k}: {r}.")
    by = c.get("where", {}).get("by")
    if by and by.get("least") and by.get("most"):
        lo, hi = by["least"][0], by["most"][0]
        s.append(f"By {by['column']}: neighbourhoods changed most for {lo['group']} (mean Jaccard {lo['mean']:.3f}) "
                 f"and least for {hi['group']} ({hi['mean']:.3f}); overall {by['overall']:.3f}.")
    found = c.get("where", {}).get("groups") or {}
    groups = found.get("groups") or []
    if groups:
        n = found.get("n_groups", len(groups))
        s.append(f"Region to look at first (of {n} group{'s' if n > 1 else ''} of items whose neighbourhoods "
                 f"changed together): {groups[0]['description']}.")
    st = c.get("structure")
    if st and not st.get("pairs"):
        s.append("Class mixing did not change: every class has the same neighbour-label shares in both spaces.")
    if st and st.get("pairs"):
        top = st["pairs"][0]
        if abs(top["change"]) >= MIXING_NOTEWORTHY:
            s.append("Largest change in class mixing: " + st["sentences"][0] + ".")
        else:
            s.append(f"Class mixing barely changed: no class's share of neighbours from another class moved by "
                     f"{100 * MIXING_NOTEWORTHY:.0f} points or more (largest: {st['sentences'][0]}).")
    rt = c.get("retrieval")
    if rt:
        note = (rt.get("coverage") or {}).get("note")
        s.append(rt["verdict"])
        if note:     # the spaces embed different items: the verdict rests on the shared ones
            s.append(f"Retrieval is compared on the items the compared spaces all embed ({note}).")
    return s


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"
