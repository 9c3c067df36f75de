"""Find a subject's rows by exact identity match, never by pattern.

Values arrive normalised by retention.identity (the one normaliser). Emails
compare trimmed and lower-cased on the column too, so one address matches in
any case on SQLite, PostgreSQL and MariaDB alike (whatever the collation).
Phones compare digits only: the column's usual punctuation is removed with
nested replace(), which all three dialects have, and the number is offered in
each digit form a stored spelling reduces to (+CC..., 00CC..., trunk 0...).
Other kinds compare exactly; a value that cannot be of the column's type
(an id with letters for an integer column) matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from connectors.base import Key
from connectors.sql.graph import Graph
from connectors.sql.reflect import column_of
from connectors.sql.values import coerce_or_none
from retention import identity
from retention.policy import System

PHONE_PUNCTUATION = (" ", "-", "(", ")", ".", "/", "+")


def digits_only(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    expression: sa.ColumnElement[Any] = column
    for mark in PHONE_PUNCTUATION:
        expression = sa.func.replace(expression, mark, "")
    return expression


def identity_clause(
    kind: str, column: sa.ColumnElement[Any], values: Sequence[str], *, by_bytes: bool = False
) -> sa.ColumnElement[bool] | None:
    """The match for one identity kind, or None when no value can match.
    `by_bytes`: compare text byte for byte (MariaDB and MySQL, whose default
    collations take 'ä' for 'a' and 'A' for 'a': an identity would match
    someone else's rows)."""

    def exact(expression: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        text = isinstance(column.type, sa.String)
        if not (by_bytes and text):
            return expression
        # Compared as bytes in SQL; the values are still bound as text.
        return sa.type_coerce(sa.cast(expression, sa.BINARY()), sa.String())

    if kind == "email":
        return exact(sa.func.lower(sa.func.trim(column))).in_([identity.email(v) for v in values])
    if kind == "phone":
        forms = {form for v in values for form in identity.parse_phone(v).digit_forms()}
        return exact(digits_only(column)).in_(sorted(forms))
    usable = [c for c in (coerce_or_none(v, column) for v in values) if c is not None]
    return exact(column).in_(usable) if usable else None


def find_subject_keys(
    conn: sa.Connection,
    graph: Graph,
    system: System,
    identities: Mapping[str, Sequence[str]],
) -> dict[str, list[Key]]:
    """Per dataset that declares one of the identity kinds: the keys of matching rows."""
    found: dict[str, list[Key]] = {}
    by_bytes = conn.dialect.name in ("mysql", "mariadb")
    for name, dataset in system.datasets.items():
        node = graph.node(name)
        clauses = []
        for kind, column_name in dataset.identity_fields.items():
            values = identities.get(kind) or []
            if not values:
                continue
            column = column_of(node.table, column_name, graph.qualified(name))
            clause = identity_clause(kind, column, values, by_bytes=by_bytes)
            if clause is not None:
                clauses.append(clause)
        if not any(kind in identities for kind in dataset.identity_fields):
            continue
        key = node.table.c[node.key]
        keys: list[Key] = []
        if clauses:
            query = sa.select(key).where(sa.or_(*clauses)).order_by(key)
            keys = list(conn.execute(query).scalars())
        found[name] = keys
    return found
