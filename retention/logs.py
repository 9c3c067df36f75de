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
from collections.abc import MutableMapping
from typing import Any

import structlog

_PERSONAL_KEYS = re.compile(
    r"(email|phone|name|address|identity|identities|subject_value|password|ip)$", re.I
)
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
_EMAIL = re.compile(r"[^@\s\"']+@[^@\s\"']+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d \-]{7,}\d")


def redact_personal_data(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key in _SAFE_KEYS:
            continue
        if _PERSONAL_KEYS.search(key):
            event[key] = "[redacted]"
        elif isinstance(value, str):
            event[key] = _PHONE.sub("[redacted]", _EMAIL.sub("[redacted]", value))
    return event


_configured = False


def configure(level: str = "INFO", json: bool = False) -> None:
    global _configured
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str) -> Any:
    if not _configured:
        configure()
    return structlog.get_logger(name)
