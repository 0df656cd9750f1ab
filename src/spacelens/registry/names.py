"""Validation of user-chosen names.

Names are labels in the database only: files in the home are named by generated
ids, so a name can never become a path. We still refuse names that would be
confusing or unsafe to print or to type (separators, control characters).
"""

from __future__ import annotations

import unicodedata

from spacelens.errors import SpacelensError

MAX_NAME_LENGTH = 200
_FORBIDDEN = set('/\\')


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a usable entity name, else raise a clear error."""
    if not isinstance(name, str) or not name.strip():
        raise SpacelensError(f"The {what} is empty", "Give a non-empty name such as 'resnet-epoch3'")
    if name != name.strip():
        raise SpacelensError(
            f"The {what} {name!r} starts or ends with whitespace", f"Use {name.strip()!r} instead"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise SpacelensError(
            f"The {what} is {len(name)} characters long", f"Use at most {MAX_NAME_LENGTH} characters"
        )
    bad = sorted({c for c in name if c in _FORBIDDEN or unicodedata.category(c).startswith("C")})
    if bad or name in {".", ".."}:
        shown = ", ".join(repr(c) for c in bad) or repr(name)
        raise SpacelensError(
            f"The {what} {name!r} contains path separators or control characters ({shown})",
            "Use letters, digits and - _ . : @ only, e.g. 'triplet.epoch_3.val'",
        )
    return name
