"""The operator's approval of a plan over its limits, as a paused flow run's
input form in the Prefect UI."""

from __future__ import annotations

import os

from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from retention.logs import get_logger
from retention.pipeline.plan import RulePlan

log = get_logger("retention.approval")


class Approval(RunInput):
    approved: bool = False
    reviewer: str = ""
    comment: str = ""


def describe(waiting: dict[str, str], plans: list[RulePlan]) -> str:
    lines = ["**Approve this retention run?** These rules are over their limits:", ""]
    for plan in plans:
        if plan.rule_id in waiting:
            lines.append(f"- `{plan.rule_id}` on {plan.qualified}: {waiting[plan.rule_id]}")
    lines += [
        "",
        "Switch *approved* on and give your name as *reviewer*. "
        "Without both, these rules are skipped; the rest of the run goes on.",
    ]
    return "\n".join(lines)


def ask_operator(waiting: dict[str, str], plans: list[RulePlan], timeout_s: int) -> str | None:
    """Pause until an operator answers; the reviewer's name, or None if refused."""
    poll = int(os.environ.get("RETENTION_APPROVAL_POLL_S", "10"))
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(
                description=describe(waiting, plans), approved=False, reviewer=""
            ),
            timeout=timeout_s,
            poll_interval=poll,
        )
    except FlowPauseTimeout:
        log.warning("approval timed out", rules=len(waiting), timeout_s=timeout_s)
        return None
    if answer is None or not answer.approved or not answer.reviewer.strip():
        # An approval without a name is no approval: the ledger must say who.
        log.warning("approval refused", rules=len(waiting))
        return None
    log.info("approved", rules=len(waiting), approved_by=answer.reviewer.strip())
    return answer.reviewer.strip()
