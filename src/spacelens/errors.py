"""User-facing errors and warnings.

Every problem a user can cause (bad file, bad name, mismatched ids ...) raises
:class:`SpacelensError` with a message that names the problem *and* the fix. The CLI
prints it as one line and exits non-zero; no traceback reaches the user.
"""

from __future__ import annotations


class SpacelensError(Exception):
    """A problem with the user's input or request, with a suggested fix."""

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem.rstrip(".")
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem}. {self.fix}" if self.fix else f"{self.problem}."


class NotFoundError(SpacelensError):
    """A named entity (dataset, experiment, space ...) is not in the registry."""


class SpacelensWarning(UserWarning):
    """Something accepted but worth knowing (zero vectors, dropped ids ...)."""
