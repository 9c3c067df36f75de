"""--log-json: every line on stderr is a JSON object, inside a Prefect flow
run as outside it, and redaction keeps run ids whole."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import structlog
from prefect import flow, get_run_logger, task
from prefect.logging.handlers import PrefectConsoleHandler

from connectors.sql.errors import SchemaMismatch
from retention import logs
from tasks import log_bridge

RUN_ID = "12345678-1234-4abc-8def-0123456789ab"  # begins with 8 digits, as many do


@pytest.fixture
def json_logs() -> Iterator[None]:
    saved, was_configured, settings = structlog.get_config(), logs._configured, dict(logs._settings)
    formatters = [(h, h.formatter, list(h.filters)) for h in logging.getLogger().handlers]
    logs.configure(json=True)
    try:
        yield
    finally:
        structlog.configure(**saved)
        logs._configured = was_configured
        logs._settings.clear()
        logs._settings.update(settings)
        logs._sinks.clear()
        for handler, formatter, filters in formatters:
            handler.setFormatter(formatter)
            handler.filters[:] = filters


@flow(name="log-json-probe")
def probe(run_id: str) -> None:
    log_bridge.install()
    logs.get_logger("probe").info("batch applied", rule="r1", rows_done=3, run_id=run_id)
    logs.get_logger("probe").info("subject looked up", note="call 040 123 4567")
    get_run_logger().info("a line of Prefect's own for run %s", run_id)


@contextmanager
def prefect_console() -> Iterator[io.StringIO]:
    """What Prefect's console handler prints (to a stream it holds itself)."""
    console = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    assert handlers, "Prefect's console handler is not installed"
    streams = [h.console.file for h in handlers]
    try:
        for handler in handlers:
            handler.console.file = console
        yield console
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.console.file = stream


@pytest.mark.prefect
def test_every_line_inside_a_flow_run_is_json(prefect_harness, json_logs, capsys) -> None:
    run_id = str(uuid.uuid4())
    with prefect_console() as console:
        log_bridge.install()  # as importing it after `--log-json` does in the CLI
        probe(run_id)
    err = capsys.readouterr().err + console.getvalue()
    lines = [line for line in err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # fails on any text line
    events = [p["event"] for p in parsed]
    assert any(e == "batch applied" for e in events), err
    assert any("Beginning flow run" in e or "Finished in state" in e for e in events), err
    assert sum(e == "batch applied" for e in events) == 1  # not printed twice
    assert "040 123 4567" not in err and "[redacted]" in err
    assert run_id in err


@task
def refuse() -> None:
    raise SchemaMismatch("crm.contacts: column 'email' does not exist in the database table")


@flow(name="user-error-probe")
def fails_with_a_user_error() -> None:
    log_bridge.install()
    refuse()


@pytest.mark.prefect
def test_a_user_error_in_a_run_is_one_line_on_the_console_not_a_traceback(
    prefect_harness,
) -> None:
    with prefect_console() as console, pytest.raises(SchemaMismatch):
        fails_with_a_user_error()
    printed = console.getvalue()
    assert "column 'email' does not exist" in printed
    assert "Traceback" not in printed


def test_redaction_keeps_a_run_id_that_begins_with_digits() -> None:
    out = io.StringIO()
    saved, was_configured = structlog.get_config(), logs._configured
    try:
        logs.configure(json=True, file=out)  # type: ignore[arg-type]
        logs.get_logger("t").info("run started", run=RUN_ID, detail=f"run {RUN_ID}; 0401234567")
    finally:
        structlog.configure(**saved)
        logs._configured = was_configured
    line = json.loads(out.getvalue())
    assert line["run"] == RUN_ID
    assert line["detail"] == f"run {RUN_ID}; [redacted]"
