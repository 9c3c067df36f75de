"""Errors a user can act on. Each says what was wrong and where."""

from __future__ import annotations


class RetentionError(Exception):
    """Base: refused before or instead of changing anything. CLI exit code 2."""

    exit_code = 2


class PolicyError(RetentionError):
    def __init__(
        self, file: str, problems: list[tuple[str, str]], headline: str = "invalid policy"
    ) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '(top)'}: {message}" for path, message in problems]
        super().__init__(f"{headline}\n  " + "\n  ".join(lines))


class PolicyMismatch(RetentionError):
    """The policy does not fit a system it describes, found by connecting to
    it; nothing was changed. A connector does not know the policy's file:
    whoever loaded the policy names it (in_file)."""

    def __init__(self, system: str, problems: list[tuple[str, str]]) -> None:
        self.system = system
        self.problems = problems
        lines = [f"{path}: {message}" for path, message in problems]
        super().__init__(f"{self.headline}\n  " + "\n  ".join(lines))

    @property
    def headline(self) -> str:
        return f"the policy does not fit system {self.system!r}; nothing was changed"

    def in_file(self, file: str) -> PolicyError:
        return PolicyError(file, self.problems, self.headline)


class IdentityError(RetentionError):
    """An identity that could match more than one person (empty, wildcard...)."""


class ConnectionFailed(RetentionError):
    """A system could not be reached; nothing was changed."""


class UnknownSystem(RetentionError):
    pass
