"""The audit's result: the answer sentence first, then the findings, their effect, two spaces.

:class:`AuditResult` shows itself in a notebook (``_repr_html_``: the sentence, a table per
kind, the effect on MAP@R), and gives ``to_frame()`` (one row per flagged item) and
``to_dict()`` (JSON-ready). The page panel and the report section read ``to_dict()``.
"""

from __future__ import annotations

import html

from spacelens.audit.findings import KINDS, words
from spacelens.catalogue import short
from spacelens.formatting import fmt_ci

EFFECT_WORDS = {"leak": "that have a near-duplicate in the reference split",
                "duplicate": "that have a duplicate in the space",
                "label_error": "that are likely label errors",
                "clean": "that leak or are likely label errors",
                "any": "flagged for any reason"}
HEAD_METRIC = "mean_average_precision_at_r"


def effect_sentence(name: str, entry: dict, metric: str = HEAD_METRIC) -> str | None:
    """"MAP@R 0.952 -> 0.931 when the 2.1% of queries that ... are left out (difference
    -0.021, 95% CI [-0.025, -0.017])"; None when nothing was left out."""
    m = entry["metrics"].get(metric) or {}
    if not entry["n_flagged"] or m.get("difference") is None:
        return None
    return (f"{short(metric)} {m['all']:.3f} -> {m['kept']:.3f} when the {entry['share']:.1%} of queries "
            f"{EFFECT_WORDS.get(name, name)} are left out (difference {m['difference']:+.3f}, 95% CI "
            f"{fmt_ci(m['ci95'], sign=True)})")


def answer_sentence(d: dict) -> str:
    """The one sentence: what was found, largest first where it matters, and its effect."""
    parts = []
    kinds = d["kinds"]
    if "leak" in kinds and d.get("splits"):
        sp = d["splits"]
        share = kinds["leak"]["n"] / max(sp["n_query"], 1)
        n_leak, where = kinds["leak"]["n"], f"split {sp['query']!r}"
        parts.append(f"no query (of {sp['n_query']:,}, {where}) has a near-duplicate in the reference split"
                     if not n_leak else f"{share:.1%} of queries ({n_leak:,} of {sp['n_query']:,}, {where}) have a "
                     "near-duplicate in the reference split")
    for kind in ("duplicate", "label_error", "outlier"):
        if kind in kinds:
            parts.append(words(kind, kinds[kind]["n"]))
    if d.get("mixed_classes") is not None:
        pairs = d["mixed_classes"]
        txt = words("mixed_classes", len(pairs))
        if pairs:
            txt += " (" + ", ".join(f"{p['a']!s} <-> {p['b']!s} exchange {p['share']:.0%}" for p in pairs[:3]) + ")"
        parts.append(txt)
    s = "; ".join(parts) if parts else "nothing flagged"
    eff = (d.get("effect") or {}).get("sets", {})
    for name in ("leak", "label_error", "duplicate"):
        if name in eff:
            e = effect_sentence(name, eff[name])
            if e:
                s += f". {e}"
                break
    return s[0].upper() + s[1:] + "."


class AuditResult:
    """What an audit found in one space (and, with ``other``, which flags a second space shares).

    ``answer``: the one sentence; ``to_frame()``: one row per flagged item (id, kind, score,
    reason, evidence, partner, label, suggested label); ``to_dict()``: everything, JSON-ready.
    """

    def __init__(self, data: dict, frame):
        self._data = data
        self._frame = frame

    @property
    def answer(self) -> str:
        return self._data["answer"]

    def __getitem__(self, key):
        return self._data[key]

    def to_dict(self) -> dict:
        from spacelens.jsonable import jsonable

        return jsonable({**self._data, "items": self._frame.to_dict(orient="records")})

    def to_frame(self, kind: str | None = None):
        """One row per flagged item, most certain first within each kind (``kind`` filters)."""
        f = self._frame
        return (f if kind is None else f[f["kind"] == kind]).reset_index(drop=True)

    def __repr__(self) -> str:
        return f"AuditResult({self.space!r}): {self.answer}"

    @property
    def space(self) -> str:
        return self._data["space"]

    def _repr_html_(self) -> str:
        e = html.escape
        d = self._data
        rows = "".join(f"<tr><td>{e(words(k, v['n']))}</td><td style='text-align:right'>{v['share']:.2%}</td>"
                       f"<td>{e(v['rule'])}</td></tr>" for k, v in d["kinds"].items())
        if d.get("mixed_classes") is not None:
            rows += (f"<tr><td>{e(words('mixed_classes', len(d['mixed_classes'])))}</td><td></td>"
                     f"<td>{e(d['mixed_rule'])}</td></tr>")
        table = (f"<table class='spacelens-table'><tr><th>found</th><th>share</th><th>rule</th></tr>{rows}</table>")
        top = self._frame.head(8)
        items = "".join(f"<tr><td>{e(str(r.kind))}</td><td>{e(str(r.id))}</td><td>{r.score:.2f}</td>"
                        f"<td>{e(str(r.reason))}</td></tr>" for r in top.itertuples())
        items = (f"<table class='spacelens-table'><tr><th>kind</th><th>id</th><th>score</th><th>reason</th></tr>"
                 f"{items}</table>") if len(top) else ""
        vs = f"<p>{e(d['versus']['sentence'])}</p>" if d.get("versus") else ""
        return (f"<div class='spacelens-result' data-kind='audit'><p><b>{e(d['answer'])}</b></p>{table}{vs}"
                f"{items}<div style='color:#555;font-size:90%'>All items: .to_frame(); everything: .to_dict()"
                f"</div></div>")


__all__ = ["AuditResult", "KINDS", "answer_sentence", "effect_sentence"]
