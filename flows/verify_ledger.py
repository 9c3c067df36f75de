"""Walk the evidence ledger's hash chain; fail the run if it does not verify."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from retention.errors import RetentionError
from retention.ledger import Ledger
from retention.runtime import READ_ONLY_KEYS, ledger_url


class LedgerBroken(RetentionError):
    exit_code = 1


@flow(name="verify-ledger")
def verify_ledger() -> int:
    """The number of entries checked; raises LedgerBroken naming the first problems."""
    ledger = Ledger.open(ledger_url(), keys=READ_ONLY_KEYS, current_key_id="read-only")
    try:
        result = ledger.verify()
    finally:
        ledger.close()
    lines = [f"- entry {seq}: {what}" for seq, what in result.problems]
    verdict = "intact" if result.ok else "**does not verify**"
    create_markdown_artifact(
        key="retention-ledger-verification",
        markdown=f"Ledger of {result.entries} entries: {verdict}\n\n" + "\n".join(lines),
    )
    if not result.ok:
        raise LedgerBroken("ledger does not verify:\n" + "\n".join(lines[:20]))
    get_run_logger().info("ledger verifies: %d entries", result.entries)
    return int(result.entries)
