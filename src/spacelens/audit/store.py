"""An audit kept in the registry, so that the page, the report and the leaderboard read it back.

Stored as artifact ``"audit"`` on the audited space (and, for a two-space audit, with the second
space as ``other``), keyed by every argument that changes what it finds. ``info`` holds the
summary (the answer, per kind counts and rules, the effect on the metrics, the two-space
comparison); the flagged items, which can be many, are one array: their JSON as UTF-8 bytes
(``uint8``: no pickle, labels keep their type). Like every artifact it is found only while its
spaces hold the content it was computed from.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from spacelens.audit.result import AuditResult
from spacelens.jsonable import jsonable

ARTIFACT = "audit"
PARAMS = ("label_field", "split_field", "query_split", "reference_split", "k", "metric", "engine", "threshold",
          "outliers_by_class", "effect", "sample", "seed")
COLUMNS = ("kind", "id", "score", "reason", "evidence", "partner_id", "label", "suggested_label", "row",
           "partner_row")


def audit_params(**kw) -> dict:
    """The key of a stored audit: the arguments that change what it finds (strings for splits)."""
    out = {p: kw.get(p) for p in PARAMS}
    for p in ("query_split", "reference_split"):
        if out[p] is not None:
            out[p] = str(out[p])
    return jsonable(out)


def default_params(label_field: str | None = None, split_field: str | None = None, k: int = 10,
                   seed: int = 0) -> dict:
    """The key :func:`spacelens.api.audit` stores under when only these are given (every other
    argument at its default): how the page and the report find an audit run by the verb."""
    return audit_params(label_field=label_field, split_field=split_field, k=k, metric="cosine", engine="auto",
                        outliers_by_class=False, effect=True, seed=seed)


def store_audit(reg, res: AuditResult, params: dict, other=None):
    """Keep ``res`` (the audit of ``res.space``; with ``other``, the two-space audit against it)."""
    d = res.to_dict()
    items = d.pop("items")
    blob = np.frombuffer(json.dumps(items, separators=(",", ":")).encode("utf-8"), dtype=np.uint8)
    d["n_flagged"] = len(items)
    return reg.put_artifact(ARTIFACT, res.space, params, {"items": blob.copy()}, info=d, other=other,
                            name=d.get("label_field"))


def _result(reg, art) -> AuditResult:
    items = json.loads(bytes(reg.load_artifact(art, "items", mmap=False)).decode("utf-8"))
    frame = pd.DataFrame(items, columns=list(COLUMNS))
    frame["partner_row"] = pd.array(frame["partner_row"], dtype="Int64")
    data = {k: v for k, v in art.info.items() if k != "n_flagged"}
    return AuditResult(data, frame)


def stored_audit(reg, space: str, params: dict, other: str | None = None) -> AuditResult | None:
    """The stored audit of ``space`` with exactly these ``params`` (and ``other``), or None."""
    art = reg.get_artifact(ARTIFACT, space, params, other=other)
    return None if art is None else _result(reg, art)


def stored_audits(reg, space: str, *, label_field: str | None = None) -> list[AuditResult]:
    """Every stored one-space audit of ``space`` (optionally with that label column), latest first."""
    arts = [a for a in reg.find_artifacts(kind=ARTIFACT, space=space)
            if a.space == space and a.other_space is None
            and (label_field is None or a.info.get("label_field") == label_field)]
    return [_result(reg, a) for a in sorted(arts, key=lambda a: (a.created_at, a.id), reverse=True)]


__all__ = ["ARTIFACT", "audit_params", "default_params", "store_audit", "stored_audit", "stored_audits"]
