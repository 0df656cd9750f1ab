"""What a label column is: one rule for the CLI, the API, the page, the widget and the report.

Users keep class labels as strings ("cat"), as integers (0..999: the commonest form at scale)
or as booleans. So:

- a column the user has evaluated with is a label column everywhere (the page's pickers, its
  colouring, the widget);
- integer, boolean and string columns can be labels, however many classes they hold; the id
  column cannot (every item would be its own class);
- a float column with fractional values is a measurement, not classes: it is refused as labels,
  with the reason and the fix (bin it first). Whole-number floats (integer classes read from a
  CSV with gaps, say) are classes.

Colouring follows the same rule: a label column is drawn as categories (its largest classes in
colour, the rest grey, which the legend says), whatever its number of values.
"""

from __future__ import annotations

import numpy as np

from spacelens.errors import SpacelensError

# An integer column with more distinct values than this is a quantity (a count, a size, a year):
# coloured as a gradient and described by ranges, unless its name says it holds classes or it was
# evaluated with.
MAX_INTEGER_CATEGORIES = 12
# column names that say their integers are classes, not quantities ("label", "class_id", "digit")
CLASS_NAMES = ("label", "class", "target", "category", "cluster", "group", "species", "digit", "y")


def looks_like_classes(name) -> bool:
    """True for column names such as ``label``, ``class_id``, ``target`` or ``digit``."""
    words = "".join(ch if ch.isalnum() else " " for ch in str(name).lower()).split()
    return any(w in CLASS_NAMES or w.rstrip("s") in CLASS_NAMES for w in words)


def whole_numbers(values) -> bool:
    """Whether a numeric column holds whole numbers only (integers, or floats without fractions,
    as integer classes read from a CSV with gaps are); missing and infinite values aside."""
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
        return True
    v = s.dropna().to_numpy(np.float64)
    return bool(np.all(np.mod(v[np.isfinite(v)], 1) == 0))


def numbers_are_classes(values, name, *, evaluated: bool = False) -> bool:
    """Whether a numeric column holds classes (coloured as categories, described value by value)
    rather than a quantity (a gradient, described by ranges): whole numbers that were evaluated
    with, whose name says they are classes, or that take at most :data:`MAX_INTEGER_CATEGORIES`
    values. A count such as "ink" is a quantity; 1,000 class ids in ``label`` are classes."""
    import pandas as pd

    if not whole_numbers(values):
        return False
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    return evaluated or looks_like_classes(name) or s.nunique() <= MAX_INTEGER_CATEGORIES


def refusal(values, name: str, *, id_field: str | None = None) -> str | None:
    """Why ``values`` (a column called ``name``) cannot be labels, or None when it can."""
    import pandas as pd

    if id_field is not None and str(name) == str(id_field):
        return f"{name!r} is the id column: every item would be a class of its own"
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
        return None
    if pd.api.types.is_float_dtype(s):
        if not whole_numbers(s):
            return (f"{name!r} holds measurements (numbers with fractions), not classes: a neighbour counts as "
                    "correct only with an equal label")
        return None
    if pd.api.types.is_numeric_dtype(s):   # complex and the like
        return f"{name!r} holds {s.dtype} values, not classes"
    return None


def check(values, name: str, *, id_field: str | None = None) -> None:
    """Raise one clear error when ``values`` cannot be labels (:func:`refusal`)."""
    why = refusal(values, name, id_field=id_field)
    if why is not None:
        raise SpacelensError(f"Column {why}",
                             "Use a column of classes (strings, integers or booleans), or bin this one into "
                             "classes first (e.g. pandas.qcut(df[col], 10, labels=False))")

