"""The one error anonymisation raises: it names the field and the problem,
never the value, because the value is the personal data being protected."""

from __future__ import annotations

from retention.errors import RetentionError


class AnonymisationError(RetentionError):
    """A field could not be anonymised as the policy says; the row is left unchanged."""
