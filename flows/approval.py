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
from retention.policy import Policy
from retention.timezone import policy_zone
from tasks.artifact_tables import PLAN_KEY

log = get_logger("retention.approval")


class Approval(RunInput):
    approved: bool = Field(
        default=False,
        title="Approve",
        description="Switch on to apply the rules listed above (off: skip them).",
    )
    reviewer: str = Field(
        min_length=1,
        max_length=128,
        title="Reviewer (required)",
        description="Required: your name. It goes into the ledger with your decision.",
    )
    comment: str = Field(
        default="",
        max_length=500,
        title="Comment",
        description="Why (recorded in the ledger with the decision).",
    )


def describe(
    waiting: dict[str, str],
    plans: list[RulePlan],
    deadline: datetime,
    policy: Policy | None = None,
) -> str:
    """The form's text. A list, not a table: the Resume dialog is narrow."""
    lines = ["**Approve this retention run?** These rules are over their limits:", ""]
    for plan in plans:
        if plan.rule_id not in waiting:
            continue
        held = f", of them {len(plan.held)} held records anonymised" if plan.held_to_change else ""
        share = f" ({plan.share:.1%} of {plan.dataset_rows} rows)" if plan.dataset_rows else ""
        removes = cascade(policy, plan) if plan.action == "delete" else "none (anonymise)"
        lines += [
            f"- **`{plan.rule_id}`** on {plan.qualified}: "
            f"**{plan.action} {plan.to_change} records**{share}{held}",
            f"  - cascade: {removes}",
            f"  - over: {waiting[plan.rule_id]}",
        ]
    zone = policy_zone()
    lines += [
        "",
        f"The full plan is this run's artifact **`{PLAN_KEY}`** (the run's Artifacts tab), "
        f"published before anything changed.",
        "",
        f"Answer by **{deadline.astimezone(zone):%Y-%m-%d %H:%M %Z}** ({zone}); "
        "without an answer the rules are skipped.",
        "",
        "Switch *Approve* on and give your name as *Reviewer* to apply them. "
        "Otherwise they are skipped, the rules that depend on them wait, and the "
        "rest of the run goes on. Either way the answer, name and comment go to the ledger.",
    ]
    return "\n".join(lines)


def cascade(policy: Policy | None, plan: RulePlan) -> str:
    """What else a delete removes: the relations the policy declares, and
    the rows the database's own foreign keys reach."""
    if policy is None or plan.system not in policy.systems:
        return "child rows of the declared relations and foreign keys"
    system = policy.systems[plan.system]
    if system.kind != "sql":
        return "none (each object goes with all its versions)"
    dataset = system.datasets.get(plan.dataset)
    parts = [
        f"{rel.child} ({'unlinked' if rel.on_delete == 'detach' else 'deleted'})"
        for rel in (dataset.relations if dataset is not None else [])
    ]
    fk = "rows that reference them by foreign key"
    return f"{', '.join(parts)}; {fk}" if parts else f"only {fk}, if any"


def ask_operator(
    waiting: dict[str, str],
    plans: list[RulePlan],
    timeout_s: int,
    policy: Policy | None = None,
) -> Answer:
    """Pause until an operator answers or the deadline passes."""
    poll = int(os.environ.get("RETENTION_APPROVAL_POLL_S", "10"))
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    try:
        answer = pause_flow_run(
            # Only the description as initial data: a field given here loses
            # its title and description in the form. `approved` is off by
            # the model's own default, `reviewer` stays required.
            wait_for_input=Approval.with_initial_data(
                description=describe(waiting, plans, deadline, policy)
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
