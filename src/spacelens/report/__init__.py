"""A shareable report on two spaces: one self-contained HTML page and the same content as JSON.

:func:`write_report` gathers every figure through :mod:`spacelens.api` (:mod:`.content`),
draws the plots (:mod:`.figures`, matplotlib, imported only here) and renders the page
(:mod:`.html`): no script, no external resource, nothing fetched when it is opened.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from spacelens.errors import SpacelensError
from spacelens.jsonable import dumps
from spacelens.registry import Registry


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)   # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(a: str, b: str, output, *, baseline: str | bool | None = None, label_field: str | None = None,
                 k="5,10,20", json_output=None, metric_a: str = "cosine", metric_b: str = "cosine", seed: int = 0,
                 full: bool = False, budget: float | None = None, home=None) -> dict:
    """Write the HTML report on ``a`` vs ``b`` to ``output`` (and the content as JSON to
    ``json_output``, default the same name with .json). Returns the content, with ``"html"``
    and ``"json"`` paths added."""
    from spacelens.report.content import build
    from spacelens.report.figures import all_figures
    from spacelens.report.html import render

    home = home if isinstance(home, Registry) else Registry(home)
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise SpacelensError(f"The report is HTML; {output.name!r} does not end in .html",
                             "Pass e.g. -o report.html")
    json_path = Path(json_output) if json_output else output.with_suffix(".json")
    content = build(a, b, baseline=baseline, label_field=label_field, k=k, metric_a=metric_a, metric_b=metric_b,
                    seed=seed, full=full, budget=budget, home=home)
    page = render(content, all_figures(content, reg=home))
    _atomic_write(output, page)
    _atomic_write(json_path, dumps(content, indent=1))
    return {**content, "html": str(output), "json": str(json_path)}


def report(a: str, b: str, output="report.html", *, baseline: str | bool | None = None, label_field: str | None = None,
           k="5,10,20", json_output=None, metric_a: str = "cosine", metric_b: str = "cosine", seed: int = 0,
           full: bool = False, budget: float | None = None, home=None) -> dict:
    """Write one self-contained HTML report on ``a`` vs ``b`` (plots inline, no network) and its
    content as JSON: agreement per k (Jaccard, overlap@k, CKNNA, CKA), against ``baseline``
    (a reseeded run of ``a``) whether it is more than noise, and with ``label_field`` where
    they differ (per label, items that changed most), how class mixing changed and which
    retrieves better. It opens with the answer (:func:`spacelens.answer`: which retrieves better,
    how alike, where they differ most), both spaces' PCA maps and, for spaces logged over epochs,
    the training curves. ``baseline`` None: a reseeded run of ``a`` found automatically; False
    (or "none"): none. ``full`` / ``budget``: as every verb (:mod:`spacelens.budget`): above
    100,000 items a report whose full figures would take longer than the budget rests on samples
    and says so first. Returns the content with the ``html`` and ``json`` paths."""
    if isinstance(baseline, str) and baseline.lower() == "none":
        baseline = False
    return write_report(a, b, output, baseline=baseline, label_field=label_field, k=k, json_output=json_output,
                        metric_a=metric_a, metric_b=metric_b, seed=seed, full=full, budget=budget,
                        home=home if isinstance(home, Registry) else Registry(home))


__all__ = ["report", "write_report"]
