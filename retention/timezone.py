"""The one time convention: a timestamp written without an offset (a naive
SQL TIMESTAMP, a media fact such as `2021-06-01T10:00`, the demo's data) is
wall-clock time in the policy's time zone, settings.timezone.

The SQL connector is handed the zone by its policy. Media facts are parsed
far from the policy, so the loader sets the zone here when it loads one (a
sweep and a lookup always load the policy first).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Europe/Helsinki"
_zone: tzinfo = ZoneInfo(DEFAULT_ZONE)


def set_policy_zone(name: str) -> None:
    global _zone
    _zone = ZoneInfo(name)


def policy_zone() -> tzinfo:
    return _zone


def aware(moment: datetime, zone: tzinfo | None = None) -> datetime:
    """`moment` as is if it has an offset, else read in `zone` (default: the policy's)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone or _zone)
