"""One self-contained HTML page from the report content: inline CSS, plots as data: URIs, no
script, no external resource (it opens offline and nothing is fetched).

Every text that comes from the registry (space, column and class names, ids, metadata values,
descriptions) is escaped where it is written, and the page's own Content-Security-Policy
allows nothing but its inline style and data: images: no script of any kind, no base URL, no
form, no plugin, so a slip in the escaping still runs nothing."""

from __future__ import annotations

import base64
import re
from html import escape

from spacelens.catalogue import short
from spacelens.formatting import fmt, fmt_ci, fmt_p

CSS = """
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:980px;margin:24px auto;
padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin-top:22px}.meta{color:#666;font-size:12px}
.summary{background:#f5f8fc;border-left:4px solid #3b6fb6;padding:8px 16px}.summary li{margin:6px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:3px 10px;text-align:right;
border-bottom:1px solid #eee;white-space:nowrap}th{background:#fafafa}td.l,th.l{text-align:left}
td.l{white-space:normal}.ci{white-space:nowrap}
.answer{background:#f5f8fc;border-left:4px solid #3b6fb6;padding:8px 16px 8px 32px;font-size:15px}
.answer li{margin:6px 0}.maps{display:flex;flex-wrap:wrap;gap:12px}.maps figure{margin:0;flex:1 1 420px}
.maps img{max-width:100%}figcaption{font-size:12.5px;color:#555}
.fig{margin:10px 0}.fig img{max-width:100%}.note{color:#555;font-size:12.5px}
.kept{color:#2d7a3e}.lost{color:#b03a2e}.gained{color:#2b5fa6}code{background:#f3f3f3;padding:0 3px}
"""


def _src(fig: str | bytes) -> str:
    """A data: URI of an SVG string or PNG bytes."""
    if isinstance(fig, bytes):
        return "data:image/png;base64," + base64.b64encode(fig).decode("ascii")
    return "data:image/svg+xml;base64," + base64.b64encode(fig.encode("utf-8")).decode("ascii")


def _img(svg: str | bytes | None, alt: str) -> str:
    if not svg:
        return ""
    return f'<div class="fig"><img alt="{escape(alt)}" src="{_src(svg)}"></div>'


def _alias(text: str, c: dict) -> str:
    """``text`` with the spaces' full names replaced by their aliases (A, B, C), longest first, in
    one pass (a name inside another, e.g. run1 in run10, is never split)."""
    names = {v: k for k, v in ((c.get("answer") or {}).get("aliases") or {}).items()}
    if not names:
        return text
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.sub(pattern, lambda m: names[m.group(0)], text)


_INTERVAL = re.compile(r"(?:95% CI )?[+\-−]?\d(?:[\d.,]*\d)? to [+\-−]?\d(?:[\d.,]*\d)?")


def _prose(text: str) -> str:
    """Escaped text whose intervals ("95% CI +0.003 to +0.015") never break across lines."""
    return _INTERVAL.sub(lambda m: f'<span class="ci">{m.group(0)}</span>', escape(text))


_f = fmt


def _ci(ci, digits: int = 3, sign: bool = False) -> str:
    """An interval cell: never broken across lines."""
    return f'<span class="ci">{escape(fmt_ci(ci, digits, sign))}</span>'

# what the page may load: its inline <style> and the plots (data: images); nothing else, no script
POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
          "object-src 'none'")


def _p(p) -> str:
    return escape(fmt_p(p))


