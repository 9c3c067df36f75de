"""ISO-8601 periods (P5Y, P3Y6M, P30D, PT12H) as calendar arithmetic.

Retention laws count in calendar years and months, which timedelta cannot
express, so a period keeps its parts and subtracts them from a date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PERIOD = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True)
class Period:
    text: str
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(
                f"{text!r} is not an ISO-8601 period; write e.g. P5Y, P3Y6M, P30D or PT12H"
            )
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        return cls(
            text=text.strip(),
            years=parts.get("years", 0),
            months=parts.get("months", 0),
            days=parts.get("days", 0) + 7 * parts.get("weeks", 0),
            seconds=parts.get("hours", 0) * 3600
            + parts.get("minutes", 0) * 60
            + parts.get("seconds", 0),
        )

    def before(self, moment: datetime) -> datetime:
        """The moment this period before `moment` (the cut-off for 'older than')."""
        return _shift_months(moment, -(12 * self.years + self.months)) - timedelta(
            days=self.days, seconds=self.seconds
        )

    def after(self, moment: datetime) -> datetime:
        """The moment this period after `moment` (e.g. the end of a hold)."""
        return _shift_months(moment, 12 * self.years + self.months) + timedelta(
            days=self.days, seconds=self.seconds
        )

    def __str__(self) -> str:
        return self.text


def _shift_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
