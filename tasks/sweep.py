"""A whole sweep from a policy file: load and check the policy, open the
systems and the ledger, run retention.pipeline.run.sweep, close everything.
The CLI calls it directly (no Prefect server needed); the flow calls it
with Prefect steps, so each rule's plan and apply show as tasks in the UI."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from connectors.base import Connector
from retention.ledger import Ledger
from retention.logs import get_logger
from retention.pipeline.erase import erase
from retention.pipeline.outcome import RunSummary
from retention.pipeline.run import Steps, SweepArgs, sweep
from retention.pipeline.selection import select_rules, systems_needed
from retention.pipeline.suppression import returned
from retention.policy_loader import LoadedPolicy
from tasks.export import export_owed, preflight_export
from tasks.setup import close_systems, load_checked_policy, open_ledger, open_systems

log = get_logger("retention.sweep")


def run_sweep(
    policy: str,
    *,
    dry_run: bool = False,
    rules: Sequence[str] | None = None,
    as_of: datetime | None = None,
    approved_by: str | None = None,
    run_id: str | None = None,
    trigger: str = "manual",
    lease_wait_s: float = 0.0,
    steps: Steps | None = None,
) -> RunSummary:
    loaded = load_checked_policy(policy)
    selected = select_rules(loaded.policy, list(rules) if rules else None)
    connectors = open_systems(loaded, systems_needed(loaded.policy, selected))
    ledger: Ledger | None = None
    try:
        if not dry_run:
            preflight_export()  # a WORM copy that cannot be written stops the run first
        ledger = None if dry_run else open_ledger(loaded)
        args = SweepArgs(
            policy=loaded.policy,
            policy_hash=loaded.sha256,
            run_id=run_id or str(uuid.uuid4()),
            now=as_of or datetime.now(UTC),
            rules=selected,
            dry_run=dry_run,
            approved_by=approved_by,
            trigger=trigger,
            lease_wait_s=lease_wait_s,
            steps=steps or plain_steps(),
        )
        summary = sweep(args, connectors, ledger)
        if ledger is not None and not rules:
            try:
                honour_suppressions(loaded, connectors, ledger, args)
            except Exception as exc:  # noqa: BLE001 - the run's own outcome must still be told
                log.error("suppression list not honoured; the next run does it",
                          error=type(exc).__name__)  # fmt: skip
        return summary
    finally:
        close_systems(connectors)
        if ledger is not None:
            ledger.close()


def honour_suppressions(
    loaded: LoadedPolicy, connectors: dict[str, Connector], ledger: Ledger, args: SweepArgs
) -> None:
    """After a full sweep: people on the suppression list who are back with
    marketing records have their withdrawal applied again, as requests of
    their own (each with a certificate), in a run of its own."""
    tag = f"suppressed-{args.now:%Y%m%d}-{args.run_id[:8]}"
    requests = returned(ledger, connectors, loaded.policy, now=args.now, run_tag=tag)
    if not requests:
        return
    log.warning("suppressed people are back", people=len(requests))
    erase(
        requests,
        loaded.policy,
        loaded.sha256,
        connectors,
        ledger,
        replace(args, run_id=str(uuid.uuid4()), trigger="suppression-list"),
    )


def plain_steps() -> Steps:
    """The steps of a run outside Prefect: plain calls, and the run's ledger
    segment exported to the WORM bucket at its end (when one is configured)."""

    def export(summary: RunSummary, ledger: Ledger | None) -> None:
        if ledger is not None and not summary.dry_run:
            export_owed(ledger, summary.run_id)

    return Steps(publish_summary=export)
