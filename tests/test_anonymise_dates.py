"""generalise_date: month or year precision, the value's type and shape kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from retention.anonymise import AnonymisationError, generalise_date

HELSINKI_SUMMER = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("to", "expected"), [("month", date(2023, 5, 1)), ("year", date(2023, 1, 1))]
)
def test_a_date_stays_a_date(to: str, expected: date) -> None:
    result = generalise_date(date(2023, 5, 17), to)  # type: ignore[arg-type]
    assert result == expected
    assert type(result) is date


def test_a_datetime_stays_a_datetime_at_midnight_in_its_own_zone() -> None:
    value = datetime(2023, 5, 17, 14, 30, 12, 999, tzinfo=HELSINKI_SUMMER)
    result = generalise_date(value, "month")
    assert result == datetime(2023, 5, 1, tzinfo=HELSINKI_SUMMER)
    assert isinstance(result, datetime)
    assert result.tzinfo is HELSINKI_SUMMER


def test_a_naive_datetime_stays_naive() -> None:
    result = generalise_date(datetime(2023, 5, 17, 14, 30), "year")
    assert result == datetime(2023, 1, 1)
    assert isinstance(result, datetime) and result.tzinfo is None


def test_a_utc_datetime_keeps_utc() -> None:
    result = generalise_date(datetime(2023, 12, 31, 23, 59, tzinfo=UTC), "year")
    assert result == datetime(2023, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "to", "expected"),
    [
        ("2023-05-17", "month", "2023-05-01"),
        ("2023-05-17", "year", "2023-01-01"),
        ("2023-05", "year", "2023-01"),
        ("2023-05-17T14:30:12", "month", "2023-05-01T00:00:00"),
        ("2023-05-17 14:30:12.123456", "year", "2023-01-01 00:00:00.000000"),
        ("2023-05-17T14:30:12+03:00", "month", "2023-05-01T00:00:00+03:00"),
        ("2023-05-17T14:30:12Z", "year", "2023-01-01T00:00:00Z"),
        ("2023-05-17T14:30", "month", "2023-05-01T00:00"),
    ],
)
def test_an_iso_string_keeps_its_shape(value: str, to: str, expected: str) -> None:
    assert generalise_date(value, to) == expected  # type: ignore[arg-type]


def test_none_stays_none() -> None:
    assert generalise_date(None, "year") is None


@pytest.mark.parametrize(
    "value",
    [date(2023, 5, 17), datetime(2023, 5, 17, 8, tzinfo=UTC), "2023-05-17T08:00:00+02:00"],
)
@pytest.mark.parametrize("to", ["month", "year"])
def test_generalising_twice_is_generalising_once(value: object, to: str) -> None:
    once = generalise_date(value, to)  # type: ignore[arg-type]
    assert generalise_date(once, to) == once  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [19840517, 3.5, b"2023-05-17", True])
def test_a_non_date_names_the_column_and_type(value: object) -> None:
    with pytest.raises(AnonymisationError, match=r"'birth_date'.*" + type(value).__name__):
        generalise_date(value, "year", column="birth_date")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["Matti Virtanen", "2023-13-45", "17.5.2023"])
def test_a_string_that_is_no_iso_date_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(AnonymisationError, match="'notes'") as raised:
        generalise_date(value, "year", column="notes")
    assert value not in str(raised.value)
