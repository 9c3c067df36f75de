"""The operator's approval of a plan over its limits, as a paused flow run's
input form in the Prefect UI. Whatever the answer (approved, refused, no
answer before the deadline), it comes back as an Answer for the ledger."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field

from retention.logs import get_logger
from retention.pipeline.plan import RulePlan
from retention.pipeline.run import Answer

log = get_logger("retention.approval")


class Approval(RunInput):
    approved: bool = Field(
        default=False, description="Switch on to apply the rules listed above (off: skip them)."
    )
    reviewer: str = Field(
        min_length=1,
        max_length=128,
        description="Required: your name. It goes into the ledger with your decision.",
    )
    comment: str = Field(
        default="", max_length=500, description="Why (recorded in the ledger with the decision)."
    )


def describe(waiting: dict[str, str], plans: list[RulePlan], deadline: datetime) -> str:
    lines = [
        "**Approve this retention run?** These rules are over their limits:",
        "",
        "| rule | dataset | action | records | held, anonymised | why it needs approval |",
        "|---|---|---|---|---|---|",
    ]
    for plan in plans:
        if plan.rule_id in waiting:
            held = len(plan.held) if plan.held_to_change else 0
            lines.append(
                f"| `{plan.rule_id}` | {plan.qualified} | {plan.action} | {len(plan.due)} "
                f"| {held} | {waiting[plan.rule_id]} |"
            )
    lines += [
        "",
        "The full plan is the run's `retention-plan` artifact. Deleting a record "
        "also removes the child rows its relations declare.",
        f"Answer before {deadline:%Y-%m-%d %H:%M} UTC; without an answer the rules are skipped.",
        "",
        "Switch *approved* on and give your name as *reviewer* to apply them. "
        "Otherwise they are skipped, the rules that depend on them wait, and the "
        "rest of the run goes on.",
    ]
    return "\n".join(lines)


def ask_operator(waiting: dict[str, str], plans: list[RulePlan], timeout_s: int) -> Answer:
    """Pause until an operator answers or the deadline passes."""
    poll = int(os.environ.get("RETENTION_APPROVAL_POLL_S", "10"))
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(
                description=describe(waiting, plans, deadline), approved=False
            ),
            timeout=timeout_s,
            poll_interval=poll,
        )
    except FlowPauseTimeout:
        log.warning("approval timed out", rules=len(waiting), timeout_s=timeout_s)
        _running_again()
        return Answer("timed-out")
    reviewer = (answer.reviewer or "").strip() if answer is not None else ""
    comment = answer.comment if answer is not None else ""
    if answer is None or not answer.approved or not reviewer:
        # An approval without a name is no approval: the ledger must say who.
        log.warning("approval refused", rules=len(waiting))
        return Answer("refused", reviewer or None, comment)
    log.info("approved", rules=len(waiting), approved_by=reviewer)
    return Answer("approved", reviewer, comment)


def _running_again() -> None:
    """After its pause times out the server would refuse the run any later
    state (it would end Failed, "never resumed", though the rules within
    limits still run): move it back to Running explicitly."""
    run_id = flow_run.id
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Running(), force=True)
