"""One time convention: a timestamp without an offset is wall-clock time in
the policy's zone (Europe/Helsinki here), in SQL, in media facts and in the
demo data; periods count on that wall clock, as a law does. Checked at month
ends, on leap days and across Helsinki's DST changes, on every dialect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from connectors.media.facts import parse_instant
from connectors.sql.connector import open_sql_connector
from retention.demo.timeline import ZONE as DEMO_ZONE
from retention.errors import RetentionError
from retention.periods import Period
from retention.policy import Policy

HELSINKI = ZoneInfo("Europe/Helsinki")
POLICY = Path(__file__).resolve().parents[1] / "deployments" / "id-north" / "policy.yaml"

# --- period arithmetic against dateutil --------------------------------------

parts = st.fixed_dictionaries(
    {
        "years": st.integers(0, 60),
        "months": st.integers(0, 11),
        "days": st.integers(0, 400),
        "hours": st.integers(0, 48),
    }
).filter(lambda p: any(p.values()))
moments = st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2090, 12, 31))


def period_of(p: dict[str, int]) -> tuple[Period, relativedelta]:
    units = ((p["years"], "Y"), (p["months"], "M"), (p["days"], "D"))
    text = "P" + "".join(f"{n}{unit}" for n, unit in units if n)
    text += f"T{p['hours']}H" if p["hours"] else ""
    delta = relativedelta(years=p["years"], months=p["months"], days=p["days"], hours=p["hours"])
    return Period.parse(text), delta


@given(parts, moments)
def test_periods_on_naive_moments_agree_with_relativedelta(p, moment) -> None:
    period, delta = period_of(p)
    assert period.after(moment) == moment + delta
    assert period.before(moment) == moment - delta


@given(parts, moments)
def test_periods_on_aware_moments_count_on_the_helsinki_wall_clock(p, moment) -> None:
    period, delta = period_of(p)
    instant = moment.replace(tzinfo=UTC)
    wall = instant.astimezone(HELSINKI).replace(tzinfo=None)
    for got, expected in (
        (period.after(instant, HELSINKI), wall + delta),
        (period.before(instant, HELSINKI), wall - delta),
    ):
        # A wall-clock time a DST change skipped is the instant after the gap.
        assert got == expected.replace(tzinfo=HELSINKI).astimezone(UTC)
        assert got.astimezone(HELSINKI).replace(tzinfo=None) in (
            expected,
            expected + timedelta(hours=1),
        )


@given(parts)
def test_a_period_reads_back_as_written(p) -> None:
    period, _ = period_of(p)
    assert str(Period.parse(str(period))) == str(period)


@pytest.mark.parametrize(
    ("text", "moment", "after", "before"),
    [
        ("P1M", datetime(2024, 1, 31), datetime(2024, 2, 29), datetime(2023, 12, 31)),
        ("P1M", datetime(2025, 1, 31), datetime(2025, 2, 28), datetime(2024, 12, 31)),
        ("P1M", datetime(2024, 3, 31), datetime(2024, 4, 30), datetime(2024, 2, 29)),
        ("P1Y", datetime(2024, 2, 29), datetime(2025, 2, 28), datetime(2023, 2, 28)),
        ("P4Y", datetime(2024, 2, 29), datetime(2028, 2, 29), datetime(2020, 2, 29)),
        ("P3Y6M", datetime(2023, 8, 31), datetime(2027, 2, 28), datetime(2020, 2, 29)),
        ("P1D", datetime(2024, 12, 31, 23), datetime(2025, 1, 1, 23), datetime(2024, 12, 30, 23)),
    ],
)
def test_month_ends_and_leap_days(text, moment, after, before) -> None:
    assert Period.parse(text).after(moment) == after
    assert Period.parse(text).before(moment) == before


def test_a_day_across_a_dst_change_is_a_calendar_day() -> None:
    spring = datetime(2026, 3, 29, 12, tzinfo=HELSINKI)  # 23 hours after the 28th, 12:00
    assert Period.parse("P1D").before(spring) == datetime(2026, 3, 28, 12, tzinfo=HELSINKI)
    autumn = datetime(2026, 10, 25, 12, tzinfo=HELSINKI)  # 25 hours
    assert Period.parse("P1D").before(autumn) == datetime(2026, 10, 24, 12, tzinfo=HELSINKI)


# --- media facts and the demo -------------------------------------------------


def test_a_media_timestamp_without_offset_is_helsinki_wall_clock() -> None:
    assert parse_instant("2021-06-01T10:00:00") == datetime(2021, 6, 1, 10, tzinfo=HELSINKI)
    assert parse_instant("2021-01-01 10:00") == datetime(2021, 1, 1, 8, tzinfo=UTC)
    assert parse_instant("2021-06-01T10:00:00Z") == datetime(2021, 6, 1, 10, tzinfo=UTC)
    assert parse_instant("2021-06-01T10:00:00+03:00") == datetime(2021, 6, 1, 7, tzinfo=UTC)


def test_a_bare_media_date_lasts_to_the_end_of_its_helsinki_day() -> None:
    assert parse_instant("2024-02-29") == datetime(2024, 3, 1, tzinfo=HELSINKI)
    assert parse_instant("not a date") is None


def test_the_demo_writes_in_the_zone_its_policy_reads() -> None:
    settings = yaml.safe_load(POLICY.read_text(encoding="utf-8")).get("settings", {})
    assert str(DEMO_ZONE) == settings.get("timezone", "Europe/Helsinki") == "Europe/Helsinki"


# --- SQL: naive columns are Helsinki time, on every dialect ------------------


def events_policy(clock: str, after: str) -> Policy:
    dataset = {"table": "events", "columns": ["at", "day"], "reflect_foreign_keys": False}
    return Policy.model_validate(
        {
            "version": 1,
            "name": "time-test",
            "controller": "Test Oy",
            "settings": {"timezone": "Europe/Helsinki"},
            "systems": {
                "db": {
                    "kind": "sql",
                    "connection": {"env": "UNUSED"},
                    "datasets": {"events": dataset},
                }
            },
            "rules": [
                {
                    "id": "old-events",
                    "clause": "test",
                    "why": "test",
                    "dataset": "db.events",
                    "due": {"clock": clock, "after": after},
                    "action": {"kind": "delete"},
                }
            ],
        }
    )


def due_ids(url: str, rows: list[dict[str, Any]], clock: str, after: str, now: datetime) -> list:
    engine = sa.create_engine(url)
    table = sa.Table(
        "events",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime),
        sa.Column("day", sa.Date),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    engine.dispose()
    policy = events_policy(clock, after)
    connector = open_sql_connector(
        "db", policy.systems["db"], url, hash_key=b"k" * 32, policy=policy
    )
    try:
        connector.check()
        return sorted(k for batch in connector.scan(policy.rules[0], now=now) for k in batch.due)
    finally:
        connector.close()


def rows_at(*stamps: datetime) -> list[dict[str, Any]]:
    return [{"id": i, "at": s, "day": s.date()} for i, s in enumerate(stamps, 1)]


def test_spring_forward_cutoff_is_one_calendar_day_on_the_helsinki_clock(db_url) -> None:
    # 02:30 UTC on 29 March 2026 is 05:30 in Helsinki, an hour after clocks went forward:
    # one day earlier is 05:30 on the 28th, Helsinki time (03:30 UTC), not 04:30.
    now = datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    rows = rows_at(
        datetime(2026, 3, 28, 5, 29, 59),
        datetime(2026, 3, 28, 5, 30, 0),
        datetime(2026, 3, 28, 4, 45, 0),
    )
    assert due_ids(db_url, rows, "at", "P1D", now) == [1, 3]


def test_fall_back_cutoff_is_one_calendar_day_on_the_helsinki_clock(db_url) -> None:
    # 01:30 UTC on 25 October 2026 is 03:30 in Helsinki, after clocks went back at 04:00;
    # one day earlier is 03:30 on the 24th, summer time (00:30 UTC).
    now = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    rows = rows_at(
        datetime(2026, 10, 24, 3, 29, 59),
        datetime(2026, 10, 24, 3, 30, 0),
        datetime(2026, 10, 24, 4, 15, 0),
    )
    assert due_ids(db_url, rows, "at", "P1D", now) == [1]


def test_a_date_clock_on_a_leap_day_rounds_towards_keeping(db_url) -> None:
    # 28 Feb 2025 23:30 UTC is already 1 March in Helsinki: a year earlier is 1 March 2024.
    now = datetime(2025, 2, 28, 23, 30, tzinfo=UTC)
    rows = rows_at(datetime(2024, 2, 28, 12), datetime(2024, 2, 29, 12), datetime(2024, 3, 1, 12))
    assert due_ids(db_url, rows, "day", "P1Y", now) == [1, 2]


def test_a_timestamp_at_a_month_end_is_due_a_month_later_at_its_end(db_url) -> None:
    now = datetime(2026, 3, 31, 10, tzinfo=HELSINKI)  # one month earlier: 28 Feb 10:00
    rows = rows_at(datetime(2026, 2, 28, 9, 59), datetime(2026, 2, 28, 10, 0), datetime(2026, 3, 1))
    assert due_ids(db_url, rows, "at", "P1M", now) == [1]


@pytest.mark.parametrize(
    ("text", "moment", "way"),
    [("P5Y", datetime(3, 1, 1), "before"), ("P10Y", datetime(9995, 6, 1), "after")],
)
def test_a_date_beyond_the_calendar_is_a_user_error_not_a_crash(text, moment, way) -> None:
    with pytest.raises(RetentionError, match="outside the calendar"):
        getattr(Period.parse(text), way)(moment)


def test_a_zero_period_is_written_immediately_and_means_now() -> None:
    now = datetime(2026, 11, 1, 3, tzinfo=UTC)
    period = Period.parse("immediately")
    assert period.is_zero and str(period) == "immediately"
    assert period.before(now) == now and period.after(now) == now
    for zero in ("P0D", "PT0S", "P0Y0M"):
        with pytest.raises(ValueError, match="immediately"):
            Period.parse(zero)
