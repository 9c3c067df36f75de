"""Publish a run's summary: a table artifact, the ledger report as markdown,
and the run's signed ledger segment to a WORM bucket when one is configured."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from retention.ledger import build_report
from retention.logs import get_logger
from retention.pipeline.outcome import RunSummary, mode_of
from retention.pipeline.plan import RulePlan

log = get_logger("retention.publish")


def publish_plan(plans: list[RulePlan], waiting: dict[str, str], dry_run: bool) -> None:
    """What the run will do, before it does it: the operator's view when
    approving, and the whole result of a dry run. Created in the flow run
    itself (not a task), so the artifact names its flow run."""
    create_table_artifact(
        key="retention-plan",
        table=[
            {
                "rule": plan.rule_id,
                "dataset": plan.qualified,
                "action": plan.action,
                "due": len(plan.due),
                "kept_by_hold": len(plan.held),
                "undated": plan.undated,
                "dataset_rows": plan.dataset_rows,
                "share": f"{plan.share:.1%}",
                "needs_approval": waiting.get(plan.rule_id, ""),
            }
            for plan in plans
        ],
        description="Plan of a dry run" if dry_run else "Plan, computed before any change",
    )


def publish_summary(summary: RunSummary, ledger: Any | None) -> str | None:
    create_table_artifact(
        key="retention-sweep-summary",
        table=[o.as_row() for o in summary.outcomes],
        description=(
            f"Retention sweep {summary.run_id} ({mode_of(summary)}); policy "
            f"{summary.policy_name} sha256:{summary.policy_hash[:12]}"
            + (f". {summary.reason()}" if summary.reason() else "")
        ),
    )
    if ledger is None:
        return None
    report = build_report(ledger.entries(summary.run_id))
    create_markdown_artifact(
        key="retention-evidence-report",
        markdown=report.to_markdown(),
        description=f"Evidence of run {summary.run_id}, built from the ledger alone",
    )
    return export_segment_if_configured(ledger, summary.run_id)


def export_segment_if_configured(ledger: Any, run_id: str) -> str | None:
    """RETENTION_EXPORT_BUCKET names an S3 Object Lock bucket for the WORM
    copy: this run's segment and any earlier one still owed (tasks.export)."""
    from tasks.export import export_owed

    return export_owed(ledger, run_id)
