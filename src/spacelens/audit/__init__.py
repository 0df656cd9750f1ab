"""Can this evaluation be trusted? Leaks, duplicates, label errors, outliers and mixed classes,
found from a space's kNN graph, with what they do to every figure.

>>> res = spacelens.audit("run1.val", label_field="label", split_field="split")   # doctest: +SKIP
>>> res.answer                                                                   # doctest: +SKIP
'2.0% of queries (...) have a near-duplicate in the reference split; 41 likely label errors; ...'

One module per finding (:mod:`.duplicates`, :mod:`.label_errors`, :mod:`.outliers`,
:mod:`.mixed_classes`), their effect on the metrics (:mod:`.effect`), the result
(:mod:`.result`), the run (:mod:`.core`) and planted test data (:mod:`.planted`).
"""

from spacelens.audit.core import audit_space, compare_flags
from spacelens.audit.planted import Planted, planted_problems
from spacelens.audit.result import AuditResult

__all__ = ["AuditResult", "Planted", "audit_space", "compare_flags", "planted_problems"]
