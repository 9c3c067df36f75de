"""Policy values made comparable with a column, or a clear error.

A YAML value compared with a column of another type behaves differently on
each database (SQLite compares anything, PostgreSQL refuses, MariaDB casts
silently), so values are checked and converted in Python first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa

from connectors.sql.errors import ConditionError

T = TypeVar("T")


def column_python_type(column: sa.ColumnElement[Any]) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:  # e.g. an untyped SQLite column: compare as given
        return None


def coerce(value: Any, column: sa.ColumnElement[Any], where: str) -> Any:
    """`value` as the column's Python type; ConditionError naming `where` if it cannot be."""
    wanted = column_python_type(column)
    if wanted is None or value is None:
        return value
    converted = _convert(value, wanted)
    if converted is _REFUSED:
        raise ConditionError(
            f"{where}: value {value!r} is {_a(type(value))}, but column "
            f"{getattr(column, 'name', column)!r} holds {_plural(wanted)}; "
            "write a value of the column's type"
        )
    return converted


def coerce_or_none(value: Any, column: sa.ColumnElement[Any]) -> Any:
    """`value` as the column's type, or None when it cannot be one (and so matches nothing)."""
    wanted = column_python_type(column)
    if wanted is None:
        return value
    converted = _convert(value, wanted)
    return None if converted is _REFUSED else converted


_REFUSED = object()


def _convert(value: Any, wanted: type) -> Any:
    if isinstance(value, bool):
        # True/False compare as 1/0 on every dialect; nothing else takes a bool.
        return value if wanted is bool else int(value) if wanted is int else _REFUSED
    if wanted is bool:
        return bool(value) if isinstance(value, int) and value in (0, 1) else _REFUSED
    if wanted is int:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return _REFUSED
    if wanted in (float, Decimal):
        if isinstance(value, int | float):
            return wanted(str(value)) if wanted is Decimal else float(value)
        return _REFUSED
    if wanted is str:
        return value if isinstance(value, str) else _REFUSED
    if wanted in (datetime, date):
        return _moment(value, wanted)
    return value


def _moment(value: Any, wanted: type) -> Any:
    if isinstance(value, datetime):
        return value if wanted is datetime else value.date()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) if wanted is datetime else value
    if not isinstance(value, str):
        return _REFUSED
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _REFUSED
    return parsed if wanted is datetime else parsed.date()


def _a(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(
        kind, f"a {kind.__name__}"
    )


def _plural(kind: type) -> str:
    return {
        str: "text",
        int: "integers",
        float: "numbers",
        Decimal: "numbers",
        bool: "booleans",
        datetime: "timestamps (write ISO 8601, e.g. 2024-01-31T12:00:00)",
        date: "dates (write ISO 8601, e.g. 2024-01-31)",
    }.get(kind, kind.__name__)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
