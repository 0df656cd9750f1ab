"""One kind of finding: flagged rows with a score, a reason in words and their evidence.

Every detector returns a :class:`Findings`; the result (:mod:`.result`) lists them, the
effect (:mod:`.effect`) leaves their queries out, two spaces' findings are matched by row
(:mod:`.versus`). Kinds, in the order every surface shows them, with words for sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("leak", "duplicate", "label_error", "outlier", "mixed_classes")
WORDS = {"leak": ("near-duplicate across splits", "near-duplicates across splits"),
         "duplicate": ("duplicate", "duplicates"),
         "label_error": ("likely label error", "likely label errors"),
         "outlier": ("outlier", "outliers"),
         "mixed_classes": ("mixed class pair", "mixed class pairs")}


def words(kind: str, n: int) -> str:
    """``"41 likely label errors"``, ``"1 outlier"``."""
    one, many = WORDS[kind]
    return f"no {many}" if n == 0 else f"{n:,} {one if n == 1 else many}"


@dataclass
class Findings:
    """Rows flagged as ``kind`` (space rows), most certain first.

    ``score``: how sure, larger is surer (each detector says its scale); ``reason``: one
    sentence per row; ``partner``: the row of the evidence item (the duplicate's partner),
    -1 when none; ``evidence``: a short text (the neighbours' labels); ``rule``: how the
    threshold was chosen, in words; ``threshold``: its value(s).
    """

    kind: str
    rows: np.ndarray
    score: np.ndarray
    reason: list
    evidence: list
    partner: np.ndarray | None = None
    rule: str = ""
    threshold: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        order = np.lexsort((self.rows, -np.asarray(self.score, dtype=np.float64)))
        self.rows = np.asarray(self.rows, dtype=np.int64)[order]
        self.score = np.asarray(self.score, dtype=np.float64)[order]
        self.reason = [self.reason[i] for i in order]
        self.evidence = [self.evidence[i] for i in order]
        self.partner = (np.full(len(order), -1, np.int64) if self.partner is None
                        else np.asarray(self.partner, dtype=np.int64)[order])

    def __len__(self) -> int:
        return len(self.rows)
