"""Show the pipeline's structlog events in the Prefect UI.

Inside a flow or task run, an event (already redacted) goes to the run's
logger, so an operator watching the run sees per-batch progress. In text
mode Prefect's own console handler prints it, so structlog's renderer is
skipped. With --log-json, structlog renders it as a JSON line and Prefect's
console prints only its own records, as JSON lines too: a log shipper reading
stderr gets JSON and nothing else. Outside a run, structlog renders as usual."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import structlog
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.logging.handlers import PrefectConsoleHandler

from retention import logs
from retention.errors import RetentionError

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# Set on records this module hands to Prefect, so the console can tell them apart.
_OURS = "retention_event"


def to_prefect_run_log(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    try:
        run_logger = get_run_logger()
    except MissingContextError:
        return event
    fields = " ".join(
        f"{k}={v}" for k, v in event.items() if k not in ("event", "level", "timestamp")
    )
    level = _LEVELS.get(str(event.get("level")), logging.INFO)
    run_logger.log(level, f"{event['event']} {fields}", extra={_OURS: True})
    if logs.json_mode():
        return event  # the UI has it; structlog prints it as JSON
    raise structlog.DropEvent


class JsonLineFormatter(logging.Formatter):
    """Prefect's own records (flow and task run states...) as JSON lines with
    the keys structlog's lines have, scrubbed as structlog's are."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "event": logs.scrub_text(record.getMessage()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
        }
        for name in ("flow_run_id", "task_run_id", "flow_run_name", "task_run_name"):
            if getattr(record, name, None):
                line[name] = str(getattr(record, name))
        if record.exc_info:
            line["exception"] = logs.scrub_text(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def _not_ours(record: logging.LogRecord) -> bool:
    return not getattr(record, _OURS, False)


def _without_user_error_traceback(record: logging.LogRecord) -> bool:
    """A failed run's record on the console without its traceback when the
    error is one a user acts on (a RetentionError says what and where; the
    CLI prints it as an `error:` line). The run logger's own API handler ran
    first, so the run's log in the UI keeps the traceback."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, RetentionError):
        record.exc_info, record.exc_text = None, None
    return True


def _quiet_console() -> None:
    for handler in logging.getLogger().handlers:
        wanted = isinstance(handler, PrefectConsoleHandler)
        if wanted and _without_user_error_traceback not in handler.filters:
            handler.addFilter(_without_user_error_traceback)


def _json_console() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setFormatter(JsonLineFormatter())
            if _not_ours not in handler.filters:
                handler.addFilter(_not_ours)


def install() -> None:
    logs.add_sink(to_prefect_run_log)
    _quiet_console()
    if logs.json_mode():
        _json_console()


# Prefect logs a run's first lines before the flow body calls install(): with
# --log-json (configured before this module is imported) they are JSON too.
_quiet_console()
if logs.json_mode():
    _json_console()