def _table(headers: list[str], rows: list[list], left: int = 1, text: tuple = ()) -> str:
    """Columns before ``left`` and those in ``text`` are left-aligned."""
    th = "".join(f'<th class="l">{escape(h)}</th>' if i < left or i in text else f"<th>{escape(h)}</th>"
                 for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="l">{c}</td>' if i < left or i in text else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _agreement(c: dict, figs: dict) -> str:
    from spacelens.compare.cka import cka_rows

    ag = c["agreement"]
    st = c.get("settings", {})
    rows = []
    for k in sorted(ag["curve"], key=int):
        cur = ag["curve"][k]
        rows.append([k, _f(cur.get("mean"), 4), _f(cur.get("overlap"), 4), _f(cur.get("cknna"), 4),
                     _f(cur.get("chance"), 4), _f(cur.get("overlap_chance"), 4)])
    out = ['<section id="agreement"><h2>How much do the neighbourhoods agree?</h2>',
           _table(["k", "mean Jaccard", "overlap@k", "CKNNA", "Jaccard by chance", "overlap by chance"], rows),
           f"<p>Global, k-free: linear CKA <b>{_f(ag.get('cka'))}</b>, unbiased CKA "
           f"<b>{_f(ag.get('cka_unbiased'))}</b> ({escape(cka_rows(st.get('metric_a', 'cosine'), st.get('metric_b')))}"
           "; under cosine, Huh et al.'s pipeline rather than Kornblith et al.'s raw features).</p>",
           _img(figs.get("curve"), "agreement over k"), _img(figs.get("histogram"), "shared neighbours per item"),
           '<p class="note"><b>Jaccard</b>: |shared| / |union| of an item\'s k neighbours in the two spaces '
           "(half shared gives 0.33). <b>overlap@k</b>: shared / k, the mutual-kNN alignment of Huh et al. (2024); "
           "reads as the share of neighbours kept. <b>CKNNA</b>: CKA computed only on pairs that are neighbours in "
           "both spaces, weighted by how similar they are (about 0 for unrelated spaces, 1 for the same). "
           "<b>Unbiased CKA</b>: CKA with the unbiased HSIC estimator, which unlike linear CKA does not drift up "
           "with few items or many dimensions.</p></section>"]
    return "".join(out)


def _noise(c: dict) -> str:
    n = c.get("noise")
    if not n:
        return ""
    rows, readings = [], []
    for k in sorted(n["difference"], key=int):
        e = n["difference"][k]
        j, o = e.get("jaccard", {}), e.get("overlap", {})
        rows.append([k, _f(j.get("mean_b"), 4), _f(j.get("mean_a"), 4), _f(j.get("difference"), 4, True),
                     _ci(j.get("ci95"), 4, True), _f(o.get("difference"), 4, True), _ci(o.get("ci95"), 4, True),
                     _p(j.get("p_value"))])
        if e.get("reading"):
            readings.append(f"<li>{_prose(_alias(e['reading'], c))}</li>")
    return ('<section id="noise"><h2>Is it more than noise?</h2><p>Baseline: <b>C</b>, a reseeded run of '
            "A. Per item, the agreement of A with B minus its agreement with C, paired over items.</p>"
            + _table(["k", "Jaccard A–B", "Jaccard A–C", "difference", "95% CI", "overlap difference",
                      "95% CI", "p"], rows)
            + f"<ul>{''.join(readings)}</ul>"
            + '<p class="note">Intervals: Student t over items; p: sign-flip randomization. Items share '
              "neighbours, so they are not fully independent: read the interval as how precisely the mean is "
              "pinned for these items.</p></section>")


def _where(c: dict, figs: dict) -> str:
    w = c.get("where") or {}
    out = ['<section id="where"><h2>Where do they differ?</h2>']
    by = w.get("by")
    if by:
        rows = [[escape(str(g["group"])), f"{g['n']:,}", _f(g["mean"], 4), _ci(g["ci95"], 3)] for g in by["groups"]]
        out += [f"<h3>Agreement by {escape(by['column'])} (mean Jaccard at k = {by['k']}, least agreeing first)</h3>",
                _img(figs.get("by_group"), "agreement by group"),
                _table([by["column"], "items", "mean Jaccard", "95% CI"], rows[:60])]
    gs = w.get("groups")
    if gs is not None:
        out.append("<h3>Regions to look at first: items whose neighbourhoods changed together</h3>")
        if gs["groups"]:
            rows = [[escape(str(g["rank"])), f"{g['n']:,}", _f(g["mean_jaccard"], 3), escape(g["description"]),
                     escape(", ".join(g["first_ids"]))] for g in gs["groups"]]
            out.append(_table(["#", "items", "mean Jaccard", "what they share", "first items"], rows, left=0,
                              text=(3, 4)))
        else:
            out.append("<p>No group: the items that changed did not change together.</p>")
        out.append(f'<p class="note">{gs["n_changed"]:,} of {gs["n_items"]:,} items kept at most '
                   f"{gs['max_overlap']:.0%} of their {gs['k']} neighbours; those sharing lost or gained neighbours "
                   f"are grouped (DBSCAN on the Jaccard of their lost/gained neighbour sets, at least "
                   f"{gs['min_size']} items), {gs['n_grouped']:,} of them in {gs['n_groups']} groups, ranked by items "
                   "x (1 - mean Jaccard). Each is described by the metadata values over-represented in it. All "
                   "members: <code>spacelens compare A B --groups --json</code>, or <code>--export-changes "
                   "changes.csv</code> (column <code>group</code>).</p>")
    items = w.get("changed_most") or []
    if items:
        cols = [k for k in items[0] if k not in ("row",)]
        rows = [[escape(str(r[col])) if not isinstance(r[col], float) else _f(r[col], 3) for col in cols]
                for r in items]
        out += [f"<h3>The {len(items)} items whose neighbourhoods changed most</h3>",
                _table(cols, rows, left=1),
                '<p class="note">The full table: <code>spacelens.changed_items(A, B)</code> (a DataFrame; '
                "<code>.to_csv</code> / <code>.to_parquet</code>) or <code>spacelens compare A B --export-changes "
                "changes.parquet</code> (with every metadata column).</p>"]
    for d in w.get("details") or []:
        def names(key, cls):
            return ", ".join(f'<span class="{cls}">{escape(str(x["id"]))}</span>' for x in d[key]) or "-"
        out.append(f"<p><b>{escape(d['id'])}</b>: kept {names('kept', 'kept')}; lost {names('lost', 'lost')}; "
                   f"gained {names('gained', 'gained')}</p>")
    out.append("</section>")
    return "".join(out)


def _structure(c: dict, figs: dict) -> str:
    st = c.get("structure")
    if not st:
        return ""
    rows = [[escape(str(p["class"])), escape(str(p["neighbour_class"])), f"{100 * p['share_a']:.1f}%",
             f"{100 * p['share_b']:.1f}%", f"{100 * p['change']:+.1f}"] for p in st["pairs"]]
    same = [[escape(str(p["class"])), f"{p['n']:,}", f"{100 * p['share_a']:.1f}%", f"{100 * p['share_b']:.1f}%",
             f"{100 * p['change']:+.1f}"] for p in st["same_class"]]
    sentences = "".join(f"<li>{_prose(_alias(s, c))}</li>" for s in st["sentences"][:5])
    return (f'<section id="structure"><h2>How did the structure change?</h2><p>For each class of '
            f"<code>{escape(str(st.get('label_field')))}</code>, the labels of its items' {st['k']} nearest neighbours "
            f"in A and in B.</p><ul>{sentences}</ul>"
            + _img(figs.get("composition"), "change of neighbour-label composition")
            + "<h3>Class pairs whose mixing changed most</h3>"
            + _table(["class", "neighbour class", "share in A", "share in B", "change (points)"], rows, left=2)
            + "<h3>Same-class neighbours per class (most lost first)</h3>"
            + _table(["class", "items", "A", "B", "change (points)"], same)
            + "</section>")


def _retrieval(c: dict, figs: dict) -> str:
    rt = c.get("retrieval")
    if not rt:
        return ""
    rows = []
    for m, r in rt["metrics"].items():
        w = rt["wins"][m]
        rows.append([escape(short(m)), _f(r["mean_a"], 4), _f(r["mean_b"], 4), _f(r["difference"], 4, True),
                     _ci(r["ci95"], 4, True), _p(r.get("p_value")), f"{w['b']} / {w['a']} / {w['ties']}"])
    out = [f'<section id="retrieval"><h2>Which retrieves better?</h2><p><b>{_prose(_alias(rt["verdict"], c))}</b></p>',
           _table(["metric", "A", "B", "B − A", "95% CI", "p", "classes won (B / A / tied)"], rows),
           _img(figs.get("retrieval"), "metric differences")]
    if "baseline" in rt:
        brow = [[escape(short(m)), _f(r["difference"], 4, True), _ci(r["ci95"], 4, True), _p(r.get("p_value"))]
                for m, r in rt["baseline"]["metrics"].items()]
        out += ["<h3>Seed noise: C − A</h3>",
                _table(["metric", "difference", "95% CI", "p"], brow)]
    per = rt["per_class"].get("mean_average_precision_at_r", [])
    if per:
        show = per if len(per) <= 20 else per[:10] + per[-10:]
        prow = [[escape(str(r["label"])), f"{r['n']:,}", _f(r["a"], 3), _f(r["b"], 3), _f(r["difference"], 3, True)]
                for r in show]
        out += ["<h3>MAP@R per class (B − A, largest loss first)</h3>",
                _table(["class", "queries", "A", "B", "B − A"], prow)]
    s = rt.get("settings", {})
    out.append(f'<p class="note">{rt["n_queries"]:,} shared queries, each scored in both spaces (per-query P@1, '
               f"R-precision and AP@R as pytorch-metric-learning defines them). Intervals: {escape(str(s.get('interval')))}"
               f"; p-values: {escape(str(s.get('test')))}.</p></section>")
    return "".join(out)


_AUDIT_KINDS = (("leak", "Near-duplicates across splits (leaks)"), ("duplicate", "Duplicates"),
                ("label_error", "Likely label errors"), ("outlier", "Outliers"))
_AUDIT_SETS = (("leak", "leaked queries"), ("duplicate", "duplicated queries"), ("label_error", "likely label errors"),
               ("clean", "leaks and likely label errors"), ("any", "every flagged query"))


def _audit(c: dict) -> str:
    """Can the evaluation be trusted? The audit's answer, its effect on MAP@R, the top items per kind."""
    au = c.get("audit")
    if not au:
        return ""
    if au.get("skipped"):
        return f'<section id="audit"><h2>Can the evaluation be trusted?</h2><p>{escape(au["skipped"])}</p></section>'
    m = "mean_average_precision_at_r"
    out = [f'<section id="audit"><h2>Can the evaluation be trusted?</h2><p><b>{_prose(_alias(au["answer"], c))}</b></p>']
    eff = au.get("effect")
    if eff:
        rows = []
        for name, words in _AUDIT_SETS:
            e = (eff["sets"].get(name) or {})
            r = (e.get("metrics") or {}).get(m)
            if not r or not e.get("n_flagged"):     # nothing of that kind left out: nothing to show
                continue
            rows.append([escape(words), f"{e['n_flagged']:,} ({e['share']:.1%})", _f(r["all"], 4), _f(r["kept"], 4),
                         _f(r["difference"], 4, True), _ci(r["ci95"], 4, True)])
        out += [f"<h3>{escape(short(m))} of A with the flagged queries left out</h3>",
                _table(["left out", "queries", "all", "without them", "difference", "95% CI"], rows) if rows
                else "<p>No query is flagged: every figure stands as it is.</p>",
                f'<p class="note">{escape(eff["queries"]["note"])}; the difference is paired over the same '
                "queries (the flagged ones are only left out of the mean).</p>"]
    vs = au.get("versus") or {}
    for kind, title in _AUDIT_KINDS:
        if kind not in au["kinds"]:
            continue
        k = au["kinds"][kind]
        v = vs.get("kinds", {}).get(kind)
        split = (f"; {v['both']:,} flagged in both spaces (likely the data's), {v['only_a']:,} in A only, "
                 f"{v['only_b']:,} in B only" if v else "")
        out.append(f"<h3>{escape(title)}: {k['n']:,} ({k['share']:.2%}){escape(split)}</h3>"
                   f'<p class="note">{escape(k["rule"])}</p>')
        items = au["top"].get(kind) or []
        if items:
            rows = [[escape(str(i["id"])), f"{i['score']:.2f}", escape(str(i["reason"])), escape(str(i["evidence"])),
                     escape(_alias(str(i["flagged_by"]), c))] for i in items]
            out.append(_table(["id", "score", "reason", "evidence", "flagged by"], rows, text=(2, 3, 4)))
    pairs = au.get("mixed_classes")
    if pairs:
        rows = [[escape(str(p["a"])), escape(str(p["b"])), f"{p['share']:.1%}", f"{p['lift']:.0f}x"] for p in pairs[:10]]
        out += [f"<h3>Mixed classes: {len(pairs):,} pair{'s' if len(pairs) > 1 else ''}</h3>",
                _table(["class", "class", "neighbours exchanged", "vs chance"], rows, left=2)]
    out.append(f'<p class="note">{au["n_flagged"]:,} flagged items in all, from the {au["k"]} nearest neighbours of each '
               "item. Every item with its reason and evidence: <code>spacelens audit A --label-field "
               f"{escape(str(au['label_field']))}{' --split-field split' if au.get('split') else ''} --vs B --json"
               "</code>, or the analyzer page's audit panel (select them in both maps, export).</p></section>")
    return "".join(out)


def _answer(c: dict) -> str:
    """The answer first: its sentences (A, B and C defined at their first mention)."""
    ans = c.get("answer")
    if not ans:
        return ""
    items = "".join(f"<li>{_prose(s['text'])}</li>" for s in ans["sentences"])
    sampled = f'<p class="sampled"><b>{escape(ans["sampled"])}</b></p>' if ans.get("sampled") else ""
    return f'<section id="answer"><h2>The answer</h2>{sampled}<ol class="answer">{items}</ol></section>'


def _maps(c: dict, figs: dict) -> str:
    maps = c.get("maps") or {}
    if not maps:
        return ""
    cells = []
    for alias, m in maps.items():
        f = m.get("faithfulness") or {}
        kp, tw = f.get("knn_preservation"), f.get("trustworthiness")
        colour = f", coloured by {c['label_field']}" if c.get("label_field") else ""
        cap = (f"{alias}: PCA map of {m['n_items']:,} items{colour}. It keeps {_f(kp, 2)} of each item's "
               f"{f.get('k')} nearest neighbours (trustworthiness {_f(tw, 2)})"
               + ("; read clusters with care: most neighbours are not kept" if kp is not None and kp < 0.5 else "")
               + ".")
        fig = figs.get(f"map_{alias}")
        img = f'<img alt="PCA map of {alias}" src="{_src(fig)}">' if fig else ""
        cells.append(f"<figure>{img}<figcaption>{escape(cap)}</figcaption></figure>")
    return ('<section id="maps"><h2>The two maps</h2><div class="maps">' + "".join(cells) + "</div></section>")


def _training(c: dict, figs: dict) -> str:
    tr = c.get("training") or {}
    if not tr.get("curves") and not tr.get("skipped"):
        return ""
    out = ['<section id="training"><h2>Training</h2>']
    for ev in tr.get("curves", []):
        out.append(f"<p>{escape(ev['alias'])} is epoch {ev['step']} of experiment <code>{escape(ev['experiment'])}"
                   f"</code> ({len(ev['epochs'])} epochs): {_prose(_alias(ev['verdict'], c))}</p>")
    out.append(_img(figs.get("training"), "training curves"))
    for sk in tr.get("skipped", []):
        out.append(f"<p class='note'>Training curve of <code>{escape(sk['experiment'])}</code> left out: "
                   f"{escape(sk['reason'])}.</p>")
    out.append("</section>")
    return "".join(out)


def render(content: dict, figures: dict[str, str]) -> str:
    """The whole page as a string."""
    from spacelens.version import __version__

    c = content
    summary = "".join(f"<li>{_prose(_alias(s, c))}</li>" for s in c.get("summary", []))
    st = c.get("settings", {})
    meta = (f"{c['n_items']:,} shared items; k = {', '.join(map(str, st.get('ks') or [c['k']]))}; metrics "
            f"{st.get('metric_a')} / {st.get('metric_b')}; engine {st.get('engine')}"
            + ("; baseline C" if c.get("baseline") else "")
            + (f"; labels {c['label_field']}" if c.get("label_field") else "")
            + f"; spacelens {__version__}, {c['created']}")
    body = "".join([
        f"<h1>{escape(c['title'])}</h1>",
        _answer(c), f"<p class='meta'>{escape(meta)}</p>", _maps(c, figures), _training(c, figures),
        f'<section id="summary"><h2>Summary</h2><ul class="summary">{summary}</ul></section>',
        _agreement(c, figures), _noise(c), _where(c, figures), _structure(c, figures), _retrieval(c, figures),
        _audit(c),
    ])
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{POLICY}\">"
            f"<title>{escape(c['title'])} - spacelens report</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>")
