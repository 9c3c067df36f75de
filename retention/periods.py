"""ISO-8601 periods (P5Y, P3Y6M, P30D, PT12H) as calendar arithmetic.

Retention laws count in calendar years and months, which timedelta cannot
express, so a period keeps its parts and subtracts them from a date.

A period is at most 100 years (no register keeps anything longer; a longer
one is a typo such as P2026Y, and would also leave the calendar). A zero
period is written `immediately`, never P0D: a zero written as a number is
more likely a slip than a decision to act at once.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from retention.errors import RetentionError
from retention.timezone import policy_zone

IMMEDIATELY = "immediately"
MAX_YEARS = 100
_MAX_DAYS = MAX_YEARS * 365.25
_PERIOD = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
# A part longer than this is far beyond 100 years whatever its unit; checked
# before int() so that a thousand-digit number costs nothing.
_MAX_DIGITS = 12


class PeriodOutOfRange(RetentionError):
    """A date a period leads to that the calendar does not have; nothing changed."""


@dataclass(frozen=True)
class Period:
    text: str
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Period:
        written = text.strip() if isinstance(text, str) else text
        if written == IMMEDIATELY:
            return cls(text=IMMEDIATELY)
        match = _PERIOD.match(written) if isinstance(written, str) else None
        if not match:
            raise ValueError(
                f"{text!r} is not an ISO-8601 period; write e.g. P5Y, P3Y6M, P30D, PT12H "
                f"or `{IMMEDIATELY}`"
            )
        if any(len(v) > _MAX_DIGITS for v in match.groupdict().values() if v):
            shown = written if len(written) <= 24 else written[:20] + "..."
            raise ValueError(f"{shown!r} is longer than {MAX_YEARS} years")
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        period = cls(
            text=written,
            years=parts.get("years", 0),
            months=parts.get("months", 0),
            days=parts.get("days", 0) + 7 * parts.get("weeks", 0),
            seconds=parts.get("hours", 0) * 3600
            + parts.get("minutes", 0) * 60
            + parts.get("seconds", 0),
        )
        if period.is_zero:
            raise ValueError(
                f"{written!r} is a zero period; write `{IMMEDIATELY}` if that is what you mean"
            )
        if period.longest_days() > _MAX_DAYS:
            raise ValueError(f"{written!r} is longer than {MAX_YEARS} years")
        return period

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.seconds)

    def longest_days(self) -> float:
        """Its length in days, months and years at their average length."""
        return (12 * self.years + self.months) * 365.25 / 12 + self.days + self.seconds / 86400

    def before(self, moment: datetime, zone: tzinfo | None = None) -> datetime:
        """The moment this period before `moment` (the cut-off for 'older than')."""
        return self._shift(moment, -1, zone)

    def after(self, moment: datetime, zone: tzinfo | None = None) -> datetime:
        """The moment this period after `moment` (e.g. the end of a hold)."""
        return self._shift(moment, 1, zone)

    def _shift(self, moment: datetime, sign: int, zone: tzinfo | None) -> datetime:
        """Calendar arithmetic on the wall clock of the policy's time zone (or
        `zone`), as a law counts: five years after 1 July 10:00 in Helsinki is
        1 July 10:00 in Helsinki, whatever the UTC offsets were. A naive
        moment is already wall-clock time and stays naive."""
        local = moment if moment.tzinfo is None else moment.astimezone(zone or policy_zone())
        try:
            months = _shift_months(local, sign * (12 * self.years + self.months))
            shifted = months + sign * timedelta(days=self.days, seconds=self.seconds)
        except (ValueError, OverflowError):
            # e.g. --as-of 0001-01-01, or a clock in year 9999 plus a hold's period
            way = "before" if sign < 0 else "after"
            day = moment.date().isoformat()
            raise PeriodOutOfRange(
                f"{self.text} {way} {day} is outside the calendar (years 1-9999)"
            ) from None
        if shifted.tzinfo is None:
            return shifted
        # A wall-clock time skipped by a DST change means the instant after the
        # gap; one that occurs twice, the first of the two.
        return shifted.replace(fold=0).astimezone(UTC).astimezone(shifted.tzinfo)

    def __str__(self) -> str:
        return self.text


def _shift_months(moment: datetime, months: int) -> datetime:
    """Calendar months later (earlier if negative), the day clamped to the
    month's last: 31 January + 1 month is 28 or 29 February."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
