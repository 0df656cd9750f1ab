"""Validation of user-chosen names.

Names are labels in the database only: files in the home are named by generated
ids, so a name can never become a path. Names are also typed in shells and read in
tables, so they are letters, digits and ``- _ . : @`` only (no spaces, separators or
control characters).
"""

from __future__ import annotations

import unicodedata

from spacelens.errors import SpacelensError

MAX_NAME_LENGTH = 200
_ALLOWED_PUNCTUATION = set("-_.:@")


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
    bad = sorted({c for c in name if not (c in _ALLOWED_PUNCTUATION or unicodedata.category(c)[0] in "LN")})
    if bad or name in {".", ".."}:
        shown = ", ".join("a space" if c == " " else repr(c) for c in bad) or repr(name)
        suggestion = "".join(c if c not in bad else "-" if c in " /\\" else "" for c in name).strip("-") or "run1"
        raise SpacelensError(
            f"The {what} {name!r} contains spaces, path separators, control characters or other punctuation ({shown})",
            f"Use letters, digits and - _ . : @ only, e.g. {suggestion!r}",
        )
    return name
