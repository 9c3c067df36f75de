"""The rows of the run's artifacts, shaped for the Prefect UI: each table
narrow enough for a 1,400 px window (the UI cuts wider tables off rather than
wrapping them), so the counts and the words go to separate tables under
stable keys; times in the policy's zone, as the policy's readers think.

Plain functions (no Prefect): tests check the shapes without a server."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime

from retention.ledger.report import Report
from retention.pipeline.outcome import RunSummary
from retention.pipeline.plan import RulePlan
from retention.timezone import policy_zone

PLAN_KEY = "retention-plan"
PLAN_LIMITS_KEY = "retention-plan-limits"
SUMMARY_KEY = "retention-sweep-summary"
REASONS_KEY = "retention-sweep-reasons"
REPORT_KEY = "retention-evidence-report"

# The UI's table: about this many pixels a character of the widest cell (or
# header) of a column, plus the cell's padding. Measured against the cut-off
# the issue reported (the 15-column summary overflowed a 1,400 px window).
PX_PER_CHAR = 8
PX_PER_CELL = 32
UI_WIDTH_PX = 1400


def plan_rows(plans: Sequence[RulePlan], waiting: Mapping[str, str]) -> list[dict[str, object]]:
    return [
        {
            "rule": plan.rule_id,
            "dataset": plan.qualified,
            "action": plan.action,
            "due": len(plan.due),
            "kept_by_hold": len(plan.held),
            "undated": plan.undated,
            "dataset_rows": plan.dataset_rows,
            "share": f"{plan.share:.1%}",
            "needs_approval": limit_names(waiting.get(plan.rule_id, "")),
        }
        for plan in plans
    ]


def limit_names(reason: str) -> str:
    """`max_share`, `max_count` or both: the full sentence is in the limits table."""
    return ", ".join(name for name in ("max_count", "max_share") if name in reason)


def plan_limit_rows(
    plans: Sequence[RulePlan], waiting: Mapping[str, str]
) -> list[dict[str, object]]:
    """Per rule, whether it waits for an operator, and why (the sentence
    names the dataset and both numbers)."""
    return [
        {
            "rule": plan.rule_id,
            "over_limits": waiting.get(plan.rule_id, "") or "within limits",
        }
        for plan in plans
    ]


def summary_rows(summary: RunSummary) -> list[dict[str, object]]:
    # The action is in the plan table; here it would push the table past 1,400 px.
    words = ("dataset", "action", "reason", "approved_by")
    return [
        {k: v for k, v in outcome.as_row().items() if k not in words}
        for outcome in summary.outcomes
    ]


def reason_rows(summary: RunSummary) -> list[dict[str, object]]:
    """The words of the summary (the dataset and the action are the plan
    table's: with them this would not fit). The reason comes last: it is the one cell
    that can be long (a failure's message), and only its tail may run past
    the window's edge."""
    rows = []
    for outcome in summary.outcomes:
        row = outcome.as_row()
        rows.append(
            {
                "rule": row["rule"],
                "status": row["status"],
                "approved_by": row["approved_by"],
                "reason": row["reason"],
            }
        )
    return rows


def width_px(rows: Sequence[Mapping[str, object]]) -> int:
    """The width the UI gives a table of these rows, estimated."""
    if not rows:
        return 0
    columns = list(rows[0])
    widest = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    return sum(w * PX_PER_CHAR + PX_PER_CELL for w in widest)


def local_time(instant: str | None, *, date_only_at_midnight: bool = True) -> str | None:
    """An ISO instant from the ledger (UTC) as the policy's wall clock:
    2028-12-31T22:00:00+00:00 in Helsinki is 2029-01-01."""
    if not instant:
        return instant
    try:
        moment = datetime.fromisoformat(instant)
    except ValueError:
        return instant
    if moment.tzinfo is None:
        return instant
    local = moment.astimezone(policy_zone())
    if date_only_at_midnight and (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{local:%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M:%S %Z}"


def localised(report: Report) -> Report:
    """A copy of the report with its times and hold end dates in the policy's zone."""
    out = copy.deepcopy(report)
    for run in out.runs:
        run.started = local_time(run.started, date_only_at_midnight=False)
        run.ended = local_time(run.ended, date_only_at_midnight=False)
    for rule in out.rules:
        for kept in rule.kept:
            kept.until = local_time(kept.until)
    return out
