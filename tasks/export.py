"""The WORM copy of each run's ledger segment (RETENTION_EXPORT_BUCKET):
checked before a run changes anything, written after it, and owed until it
is written.

- preflight_export() before the first change: a bucket that cannot take
  the segment stops the run with exit code 2 while nothing has changed.
- export_owed() at the end: this run's segment, then every earlier run's
  still owed (a failed export, a killed run, entries recovery added later).
  A failure is recorded as pending and logged, never raised: the run's
  changes are done and their evidence is in the ledger; the next run tries
  again, and `retention verify` lists what is owed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from connectors.s3.ledger_export import LedgerExportError, check_export_bucket, export_segment
from retention.errors import RetentionError
from retention.ledger.entry import Entry
from retention.ledger.exports import EXPORTED, PENDING
from retention.ledger.keys import KeyRing
from retention.ledger.segment import run_segment
from retention.logs import get_logger

log = get_logger("retention.export")

DEFAULT_RETAIN_DAYS = 3650


class ExportNotReady(RetentionError):
    """The export bucket cannot take a run's segment; nothing was changed."""


@dataclass(frozen=True)
class ExportTarget:
    bucket: str
    endpoint_url: str | None
    retain_days: int


def export_target() -> ExportTarget | None:
    """From the environment; None when no export is configured."""
    bucket = os.environ.get("RETENTION_EXPORT_BUCKET", "").strip()
    if not bucket:
        return None
    days = os.environ.get("RETENTION_EXPORT_RETAIN_DAYS", str(DEFAULT_RETAIN_DAYS)).strip()
    if not days.isdigit() or int(days) < 1:
        raise ExportNotReady(
            f"RETENTION_EXPORT_RETAIN_DAYS: {days!r} must be a whole number of days >= 1"
        )
    endpoint = os.environ.get("RETENTION_EXPORT_ENDPOINT_URL", "").strip() or None
    return ExportTarget(bucket, endpoint, int(days))


def preflight_export() -> None:
    """ExportNotReady (exit code 2) unless the configured export bucket can
    take a segment; call it before anything changes. No-op without export."""
    target = export_target()
    if target is None:
        return
    try:
        check_export_bucket(_client(target), target.bucket)
    except LedgerExportError as exc:
        raise ExportNotReady(
            f"RETENTION_EXPORT_BUCKET: {exc}; nothing was changed. Fix the bucket or unset "
            "RETENTION_EXPORT_BUCKET, then run again"
        ) from None


def export_owed(ledger: Any, run_id: str) -> str | None:
    """Export run_id's segment, then every earlier one owed; return run_id's
    object key, or None (no export configured, or it is pending)."""
    target = export_target()
    if target is None:
        return None
    client = _client(target)
    key = _export(ledger, client, target, run_id)
    for owed in ledger.unexported_runs():
        if owed != run_id:
            _export(ledger, client, target, owed)
    return key


@dataclass
class _Snapshot:
    """The entries read once: the segment and its recorded last seq agree,
    whatever is appended meanwhile."""

    ring: KeyRing
    read: list[Entry]

    def entries(self, run_id: str | None = None) -> list[Entry]:
        return self.read


def _export(ledger: Any, client: Any, target: ExportTarget, run_id: str) -> str | None:
    entries = ledger.entries(run_id)
    if not entries:
        return None
    last_seq = entries[-1].seq
    data = run_segment(_Snapshot(ledger.ring, entries), run_id)
    try:
        key = export_segment(client, target.bucket, run_id, data, retain_days=target.retain_days)
    except (LedgerExportError, ClientError, BotoCoreError) as exc:
        code = _code(exc)
        ledger.record_export(run_id=run_id, status=PENDING, last_seq=last_seq, code=code)
        log.error(
            "ledger segment export pending",
            run_id=run_id,
            bucket=target.bucket,
            error=code,
            note="the next run retries it; `retention verify` lists runs still owed",
        )
        return None
    ledger.record_export(run_id=run_id, status=EXPORTED, last_seq=last_seq, object_key=key)
    log.info("ledger segment exported", run_id=run_id, bucket=target.bucket, object=key)
    return key


def _client(target: ExportTarget) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=target.endpoint_url)


def _code(exc: BaseException) -> str:
    if isinstance(exc, LedgerExportError) and exc.__cause__ is not None:
        return _code(exc.__cause__)
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")[:64]
    return type(exc).__name__


def owed_exports(ledger: Any) -> list[str]:
    """For `retention verify`: runs whose segment was never exported (in
    full), when an export is configured; else none."""
    return ledger.unexported_runs() if os.environ.get("RETENTION_EXPORT_BUCKET") else []


def describe_owed(owed: list[str]) -> str:
    lines = [f"{len(owed)} run(s) whose ledger segment was never exported to the WORM bucket:"]
    lines += [f"  run {run_id}" for run_id in owed]
    lines.append("  (the next sweep retries them; check RETENTION_EXPORT_BUCKET and its logs)")
    return "\n".join(lines)
