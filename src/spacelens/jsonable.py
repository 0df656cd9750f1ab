"""One way to turn results into JSON: numpy values as plain numbers, NaN and infinities as null.

Every JSON spacelens writes (``--json``, the page's API, the widget's messages, the report's
``.json``, stored result info) goes through :func:`jsonable`, so a figure reads the same on
every surface and no NaN reaches a JSON parser that rejects it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import PurePath


def jsonable(x):
    """A copy of ``x`` made of dict/list/str/int/float/bool/None only.

    numpy scalars and arrays become Python numbers and lists; NaN and infinities become None;
    dict keys become strings; tuples and sets become lists; paths become strings; dates
    their ISO form; dataclasses dicts. Anything else becomes its ``str``.
    """
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return [jsonable(v) for v in sorted(x, key=str)]
    if hasattr(x, "dtype") and hasattr(x, "tolist"):      # numpy scalar or array (no numpy import needed)
        return jsonable(x.tolist())
    if isinstance(x, PurePath):
        return str(x)
    if hasattr(x, "isoformat"):
        return x.isoformat()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable(dataclasses.asdict(x))
    if hasattr(x, "item") and callable(x.item):            # other array scalars (torch)
        try:
            return jsonable(x.item())
        except (TypeError, ValueError):
            pass
    return str(x)


def dumps(x, **kwargs) -> str:
    """``json.dumps`` of :func:`jsonable` ``(x)`` (strict: no NaN can slip through)."""
    return json.dumps(jsonable(x), allow_nan=False, **kwargs)
