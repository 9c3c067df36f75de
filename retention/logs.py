"""One structlog configuration for the CLI, the flows and the tests.

Events are key-value and carry counts, keys' hashes and names of rules, never
personal data. The redaction processor is a last line of defence: any value
under a key that names personal data, or that looks like an email or phone
number, is replaced before it is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO
from uuid import UUID

import structlog

# Key names that say the value is personal; a plural ("emails") or a suffix
# ("phone_number", "contact_name") counts too.
_PERSONAL_KEYS = re.compile(
    r"(e?mail|phone|phone_number|mobile|msisdn|name|address|identity|subject_value|password"
    r"|ip|ip_address)(e?s)?$|identities$",
    re.I,
)
# Named for what they are (e.g. policy_name ends in "name"); their values are
# still searched for emails and phone numbers.
_SAFE_KEYS = {
    "rule",
    "dataset",
    "system",
    "hold",
    "event",
    "level",
    "timestamp",
    "logger",
    "policy",
    "flow_run",
    "run_id",
    "action",
    "path",
    "key_id",
    "policy_name",
}
# Written by structlog itself; a timestamp would otherwise read as a phone number.
_OWN_KEYS = {"timestamp", "level", "logger"}
_EMAIL = re.compile(r"[^@\s\"'()<>\[\],;:]+@[^@\s\"'()<>\[\],;:]+\.[^\W\d_]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d \-().]{5,}\d(?!\w)")
# Dates, and date-times with a space, look like phone numbers but are not personal.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2})?")
_MIN_PHONE_DIGITS = 7
_REDACTED = "[redacted]"
_PLAIN = (int, float, bool, type(None), date, Decimal, UUID, Enum)


def _phone_or_kept(match: re.Match[str]) -> str:
    found = match.group()
    digits = sum(ch.isdigit() for ch in found)
    if digits < _MIN_PHONE_DIGITS or _DATE.fullmatch(found):
        return found
    return _REDACTED


# Run and flow-run ids: hex groups that a phone pattern would take for digits
# ("12345678-..."); they name no one, and an operator needs them whole.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _scrub_text(text: str) -> str:
    pieces, position = [], 0
    for match in _UUID.finditer(text):
        pieces += [_scrub_piece(text[position : match.start()]), match.group()]
        position = match.end()
    pieces.append(_scrub_piece(text[position:]))
    return "".join(pieces)


def _scrub_piece(text: str) -> str:
    return _PHONE.sub(_phone_or_kept, _EMAIL.sub(_REDACTED, text))


def scrub_text(text: str) -> str:
    """`text` with emails and phone numbers replaced (for lines rendered elsewhere)."""
    return _scrub_text(text)


def _scrub(value: Any) -> Any:
    """The value with emails and phone numbers replaced, looking inside
    containers; an unknown object is scrubbed as its text."""
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {k: _REDACTED if _is_personal(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    return _scrub_text(str(value))


def _is_personal(key: object) -> bool:
    return isinstance(key, str) and key not in _SAFE_KEYS and bool(_PERSONAL_KEYS.search(key))


def redact_personal_data(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if event.get("exc_info"):
        # The renderers would print the traceback (with locals) after this
        # processor ran; as plain text it is scrubbed like any other value.
        event = structlog.processors.format_exc_info(logger, method, event)
    for key, value in list(event.items()):
        if key in _OWN_KEYS:
            continue
        if _is_personal(key):
            event[key] = None if value is None else _REDACTED
        else:
            event[key] = _scrub(value)
    return event


_configured = False


class _LineWriter:
    """Writes each rendered event as a line. Without a file it looks up
    sys.stderr at every event, not once: a test runner or a Prefect worker may
    swap the stream after configuration."""

    def __init__(self, file: TextIO | None) -> None:
        self._file = file

    def msg(self, message: str) -> None:
        print(message, file=self._file or sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


_settings: dict[str, Any] = {}
_sinks: list[Any] = []


def configure(level: str = "INFO", json: bool = False, file: TextIO | None = None) -> None:
    global _configured
    _settings.update(level=level, json=json, file=file)
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            *_sinks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=lambda *_: _LineWriter(file),
        cache_logger_on_first_use=False,
    )
    _configured = True


def json_mode() -> bool:
    """Whether lines are rendered as JSON (--log-json)."""
    return bool(_settings.get("json"))


def add_sink(processor: Any) -> None:
    """Send redacted events elsewhere too (e.g. a Prefect run's log); a sink
    may raise structlog.DropEvent when it has shown the event itself."""
    if processor not in _sinks:
        _sinks.append(processor)
        configure(**_settings) if _settings else configure()


def get_logger(name: str) -> Any:
    if not _configured:
        configure()
    return structlog.get_logger(name)
