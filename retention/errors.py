"""Errors a user can act on. Each says what was wrong and where."""

from __future__ import annotations


class RetentionError(Exception):
    """Base: refused before or instead of changing anything. CLI exit code 2."""

    exit_code = 2


class PolicyError(RetentionError):
    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '(top)'}: {message}" for path, message in problems]
        super().__init__("invalid policy\n  " + "\n  ".join(lines))


class IdentityError(RetentionError):
    """An identity that could match more than one person (empty, wildcard...)."""


class ConnectionFailed(RetentionError):
    """A system could not be reached; nothing was changed."""


class UnknownSystem(RetentionError):
    pass
