"""Clock columns compared with cut-offs computed in Python.

Cut-offs are bound as parameters of the column's own kind, so that SQLite
(text), PostgreSQL and MariaDB compare like with like:
- DATE columns compare with the cut-off's date, always rounding towards
  keeping: a row is due only if its date is before the cut-off's date, and
  kept by a hold if its date is on or after it.
- Timestamps without a time zone are read as wall-clock time in the
  policy's time zone (settings.timezone); with a time zone, as stored.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from connectors.sql.errors import SchemaMismatch
from connectors.sql.values import column_python_type

Clause = sa.ColumnElement[bool]


def aware(moment: datetime, zone: tzinfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _bound(column: sa.ColumnElement[Any], moment: datetime, zone: tzinfo, where: str) -> Any:
    kind = column_python_type(column)
    local = aware(moment, zone).astimezone(zone)
    if kind is date:
        return local.date()
    if kind is datetime:
        if getattr(column.type, "timezone", False):
            return aware(moment, zone)
        return local.replace(tzinfo=None)
    raise SchemaMismatch(
        f"{where}: clock column {getattr(column, 'name', column)!r} is {column.type}, "
        "not a DATE or TIMESTAMP column; the connector does not compare dates stored as text"
    )


def older_than(column: sa.ColumnElement[Any], cutoff: datetime, zone: tzinfo, where: str) -> Clause:
    """The clock is before `cutoff` (due)."""
    return column < _bound(column, cutoff, zone, where)


def kept_since(column: sa.ColumnElement[Any], cutoff: datetime, zone: tzinfo, where: str) -> Clause:
    """The clock is after `cutoff` (a hold still keeps the row); DATE: on or after."""
    value = _bound(column, cutoff, zone, where)
    return (
        column >= value
        if isinstance(value, date) and not isinstance(value, datetime)
        else (column > value)
    )


def year_start(cutoff: datetime, zone: tzinfo) -> datetime:
    local = aware(cutoff, zone).astimezone(zone)
    return datetime(local.year, 1, 1, tzinfo=zone)


def as_moment(value: Any, zone: tzinfo) -> datetime:
    """A clock value read back from the database as an aware datetime."""
    if isinstance(value, datetime):
        return aware(value, zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    return aware(datetime.fromisoformat(str(value)), zone)


def not_before(column: sa.ColumnElement[Any], moment: datetime, zone: tzinfo, where: str) -> Clause:
    """The clock is at or after `moment`."""
    return column >= _bound(column, moment, zone, where)
