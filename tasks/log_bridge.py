"""Show the pipeline's structlog events in the Prefect UI.

Inside a flow or task run, an event (already redacted) goes to the run's
logger, so an operator watching the run sees per-batch progress; Prefect's
own console handler prints it, so structlog's renderer is skipped. Outside a
run, structlog renders as usual."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from retention import logs

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


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
    run_logger.log(_LEVELS.get(str(event.get("level")), logging.INFO), f"{event['event']} {fields}")
    raise structlog.DropEvent


def install() -> None:
    logs.add_sink(to_prefect_run_log)
