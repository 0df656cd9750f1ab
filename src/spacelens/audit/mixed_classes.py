"""Mixed classes: pairs of classes whose items are each other's neighbours far more than chance.

From the kNN graph: E_ab = the neighbour slots of class a's items held by class b. The pair's
exchanged share is (E_ab + E_ba) / (k (n_a + n_b)): the fraction of both classes' neighbours
that come from the other one. By chance (neighbours drawn at random) it would be
2 n_a n_b / ((n - 1)(n_a + n_b)). A pair is mixed when its share is at least ``MIN_SHARE``
(one neighbour in ten) and at least ``MIN_LIFT`` times chance, over at least ``MIN_EDGES``
exchanged neighbours. Only pairs that exchange anything are counted (sparse: classes can be
many).
"""

from __future__ import annotations

import numpy as np

MIN_SHARE = 0.1
MIN_LIFT = 2.0
MIN_EDGES = 10


def find_mixed_classes(indices: np.ndarray, codes: np.ndarray, classes) -> list[dict]:
    """The mixed pairs, largest exchanged share first: ``{"a", "b", "share", "a_to_b", "b_to_a",
    "lift", "n_a", "n_b", "exchanged", "reason"}`` (a_to_b: the share of a's neighbours in b)."""
    n, k = indices.shape
    c = len(classes)
    size = np.bincount(codes, minlength=c).astype(np.int64)
    keys = []
    for s in range(0, n, 1 << 16):
        nb = codes[np.asarray(indices[s:s + (1 << 16)])]
        own = np.broadcast_to(codes[s:s + (1 << 16), None], nb.shape)
        off = nb != own
        keys.append(own[off].astype(np.int64) * c + nb[off])
    keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    uniq, cnt = np.unique(keys, return_counts=True)
    a, b = uniq // c, uniq % c
    e = dict(zip(zip(a.tolist(), b.tolist()), cnt.tolist()))
    out = []
    seen = set()
    for (x, y) in e:
        lo, hi = min(x, y), max(x, y)
        if (lo, hi) in seen:
            continue
        seen.add((lo, hi))
        ab, ba = e.get((lo, hi), 0), e.get((hi, lo), 0)
        na, nb_ = int(size[lo]), int(size[hi])
        share = (ab + ba) / (k * (na + nb_))
        chance = 2 * na * nb_ / ((n - 1) * (na + nb_)) if n > 1 else 0.0
        lift = share / chance if chance > 0 else float("inf")
        if share >= MIN_SHARE and lift >= MIN_LIFT and ab + ba >= MIN_EDGES:
            la, lb = classes[lo], classes[hi]
            out.append({"a": la, "b": lb, "codes": (lo, hi), "share": share, "a_to_b": ab / (k * na),
                        "b_to_a": ba / (k * nb_), "lift": lift, "chance": chance, "n_a": na, "n_b": nb_,
                        "exchanged": int(ab + ba),
                        "reason": (f"{share:.1%} of the neighbours of classes {la!r} and {lb!r} come from the other "
                                   f"one ({ab / (k * na):.1%} of {la!r}'s, {ba / (k * nb_):.1%} of {lb!r}'s), "
                                   f"{lift:.0f}x chance")})
    out.sort(key=lambda r: -r["share"])
    return out


RULE = (f"exchanged neighbour share >= {MIN_SHARE:g} and >= {MIN_LIFT:g}x chance "
        f"(2 n_a n_b / ((n-1)(n_a+n_b))), over >= {MIN_EDGES} neighbours")
