"""Generalising a date to its month or year, keeping the value's own type,
so the column's type and an ISO string's shape survive the update."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal, TypeVar

from retention.anonymise.errors import AnonymisationError

Granularity = Literal["month", "year"]
D = TypeVar("D", bound=date)

_ISO = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?"
    r"(?P<time>[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def _first_of(value: D, to: Granularity) -> D:
    month = 1 if to == "year" else value.month
    if isinstance(value, datetime):
        # tzinfo is kept: the instant moves to local midnight of that zone.
        return value.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    return value.replace(month=month, day=1)


def _generalise_iso(text: str, to: Granularity, column: str) -> str:
    match = _ISO.fullmatch(text.strip())
    if match is None:
        raise AnonymisationError(
            f"field {column!r}: generalise_date got a str that is not an ISO-8601 date"
        )
    year, month, day = match["year"], int(match["month"]), match["day"]
    try:
        date(int(year), month, int(day or 1))
    except ValueError:
        raise AnonymisationError(
            f"field {column!r}: generalise_date got a str that is not a valid calendar date"
        ) from None
    month = 1 if to == "year" else month
    time = match["time"] or ""
    tz = match["tz"] or ""
    zeroed_time = re.sub(r"\d", "0", time[: len(time) - len(tz)]) + tz
    return f"{year}-{month:02d}" + ("-01" if day else "") + zeroed_time


def generalise_date(
    value: date | str | None, to: Granularity, *, column: str = "value"
) -> date | str | None:
    """The first day of the value's month or year; time 00:00, zone kept."""
    if to not in ("month", "year"):
        raise AnonymisationError(f"field {column!r}: generalise_date `to` must be month or year")
    if value is None:
        return None
    if isinstance(value, date):
        return _first_of(value, to)
    if isinstance(value, str):
        return _generalise_iso(value, to, column)
    raise AnonymisationError(
        f"field {column!r}: generalise_date needs a date, datetime or ISO-8601 string, "
        f"not {type(value).__name__}"
    )
