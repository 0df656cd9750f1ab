"""Colouring points by a metadata column or by per-item agreement, as one byte a point.

Every colouring is a ``uint8`` code per dataset row plus a palette (hex colours, code i
drawn with palette[i]) and a legend. Categorical columns keep their most frequent values
(the rest become "other"); numeric columns and agreement are quantised to 255 levels of a
colour map, code 255 meaning "missing". One byte a point keeps a million-point colouring
at 1 MB on the wire, shared by both maps since they show the same dataset.

Gradients use viridis (perceptually uniform, readable in grey and by colour-blind eyes) cut
before its pale yellow end, so that no value is drawn in a colour close to the white map
background. The page stretches the colour map over the values it draws (see
web/src/colorscale.ts); the codes here always span the column's min..max (Jaccard: 0..1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spacelens.labels import CLASS_NAMES, MAX_INTEGER_CATEGORIES, looks_like_classes, numbers_are_classes  # noqa: F401  (one rule)

MAX_CATEGORIES = 30
GRADIENT_CMAP = "viridis"
GRADIENT_END = 0.82  # viridis beyond this is yellow on white: too faint to see a point
MISSING = 255
MISSING_COLOR = "#c8c8c8"
OTHER_COLOR = "#8c8c8c"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg", ".avif")
# Tableau 10 + 20 distinguishable extras (fixed so colours stay put between sessions)
CATEGORY_COLORS = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#bab0ac", "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#bcbd22", "#dbdb8d",
    "#17becf", "#9edae5", "#393b79",
]


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgba[:3])


def ramp(cmap: str, n: int = 255, start: float = 0.0, end: float = 1.0) -> list[str]:
    """``n`` hex colours sampled evenly from ``start`` to ``end`` of a matplotlib colour map."""
    from matplotlib import colormaps

    cm = colormaps[cmap]
    return [_hex(cm(start + (end - start) * i / (n - 1))) for i in range(n)]


def looks_like_image(values: pd.Series) -> bool:
    """True when the (string) values are image file paths or URLs."""
    sample = values.dropna().astype(str).head(50)
    if sample.empty:
        return False

    def is_image(v: str) -> bool:
        v = v.strip().lower()
        return v.startswith("data:image/") or v.split("?", 1)[0].endswith(IMAGE_SUFFIXES)

    return bool(sample.map(is_image).all())


def column_kind(s: pd.Series, is_label: bool = False) -> str:
    """'categorical', 'numeric', 'image' or 'text' (text can be searched, not coloured by).

    Integers are categories when few (at most 12 values), when the column's name says they are
    classes, or when they are labels (``is_label``: evaluated with), however many; otherwise
    they are a quantity, coloured as a gradient. Strings are categories unless most values are
    unique (captions, paths): 1,000 classes over a million items are categories, and so are
    classes of three items each.
    """
    if pd.api.types.is_bool_dtype(s):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s):
        return "categorical" if numbers_are_classes(s, s.name, evaluated=is_label) else "numeric"
    if looks_like_image(s):
        return "image"
    head = s.iloc[:20_000].dropna()
    if len(head) > 1_000 and head.nunique() > len(head) // 2 and not is_label:   # mostly unique: free text
        return "text"
    vals = s.dropna()
    n_unique = vals.nunique()
    # classes repeat: at least two items a value on average (Stanford Online Products has ~5)
    if is_label or n_unique <= max(50, min(256, len(s) // 20)) or n_unique <= len(vals) // 2:
        return "categorical"
    return "text"


def describe_columns(table: pd.DataFrame, id_field: str, label_fields=()) -> list[dict]:
    """The table's columns with their kind (what the page can colour by) and whether each can
    be labels (:mod:`spacelens.labels`): ``label``, ``label_reason`` (why not), ``evaluated``
    (stored evaluations used it: a label column everywhere)."""
    from spacelens import labels

    out = []
    for c in table.columns:
        name, is_id = str(c), str(c) == id_field
        evaluated = name in label_fields
        why = labels.refusal(table[c], name, id_field=id_field)
        kind = "text" if is_id and not looks_like_image(table[c]) else column_kind(table[c], evaluated and why is None)
        if why is None and kind in ("image", "text") and not evaluated:
            why = f"{name!r} holds {'images' if kind == 'image' else 'free text (most values unique)'}, not classes"
        out.append({"name": name, "dtype": str(table[c].dtype), "kind": kind, "is_id": is_id,
                    "label": why is None, "label_reason": why, "evaluated": evaluated,
                    "class_name": looks_like_classes(name)})
    return out


def categorical_codes(s: pd.Series) -> tuple[np.ndarray, dict]:
    counts = s.value_counts(dropna=True)
    top = counts.index[:MAX_CATEGORIES]
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        top = sorted(top)
    codes = np.full(len(s), MISSING, dtype=np.uint8)
    pos = pd.Index(top).get_indexer(s)
    has = s.notna().to_numpy()
    codes[has] = len(top)  # "other" until proven a top value
    codes[pos >= 0] = pos[pos >= 0]
    palette = CATEGORY_COLORS[:len(top)] + [OTHER_COLOR]
    palette += [MISSING_COLOR] * (256 - len(palette))
    entries = [{"code": i, "label": _label(v), "color": palette[i], "count": int(counts[v])}
               for i, v in enumerate(top)]
    n_other = int(has.sum() - sum(e["count"] for e in entries))
    meta = {"kind": "categorical", "palette": palette, "legend": entries, "n_classes": int(len(counts))}
    if n_other:
        rest = len(counts) - len(top)
        entries.append({"code": len(top), "label": f"{rest:,} smaller {'class' if rest == 1 else 'classes'}",
                        "color": OTHER_COLOR, "count": n_other, "other": True})
        meta["note"] = (f"the {len(top)} largest of {len(counts):,} classes in colour, the other {rest:,} grey")
    if (~has).any():
        entries.append({"code": MISSING, "label": "missing", "color": MISSING_COLOR, "count": int((~has).sum())})
    return codes, meta


def _label(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def quantise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Codes 0..254 for values in [lo, hi]; 255 for NaN."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    codes = np.full(v.shape, MISSING, dtype=np.uint8)
    scaled = (v[ok] - lo) / (hi - lo) if hi > lo else np.full(int(ok.sum()), 0.5)
    codes[ok] = np.clip(np.rint(scaled * 254), 0, 254).astype(np.uint8)
    return codes


def numeric_codes(values, cmap: str = GRADIENT_CMAP, lo: float | None = None, hi: float | None = None,
                  kind: str = "numeric") -> tuple[np.ndarray, dict]:
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if lo is None:
        lo = float(finite.min()) if finite.size else 0.0
    if hi is None:
        hi = float(finite.max()) if finite.size else 1.0
    palette = ramp(cmap, end=GRADIENT_END if cmap == GRADIENT_CMAP else 1.0) + [MISSING_COLOR]
    n_missing = int(v.size - finite.size)
    return quantise(v, lo, hi), {"kind": kind, "palette": palette, "min": lo, "max": hi,
                                 "stops": [palette[int(i)] for i in np.linspace(0, 254, 5)],
                                 "missing": n_missing}


def column_codes(s: pd.Series, kind: str) -> tuple[np.ndarray, dict]:
    """Codes and palette for colouring by a column of kind ``categorical`` or ``numeric``."""
    if kind == "numeric":
        return numeric_codes(pd.to_numeric(s, errors="coerce").to_numpy(np.float64))
    return categorical_codes(s)


def coincidence_codes(n_rows: int, rows: np.ndarray, jaccard: np.ndarray) -> tuple[np.ndarray, dict]:
    """Per-item Jaccard on the gradient: dark violet (0, neighbourhoods disjoint) to green (1, identical).

    Codes span 0..1; the page stretches the colours over the values it draws, which for most
    pairs of spaces lie in a narrow band (a mean of 0.05 is common on large datasets).
    """
    v = np.full(n_rows, np.nan)
    v[rows] = jaccard
    return numeric_codes(v, lo=0.0, hi=1.0, kind="coincidence")


MAX_LEVEL_BINS = 255  # one byte a row: codes 0..254, 255 = not compared
LEVEL_TOLERANCE = 1e-4  # float32 Jaccard is within ~1e-7 of s / (2k - s)


def histogram(n_rows: int, rows: np.ndarray, jaccard: np.ndarray, k: int | None = None,
              include_self: bool = False, bins: int = 20) -> tuple[np.ndarray, dict]:
    """The agreement histogram: each dataset row's bin (255 = not compared) and the counts.

    At k, an item's Jaccard can only take the values s / (2k - s), s = 0..k shared neighbours
    (s >= 1 with ``include_self``): one bin per value (``kind: "shared"``; ``values`` and
    ``shared`` name each bin, ``edges`` are the midpoints between neighbouring values, so a bin
    holds exactly the items with that value). Values off those levels (neighbour lists shorter
    than k from an approximate engine), or k too large for one byte a bin, fall back to
    ``bins`` equal-width bins over [0, 1] (``kind: "bins"``).
    """
    j = np.asarray(jaccard, dtype=np.float64)
    per_row = np.full(n_rows, MISSING, dtype=np.uint8)
    lo = 1 if include_self else 0
    if k is not None and k >= 1 and k + 1 - lo <= MAX_LEVEL_BINS:
        s = np.rint(2 * k * j / (1 + j)).astype(np.int64)  # J = s / (2k - s)  <=>  s = 2kJ / (1 + J)
        ok = (s >= lo) & (s <= k)
        if ok.all() and (not j.size or np.abs(j - s / (2 * k - s)).max() <= LEVEL_TOLERANCE):
            shared = list(range(lo, k + 1))
            values = [x / (2 * k - x) for x in shared]
            mids = [(values[i] + values[i + 1]) / 2 for i in range(len(values) - 1)]
            b = s - lo
            per_row[rows] = b
            return per_row, {"kind": "shared", "k": int(k), "shared": shared, "values": values,
                             "edges": [0.0, *mids, 1.0], "counts": np.bincount(b, minlength=len(shared)).tolist()}
    b = np.minimum((j * bins).astype(np.int64), bins - 1).clip(0)
    per_row[rows] = b
    edges = np.linspace(0, 1, bins + 1).round(6)
    return per_row, {"kind": "bins", "edges": edges.tolist(), "values": ((edges[:-1] + edges[1:]) / 2).tolist(),
                     "counts": np.bincount(b, minlength=bins).tolist()}
