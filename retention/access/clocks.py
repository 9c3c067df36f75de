"""When a record becomes due, from its clock value and a period, on the
pipeline's own convention (retention.timezone): a naive timestamp is wall
clock in the policy's zone, a bare date lasts to its end, a hold counted
from the year end starts on 1 January after the clock's year."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from retention.periods import Period
from retention.timezone import aware, policy_zone


def moment_of(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, date):
        return aware(datetime.combine(value + timedelta(days=1), time()))
    if isinstance(value, str) and value:
        # A media fact: ISO-8601 text, read as the media connectors read it.
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        bare_date = "T" not in value and " " not in value and parsed.tzinfo is None
        return moment_of(parsed.date()) if bare_date else aware(parsed)
    return None


def due_at(value: object, period: Period, *, from_year_end: bool = False) -> datetime | None:
    start = moment_of(value)
    if start is None:
        return None
    if from_year_end:
        # The year the clock names (a DATE of 31 December is in its own year,
        # though it lasts to its end), as the SQL connector's holds count it.
        year = value.year if isinstance(value, date) else start.astimezone(policy_zone()).year
        start = datetime(year + 1, 1, 1, tzinfo=policy_zone())
    return period.after(start)
