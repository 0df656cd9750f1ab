"""Find items by text: every dataset row whose id or metadata holds the query, ranked.

One function, :func:`find_items`, answers both the search box's suggestions (its first few rows)
and the page's "all matches" view (every row, to highlight and filter in the maps), so the two
never disagree about what matches. Ranked groups, each in row order:

1. the item whose id is the query exactly (case-sensitive),
2. ids that start with it, 3. ids that hold it (both case-insensitive),
4. then each metadata column in table order: text (and categories, dates, mixed values read as
   text) holding it case-insensitively as a literal substring (``.*(`` is three characters, not
   a pattern); numbers equal to it when it reads as a number (``3`` finds label 3, not 13);
   booleans equal to it when it is ``true`` or ``false``.

A row is listed once, in its best group. ``column:value`` searches one column (or ``id:value``
the ids); quotes let the value or the column hold spaces or colons: ``caption:"kind z"``,
``"my col":x``. A prefix that names no column is plain text (``http://...`` searches as typed).

String columns are scanned with Arrow's kernels (a million rows of text in well under a second);
a column that must first be read as text (mixed Python objects) is converted once and kept in
``cache`` (the server passes its per-table cache entry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# codes in Matches.where below 0: how the id matched (>= 0: index into Matches.columns)
EXACT_ID, ID_PREFIX, ID_SUBSTRING = -3, -2, -1
EXCERPT_CHARS = 80

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_COLUMN_QUERY = re.compile(r'^(?:"([^"]+)"|([^\s:"\']+))\s*:\s*(.*)$', re.S)
SYNTAX = ('Search ids and every column; column:value searches one column (label:3, caption:"two words", '
          'id:abc); numbers match equal values, text matches anywhere, any case')


@dataclass
class Query:
    """What is searched for: ``needle`` in ``column`` (None: the ids and every column)."""

    text: str
    needle: str
    column: str | None = None   # a table column, or the id field's name for the ids alone
    ids_only: bool = False


@dataclass
class Matches:
    """Every matching row, ranked; ``where[i]`` says how ``rows[i]`` matched (see the codes)."""

    query: Query
    rows: np.ndarray        # int64 dataset rows, best first
    where: np.ndarray       # int32: EXACT_ID / ID_PREFIX / ID_SUBSTRING, or an index into columns
    columns: list[str]      # the metadata columns searched, in table order
    id_label: str           # the name the ids go by (the dataset's id field)
    complete: bool = True   # False: stopped once ``limit`` rows were found

    def __len__(self) -> int:
        return len(self.rows)

    def column_of(self, i: int) -> str | None:
        """The column row ``rows[i]`` matched in; None for an id match."""
        w = int(self.where[i])
        return None if w < 0 else self.columns[w]

    def by_column(self) -> dict[str, int]:
        """How many rows matched in each column (the ids under ``id_label``), largest first."""
        codes, counts = np.unique(np.maximum(self.where, ID_SUBSTRING), return_counts=True)
        out = {self.id_label if c < 0 else self.columns[c]: int(n) for c, n in zip(codes, counts)}
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def records(self, table: pd.DataFrame, ids: np.ndarray, limit: int) -> list[dict]:
        """The first ``limit`` matches as ``{row, id, column, text, mark}``: ``text`` an excerpt
        of the matched value (None for id matches), ``mark`` that text (or the id) cut as
        ``[before, matched part, after]`` for the page to highlight."""
        out = []
        for i in range(min(limit, len(self.rows))):
            r = int(self.rows[i])
            col = self.column_of(i)
            item = str(ids[r])
            if col is None:
                out.append({"row": r, "id": item, "column": None, "text": None, "mark": _cut(item, self.query.needle)})
                continue
            s = table[col]
            value = s.iloc[r]
            if _by_equality(s.dtype):       # the whole value matched
                mark = ["", _value_text(value), ""]
            else:
                mark = _cut(str(value), self.query.needle)
            out.append({"row": r, "id": item, "column": col, "text": "".join(mark), "mark": mark})
        return out


def parse_query(q: str, columns, id_field: str | None = None) -> Query:
    """``q`` as typed -> what to look for where (see the module's docstring for the syntax)."""
    text = q.strip()
    m = _COLUMN_QUERY.match(text)
    if m:
        name = m.group(1) or m.group(2)
        value = _unquote(m.group(3).strip())
        meta = [str(c) for c in columns if c != id_field]
        id_name = id_field or "id"
        folded = [c for c in meta if c.lower() == name.lower()]
        column = name if name in meta else (folded[0] if len(folded) == 1 else None)
        if value and column is not None:
            return Query(text, value, column)
        if value and name.lower() in (id_name.lower(), "id"):
            return Query(text, value, id_name, ids_only=True)
    return Query(text, text)


def find_items(table: pd.DataFrame, ids: np.ndarray, q: str | Query, *, id_field: str | None = None,
               keep: np.ndarray | None = None, limit: int | None = None, cache: dict | None = None) -> Matches:
    """Every row of ``table`` (ids ``ids``, one per row) matching ``q``, ranked (module docstring).

    ``keep``: a bool mask over rows; only those can match (the items the shown spaces hold).
    ``limit``: stop after the group that brings the count to ``limit`` (the suggestions need
    only the first few; the ranking is the same, ``complete`` is False when it stopped early).
    ``cache``: a dict kept with the table between calls (columns read as text, ids as Arrow).
    """
    query = q if isinstance(q, Query) else parse_query(q, table.columns, id_field)
    cache = {} if cache is None else cache
    n = len(ids)
    id_name = id_field or "id"
    columns = [str(c) for c in table.columns if c != id_field]
    if query.column is not None and not query.ids_only:
        search_cols = [query.column]
    else:
        search_cols = [] if query.ids_only else columns
    taken = np.zeros(n, dtype=bool)
    got_rows: list[np.ndarray] = []
    got_where: list[np.ndarray] = []
    count = 0

    def add(mask: np.ndarray, code: int) -> bool:
        nonlocal count
        m = mask & ~taken
        if keep is not None:
            m &= keep
        r = np.flatnonzero(m)
        if len(r):
            taken[r] = True
            got_rows.append(r)
            got_where.append(np.full(len(r), code, dtype=np.int32))
            count += len(r)
        return limit is not None and count >= limit

    needle = query.needle
    stopped = False
    if needle and (query.column is None or query.ids_only):
        # one scan of the ids: the exact id and the prefixes are among those holding the text
        arr = _ids_arrow(ids, cache)
        holding = _arrow_bool(_pc().match_substring(arr, needle, ignore_case=True))
        sub = np.flatnonzero(holding)
        if len(sub):
            part = arr.take(sub)
            stopped = (add(_rows_mask(n, sub[_arrow_bool(_pc().equal(part, needle))]), EXACT_ID)
                       or add(_rows_mask(n, sub[_arrow_bool(_pc().starts_with(part, needle, ignore_case=True))]), ID_PREFIX)
                       or add(holding, ID_SUBSTRING))
    if needle and not stopped:
        for col in search_cols:
            if add(column_mask(table[col], needle, cache, col), columns.index(col)):
                stopped = True
                break
    rows = np.concatenate(got_rows) if got_rows else np.zeros(0, dtype=np.int64)
    where = np.concatenate(got_where) if got_where else np.zeros(0, dtype=np.int32)
    return Matches(query, rows.astype(np.int64), where, columns, id_name, complete=not stopped)


def column_mask(s: pd.Series, needle: str, cache: dict | None = None, key: str | None = None) -> np.ndarray:
    """Bool per row: does this column's value match ``needle`` (rules in the module docstring)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        hit = column_mask(pd.Series(s.cat.categories), needle)
        codes = s.cat.codes.to_numpy()
        return (codes >= 0) & np.concatenate([hit, [False]])[codes]
    if pd.api.types.is_bool_dtype(s.dtype):
        word = needle.lower()
        if word not in ("true", "false"):
            return _all(len(s), False)
        return (s == (word == "true")).to_numpy(dtype=bool, na_value=False)
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = _number(needle)
        if v is None:
            return _all(len(s), False)
        if pd.api.types.is_integer_dtype(s.dtype):
            if not float(v).is_integer():
                return _all(len(s), False)
            try:
                target = np.array(int(v)).astype(s.dtype.numpy_dtype if hasattr(s.dtype, "numpy_dtype") else s.dtype)
            except (OverflowError, ValueError):
                return _all(len(s), False)
            if int(target) != int(v):   # out of the column's range: wrapped around, not equal
                return _all(len(s), False)
        else:
            target = np.float32(v) if s.dtype == np.float32 else v
        return (s == target).to_numpy(dtype=bool, na_value=False)
    text = _as_text(s, cache, key)
    return _arrow_bool(_pc().match_substring(text, needle, ignore_case=True))


# -- helpers ---------------------------------------------------------------------------------
def _pc():
    import pyarrow.compute as pc

    return pc


def _all(n: int, value: bool = True) -> np.ndarray:
    return np.full(n, value, dtype=bool)


def _rows_mask(n: int, rows: np.ndarray) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[rows] = True
    return m


def _arrow_bool(a) -> np.ndarray:
    import pyarrow as pa

    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks() if a.num_chunks != 1 else a.chunk(0)
    return a.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _ids_arrow(ids: np.ndarray, cache: dict):
    import pyarrow as pa

    got = cache.get("ids")
    if got is None or len(got) != len(ids):
        got = cache["ids"] = pa.array(np.asarray(ids).astype(str), type=pa.large_string())
    return got


def _as_text(s: pd.Series, cache: dict | None, key: str | None):
    """The column as an Arrow string array (missing values null), without copying when it
    already is one; other columns are read as text once and cached."""
    import pyarrow as pa

    try:
        arr = pa.array(s.array)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    if cache is not None and key is not None and ("text", key) in cache:
        return cache[("text", key)]
    text = pa.array(s.astype("string[pyarrow]").array)
    if cache is not None and key is not None:
        cache[("text", key)] = text
    return text


def _number(text: str) -> float | None:
    t = text.strip()
    return float(t) if _NUMBER.fullmatch(t) else None


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def _by_equality(dtype) -> bool:
    """Whether a column of ``dtype`` matches whole values (numbers, booleans), not text in them."""
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    return pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)


def _value_text(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v)) if abs(v) < 1e16 else str(v)
    return str(v)


def _cut(text: str, needle: str, width: int = EXCERPT_CHARS) -> list[str]:
    """``text`` around the first case-insensitive ``needle`` as [before, match, after], at most
    about ``width`` characters in all ("…" where cut); no match: [text cut short, "", ""]."""
    m = re.search(re.escape(needle), text, re.IGNORECASE) if needle else None
    if m is None:
        return [text if len(text) <= width else text[:width - 1] + "…", "", ""]
    i, j = m.span()
    hit = text[i:j] if j - i <= width else text[i:i + width - 1] + "…"
    room = max(0, width - len(hit))
    left = min(i, room // 3)                 # a third of the room before the match
    tail = len(text) - j
    if tail < room - left:                   # a short tail leaves more room before it
        left = min(i, room - tail)
    right = room - left
    before, after = text[i - left:i], text[j:j + right]
    if i - left > 0:
        before = "…" + before[1:]
    if j + right < len(text):
        after = after[:-1] + "…"
    return [before, hit, after]
