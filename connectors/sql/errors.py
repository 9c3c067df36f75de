"""Errors the SQL connector raises before it changes anything.

They subclass RetentionError so the CLI and the flows report them as user
errors (exit code 2) with the message as written here.
"""

from __future__ import annotations

from retention.errors import RetentionError


class SchemaMismatch(RetentionError):
    """The database lacks a table or column the policy describes, or has one
    of a type the connector cannot use safely."""


class ConditionError(RetentionError):
    """A condition or key that cannot be compared with its column as written."""


class RelationCycle(RetentionError):
    """Relations that lead back to where they started: deleting children first
    has no end, so the connector refuses instead of looping."""
