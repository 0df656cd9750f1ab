"""Generated data with planted problems, the known truth an audit is measured against.

Classes are Gaussian blobs around random directions (read with the cosine distance). Planted:

- **leaks**: items of the reference split copied into the query split with a little noise
  (the copy, in the query split, is the leaked item);
- **duplicates**: items copied within their own split (exactly, or with a little noise);
- **label flips**: items given another class's label (they stay where their class is);
- **outliers**: items in random directions, far from every class, with a random label;
- **mixed classes**: two classes whose centres nearly coincide (their items interleave).

Used by the tests and by ``bench/audit.py``; handy to check an audit on data like one's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Planted:
    """Vectors and their table (``id``, ``label``, ``split``), and the truth: dataset rows per kind."""

    vectors: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    leaks: np.ndarray             # rows (in the query split) copied from the reference split
    duplicates: np.ndarray        # rows copied from an earlier row of the same split
    label_errors: np.ndarray      # rows whose label was flipped
    outliers: np.ndarray          # rows far from every class
    mixed_pairs: list = field(default_factory=list)   # [(label a, label b)] of blended classes
    sources: dict = field(default_factory=dict)       # copied row -> its source row

    def table(self):
        import pandas as pd

        return pd.DataFrame({"id": self.ids, "label": self.labels, "split": self.splits})


def planted_problems(n: int = 5000, *, dim: int = 32, n_classes: int | None = None, spread: float = 0.12,
                     leak_share: float = 0.005, duplicate_share: float = 0.005, flip_share: float = 0.02,
                     outlier_share: float = 0.005, mixed_pairs: int = 1, query_share: float = 0.2,
                     label_prefix: str = "c", seed: int = 0) -> Planted:
    """About ``n`` items (``n`` base items, plus the copies) with the planted problems above.

    ``spread``: per-dimension noise around a unit-norm class centre (0.12 in 32 dims: kNN
    label agreement about 0.91 with the planted problems). Shares are of ``n``.
    """
    rng = np.random.default_rng(seed)
    n_classes = n_classes or max(5, n // 500)
    centres = rng.normal(size=(n_classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    pairs = []
    for p in range(mixed_pairs):                       # class 2p+1 sits almost on class 2p
        a, b = 2 * p, 2 * p + 1
        nudge = rng.normal(size=dim)
        nudge -= nudge @ centres[a] * centres[a]
        nudge /= np.linalg.norm(nudge)
        centres[b] = centres[a] + 0.5 * spread * nudge
        centres[b] /= np.linalg.norm(centres[b])
        pairs.append((a, b))
    cls = rng.integers(0, n_classes, size=n)
    x = centres[cls] + spread * rng.normal(size=(n, dim))
    split = np.where(rng.random(n) < query_share, "query", "reference").astype(object)
    label = cls.copy()

    # outliers: random directions, random labels
    n_out = int(round(outlier_share * n))
    out_rows = rng.choice(n, n_out, replace=False)
    x[out_rows] = rng.normal(size=(n_out, dim)) * (1.0 / np.sqrt(dim)) * 1.0
    x[out_rows] /= np.linalg.norm(x[out_rows], axis=1, keepdims=True)
    # label flips (not among the outliers), to a class other than the own one
    free = np.setdiff1d(np.arange(n), out_rows)
    n_flip = int(round(flip_share * n))
    flip_rows = rng.choice(free, n_flip, replace=False)
    label[flip_rows] = (cls[flip_rows] + rng.integers(1, n_classes, size=n_flip)) % n_classes

    # copies: leaks (reference -> query split) and duplicates (same split), from clean items
    clean = np.setdiff1d(free, flip_rows)
    ref_clean = clean[split[clean] == "reference"]
    n_leak = int(round(leak_share * n))
    n_dup = int(round(duplicate_share * n))
    leak_src = rng.choice(ref_clean, n_leak, replace=False)
    dup_src = rng.choice(np.setdiff1d(clean, leak_src), n_dup, replace=False)
    tiny = 0.15 * spread
    copies = []
    for src, tgt_split in ((leak_src, None), (dup_src, "same")):
        v = x[src] + tiny * rng.normal(size=(len(src), dim))
        exact = rng.random(len(src)) < 0.3
        v[exact] = x[src[exact]]
        sp = np.full(len(src), "query", dtype=object) if tgt_split is None else split[src]
        copies.append((src, v, sp))
    xs = [x] + [c[1] for c in copies]
    vectors = np.concatenate(xs).astype(np.float32)
    labels_all = np.concatenate([label, label[leak_src], label[dup_src]])
    split_all = np.concatenate([split, copies[0][2], copies[1][2]]).astype(str)
    leak_rows = n + np.arange(n_leak)
    dup_rows = n + n_leak + np.arange(n_dup)
    # shuffle so copies are not simply the last rows (sources keep lower or higher rows at random)
    perm = rng.permutation(len(vectors))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    names = np.array([f"{label_prefix}{c:03d}" for c in range(n_classes)], dtype=object)
    sources = {int(inv[r]): int(inv[s]) for r, s in zip(np.concatenate([leak_rows, dup_rows]),
                                                           np.concatenate([leak_src, dup_src]))}
    # a duplicate is the later row of its pair: the flagged one when both sit in one split
    dup_flag = np.array([max(int(inv[r]), int(inv[s])) for r, s in zip(dup_rows, dup_src)], dtype=np.int64)
    return Planted(vectors=vectors[perm], ids=np.array([f"item-{i}" for i in range(len(perm))], dtype=object),
                   labels=names[labels_all[perm]], splits=split_all[perm],
                   leaks=np.sort(inv[leak_rows]), duplicates=np.sort(dup_flag),
                   label_errors=np.sort(inv[flip_rows]), outliers=np.sort(inv[out_rows]),
                   mixed_pairs=[(names[a], names[b]) for a, b in pairs], sources=sources)
