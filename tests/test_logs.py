"""The log redaction processor: no email, phone or name reaches a rendered line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import structlog

from retention import logs

EMAIL = "matti.virtanen@example.fi"
PHONE = "+358 40 123 4567"
NAME = "Matti Virtanen"


@pytest.fixture
def rendered() -> Iterator[io.StringIO]:
    """Log lines as configure() renders them, into a buffer; the previous
    structlog configuration is restored afterwards."""
    saved, was_configured = structlog.get_config(), logs._configured
    out = io.StringIO()
    try:
        yield out
    finally:
        structlog.configure(**saved)
        logs._configured = was_configured


def log_once(out: io.StringIO, *, as_json: bool, event: str, **fields: object) -> str:
    logs.configure(json=as_json, file=out)  # type: ignore[arg-type]
    logs.get_logger("test").info(event, **fields)
    return out.getvalue()


def assert_clean(line: str) -> None:
    for secret in (EMAIL, "matti.virtanen", "401234567", "123 4567", "Matti", "Virtanen"):
        assert secret.casefold() not in line.casefold(), secret


@pytest.mark.parametrize("as_json", [True, False])
@pytest.mark.parametrize(
    "fields",
    [
        {"email": EMAIL},
        {"emails": [EMAIL, "x@y.fi"]},
        {"phone_number": PHONE},
        {"name": NAME},
        {"first_name": "Matti", "last_name": "Virtanen"},
        {"contact_names": [NAME]},
        {"identities": {"email": [EMAIL]}},
        {"subject": {"email": EMAIL, "name": NAME}},
        {"note": f"mail {EMAIL} or call {PHONE}"},
        {"keys": [f"ticket of {EMAIL}", ("tel", PHONE)]},
        {"path": f"media/{EMAIL}/photo.jpg"},
    ],
)
def test_personal_data_under_any_key_or_nesting_is_redacted(rendered, as_json, fields) -> None:
    line = log_once(rendered, as_json=as_json, event="erasure planned", **fields)
    assert "erasure planned" in line
    assert_clean(line)


@pytest.mark.parametrize("as_json", [True, False])
def test_the_event_message_itself_is_searched(rendered, as_json) -> None:
    line = log_once(rendered, as_json=as_json, event=f"resolving {EMAIL} / {PHONE}")
    assert "resolving" in line
    assert_clean(line)


@pytest.mark.parametrize(
    "phone", ["040 123 4567", "040-1234567", "(040) 123 4567", "+358401234567", "0401234567"]
)
def test_phone_numbers_in_common_spellings_are_redacted(rendered, phone) -> None:
    line = log_once(rendered, as_json=True, event="x", detail=f"call {phone} now")
    assert json.loads(line)["detail"] == "call [redacted] now"


def test_an_object_whose_text_holds_an_email_is_redacted(rendered) -> None:
    @dataclass
    class Contact:
        email: str

    line = log_once(rendered, as_json=True, event="x", contact=Contact(EMAIL))
    assert_clean(line)


@pytest.mark.parametrize("as_json", [True, False])
def test_an_exception_message_is_redacted_too(rendered, as_json) -> None:
    logs.configure(json=as_json, file=rendered)  # type: ignore[arg-type]
    secret_local = EMAIL  # noqa: F841  a traceback with locals must not show it either
    try:
        raise ValueError(f"no contact {EMAIL}")
    except ValueError:
        logs.get_logger("test").exception("lookup failed")
    line = rendered.getvalue()
    assert "lookup failed" in line and "ValueError" in line
    assert_clean(line)


def test_what_operators_need_survives(rendered) -> None:
    line = log_once(
        rendered,
        as_json=True,
        event="rule planned",
        rule="crm-contacts-ended",
        policy_name="id-north",
        due=1234567,
        cutoff="2024-05-17",
        batch="2024-05-17 12:00",
        key_hash="h:0123456789abcdef",
    )
    entry = json.loads(line)
    assert entry["rule"] == "crm-contacts-ended"
    assert entry["policy_name"] == "id-north"
    assert entry["due"] == 1234567
    assert entry["cutoff"] == "2024-05-17"
    assert entry["batch"] == "2024-05-17 12:00"
    assert entry["key_hash"] == "h:0123456789abcdef"
    assert entry["timestamp"][:2] == "20"


def test_a_personal_key_without_a_value_stays_empty(rendered) -> None:
    entry = json.loads(log_once(rendered, as_json=True, event="x", email=None))
    assert entry["email"] is None
