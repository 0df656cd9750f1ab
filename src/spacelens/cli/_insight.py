"""Terminal rendering for the issue-17 figures: the agreement family, the baseline difference,
agreement per group (``compare``) and the paired comparison of two spaces (``evaluate --vs``).

Kept apart from cli/compare.py and cli/evaluate.py so those stay thin; they call these."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from spacelens.cli._common import console
from spacelens.catalogue import short as _short
from spacelens.formatting import fmt, fmt_ci, fmt_p


_f, _ci = fmt, fmt_ci


def print_agreement(res) -> None:
    """Per k: mean Jaccard, overlap@k and CKNNA (and chance), plus unbiased CKA."""
    info = res.info
    curve = info.get("curve", {})
    t = Table(title="agreement per k", title_justify="left", header_style="bold")
    for col in ("k", "Jaccard", "overlap@k", "CKNNA", "overlap by chance"):
        t.add_column(col, justify="right")
    for kk in sorted(curve, key=int):
        c = curve[kk]
        t.add_row(kk, _f(c.get("mean"), 4), _f(c.get("overlap"), 4), _f(c.get("cknna"), 4),
                  _f(c.get("overlap_chance"), 4))
    console.print(t)
    if "cka_unbiased" in info:
        from spacelens.compare.cka import cka_rows

        rows = cka_rows(info.get("metric_a", "cosine"), info.get("metric_b"))
        console.print(f"unbiased CKA {_f(info['cka_unbiased'], 4)} (linear CKA {_f(info.get('cka'), 4)}; both "
                      f"{rows}; the unbiased one is ~0 for unrelated spaces at any N and dimension)",
                      highlight=False)
    console.print("[dim]overlap@k: share of an item's k neighbours kept (Huh et al. mutual kNN); CKNNA: CKA on "
                  "pairs that are neighbours in both spaces (~0 unrelated, 1 same)[/dim]")


def print_baseline_difference(res) -> None:
    """Per k: agreement with B minus agreement with the baseline, paired over items."""
    bd = res.info.get("baseline_difference")
    if not bd:
        return
    base = res.baseline.space_b if res.baseline is not None else "baseline"
    t = Table(title=f"is it more than noise? per item: agreement with {res.space_b} minus with {base}",
              title_justify="left", header_style="bold")
    for col in ("k", "Jaccard diff", "95% CI", "overlap diff", "95% CI", "p"):
        t.add_column(col, justify="right")
    for kk in sorted(bd, key=int):
        j, o = bd[kk].get("jaccard", {}), bd[kk].get("overlap", {})
        p = j.get("p_value")
        t.add_row(kk, _f(j.get("difference"), 4, True), _ci(j.get("ci95"), 4, True),
                  _f(o.get("difference"), 4, True), _ci(o.get("ci95"), 4, True),
                  fmt_p(p))
    console.print(t)
    for kk in sorted(bd, key=int):
        if "reading" in bd[kk]:
            console.print(f"  {bd[kk]['reading']}")


def print_by_group(by: dict, limit: int = 8) -> None:
    """Mean Jaccard per group, least agreeing first."""
    groups = by["groups"]
    t = Table(title=f"agreement by {by['column']} (mean Jaccard at k = {by['k']}; overall {by['overall']:.4f})",
              title_justify="left", header_style="bold")
    for col, just in (("group", "left"), ("items", "right"), ("mean", "right"), ("95% CI", "right")):
        t.add_column(col, justify=just)
    shown = groups if len(groups) <= 2 * limit else groups[:limit] + [None] + groups[-limit:]
    for g in shown:
        if g is None:
            t.add_row("...", "", "", "")
            continue
        t.add_row(str(g["group"]), f"{g['n']:,}", _f(g["mean"], 4), _ci(g["ci95"], 3))
    console.print(t)
    if len(groups) >= 6 and by.get("least") and by.get("most"):
        console.print(f"least agreeing: {', '.join(str(g['group']) for g in by['least'][:3])}; most agreeing: "
                      f"{', '.join(str(g['group']) for g in by['most'][:3])}")


def print_change_groups(found: dict, limit: int = 10) -> None:
    """The groups of items whose neighbourhoods changed together, largest change first."""
    gs = found["groups"]
    head = (f"regions to look at first: {found['n_groups']} groups of items whose neighbourhoods changed together "
            f"(k = {found['k']}; {found['n_changed']:,} of {found['n_items']:,} items kept at most "
            f"{found['max_overlap']:.0%} of their neighbours; {found['n_grouped']:,} of them in a group)")
    if not gs:
        console.print(head.replace(": 0 groups", ": no groups"))
        return
    t = Table(title=head, title_justify="left", header_style="bold")
    for col, just in (("#", "right"), ("items", "right"), ("mean Jaccard", "right"), ("what they share", "left"),
                      ("first items", "left")):
        t.add_column(col, justify=just, overflow="fold")
    for g in gs[:limit]:
        what = g["description"].split("; ", 1)[1] if "; " in g["description"] else "-"
        what = "; ".join(p for p in what.split("; ") if not p.startswith("mean Jaccard")) or "-"
        t.add_row(str(g["rank"]), f"{g['n']:,}", _f(g["mean_jaccard"], 3), what, ", ".join(g["ids"][:3]))
    console.print(t)
    console.print("[dim]ranked by items x (1 - mean Jaccard); all members: --json, or --export-changes FILE "
                  "(column group)[/dim]")


def print_versus(out: dict) -> None:
    """The paired comparison table, per-class wins and the verdict."""
    a, b = out["space_a"], out["space_b"]
    t = Table(title=f"{a} vs {b}: {out['n_queries']:,} shared queries (labels {out['label_field']!r}, "
              f"{out['metric']})", title_justify="left", header_style="bold")
    note = (out.get("coverage") or {}).get("note")
    if note:      # the spaces embed different items: say which were left out, before any number
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
    for col in ("metric", a, b, f"{b} - {a}", "95% CI", "p", "queries won", "classes won"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for m, res in out["metrics"].items():
        w = out["wins"][m]
        t.add_row(_short(m), _f(res["mean_a"], 4), _f(res["mean_b"], 4), _f(res["difference"], 4, True),
                  _ci(res["ci95"], 4, True),
                  fmt_p(res.get("p_value")),
                  f"{b}: {res['b_better']:,} / {a}: {res['a_better']:,}",
                  f"{b}: {w['b']} / {a}: {w['a']}")
    console.print(t)
    if "baseline" in out:
        bt = Table(title=f"seed noise: {out['baseline']['space']} (a reseeded run of {a}) - {a}",
                   title_justify="left", header_style="bold")
        beyond = out["baseline"].get("beyond", {})
        for col in ("metric", "difference", "95% CI", "p", f"{b} - {a} vs this"):
            bt.add_column(col, justify="left" if col == "metric" else "right")
        for m, res in out["baseline"]["metrics"].items():
            p = res.get("p_value")
            verdict = {True: "[green]beyond[/green]", False: "[yellow]within[/yellow]"}.get(beyond.get(m), "-")
            bt.add_row(_short(m), _f(res["difference"], 4, True), _ci(res["ci95"], 4, True),
                       fmt_p(p), verdict)
        console.print(bt)
    per = out["per_class"]["mean_average_precision_at_r"]
    if per:
        worst, best = per[0], per[-1]
        console.print(f"per class, MAP@R of {b} - {a}: from {worst['label']} ({worst['difference']:+.3f}) to "
                      f"{best['label']} ({best['difference']:+.3f})")
    console.print(f"[bold]verdict:[/bold] {out['verdict']}")
    s = out.get("settings", {})
    console.print(f"[dim]intervals: {s.get('interval')}; p-values: {s.get('test')}[/dim]")


def print_answer(ans: dict | None) -> None:
    """The answer first: one line per sentence (never hard-wrapped), then a blank line."""
    if not ans:
        return
    if ans.get("sampled"):
        console.print(f"[bold]{escape(ans['sampled'])}[/bold]", soft_wrap=True, highlight=False)
    for s in ans["sentences"]:
        console.print(s["text"], soft_wrap=True, highlight=False, markup=False)
    console.print()


def print_budget(plan: dict | None) -> None:
    """A sampled result's first line: what it rests on, what the full one costs, how to get it."""
    if plan and plan.get("headline"):
        console.print(f"[bold]{escape(plan['headline'])}[/bold]", soft_wrap=True, highlight=False)


def baseline_choice(reg, a: str, b: str, baseline: str | None) -> tuple[str | None, str | None]:
    """``--baseline``: a space name, ``none`` (no baseline) or absent (a reseeded run of A,
    proposed automatically). Returns ``(baseline, how it was chosen)``."""
    if baseline is not None and baseline.lower() == "none":
        return None, None
    if baseline is not None:
        return baseline, "given"
    from spacelens.answer import propose_baseline

    found = propose_baseline(reg, a, exclude=(b,))
    return found, ("proposed" if found else None)
