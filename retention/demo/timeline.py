"""Moments relative to the demo's `as_of`, never to the wall clock."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

YEAR_DAYS = 365.25
# The demo policy's settings.timezone: the demo writes what a Finnish CRM
# would, wall-clock time in Helsinki, and the connectors read it back so.
ZONE = ZoneInfo("Europe/Helsinki")


def naive_local(moment: datetime) -> datetime:
    """Databases hold naive local time; an aware `as_of` is converted first."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZONE).replace(tzinfo=None)
    return moment.replace(microsecond=0)


class Timeline:
    def __init__(self, as_of: datetime, rng: random.Random) -> None:
        self.as_of = naive_local(as_of)
        self.rng = rng

    def years_ago(self, low: float, high: float) -> datetime:
        """A moment between `low` and `high` years before as_of, to the second."""
        seconds = self.rng.uniform(low, high) * YEAR_DAYS * 86400
        return self.as_of - timedelta(seconds=int(seconds))

    def between(self, start: datetime, end: datetime) -> datetime:
        span = max(int((end - start).total_seconds()), 1)
        return start + timedelta(seconds=self.rng.randrange(span))

    def shortly_after(self, moment: datetime, max_days: float = 60) -> datetime:
        later = moment + timedelta(seconds=int(self.rng.uniform(1, max_days) * 86400))
        return min(later, self.as_of)


def year_end(moment: datetime) -> date:
    return date(moment.year, 12, 31)
