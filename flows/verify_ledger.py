"""Walk the evidence ledger's hash chain; fail the run if it does not verify.

The same verify as `retention verify` (tasks.verify.verify_ledger_at): with
the policy's hash key it reads only the entries after the newest signed
checkpoint and signs a new one where it ended, so a nightly run costs what
the night added, not the ledger's size; `full` re-reads every entry. Without
the key it walks everything and signs nothing."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

# The sweep's default policy: the verify must find the ledger the sweep
# wrote, and sign with the same key.
from flows.nightly_sweep import DEFAULT_POLICY
from retention.errors import RetentionError
from tasks.verify import verify_ledger_at


class LedgerBroken(RetentionError):
    exit_code = 1


@flow(name="verify-ledger")
def verify_ledger(policy: str = DEFAULT_POLICY, full: bool = False) -> int:
    """Verify the ledger's hash chain; raises LedgerBroken naming the first problems.

    Returns the number of entries read.

    Args:
        policy: The policy file, relative to the project folder (RETENTION_HOME):
            where its ledger is, and the hash key that signs checkpoints.
        full: Re-read every entry, not only those after the last signed
            checkpoint (finds a change made behind the ledger's back before it).
    """
    result, ledger, signed = verify_ledger_at(policy, full=full)
    ledger.close()
    if not signed:
        how = "no hash key: walked the whole chain, no checkpoint kept"
    elif result.started_after:
        how = f"from the checkpoint at entry {result.started_after}"
    else:
        how = "from the first entry"
    lines = [f"- entry {seq}: {what}" for seq, what in result.problems]
    verdict = "intact" if result.ok else "**does not verify**"
    create_markdown_artifact(
        key="retention-ledger-verification",
        markdown=f"{result.entries} entries read ({how}): {verdict}\n\n" + "\n".join(lines),
    )
    if not result.ok:
        raise LedgerBroken("ledger does not verify:\n" + "\n".join(lines[:20]))
    logger = get_run_logger()
    if not signed:
        logger.warning("ledger verify: %s", how)
    logger.info("ledger verifies: %d entries read, %s", result.entries, how)
    return int(result.entries)
