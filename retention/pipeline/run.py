"""One sweep, start to end, as a plain function: the sequence the flow, the
CLI and the tests all run.

    take the lease -> begin the run -> recover dead runs' batches -> plan each
    rule -> guard (limits; ask an operator) -> apply each rule in the derived
    order, holding back any rule whose prerequisite did not complete ->
    recover this run's own batches in doubt -> end the run -> publish

`Steps` says how each step runs: plain calls by default; the Prefect flow
passes task-wrapped steps and its approval form, so the UI shows them.
Whatever happens after the run began, the ledger gets its end (completed,
incomplete, refused, failed or cancelled) and the lease is released.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from retention.connector import Connector, Key
from retention.errors import RetentionError
from retention.logs import get_logger
from retention.pipeline.apply import RunContext, apply_plan
from retention.pipeline.guard import over_limits
from retention.pipeline.order import blocked_by, prerequisites
from retention.pipeline.outcome import RuleOutcome, RunSummary
from retention.pipeline.plan import RulePlan, plan_rule
from retention.pipeline.recover import recover_unfinished
from retention.policy import Policy, Rule

log = get_logger("retention.sweep")


@dataclass(frozen=True)
class Answer:
    """An operator's answer to a plan over its limits."""

    decision: str  # approved | refused | timed-out | cancelled | not-asked
    reviewer: str | None = None
    comment: str = ""


def _plan(rule: Rule, policy: Policy, connectors: Mapping[str, Connector], now: datetime) -> Any:
    return plan_rule(rule, policy, connectors, now=now)


def _ignore(*_args: Any) -> None:
    return None


@dataclass(frozen=True)
class Steps:
    plan: Callable[[Rule, Policy, Mapping[str, Connector], datetime], RulePlan] = _plan
    apply: Callable[[RulePlan, Rule, Mapping[str, Connector], Any, RunContext], RuleOutcome] = (
        apply_plan
    )
    recover: Callable[[Any, Mapping[str, Connector]], int] = recover_unfinished
    publish_plan: Callable[[list[RulePlan], dict[str, str], bool], None] = _ignore
    publish_summary: Callable[[RunSummary, Any], object] = _ignore
    # None: nobody to ask (a terminal); over-limit rules wait unless approved_by.
    ask: Callable[[dict[str, str], list[RulePlan]], Answer] | None = None


@dataclass
class SweepArgs:
    policy: Policy
    policy_hash: str
    run_id: str
    now: datetime
    rules: Sequence[Rule]
    dry_run: bool = False
    approved_by: str | None = None
    trigger: str = "manual"
    lease_wait_s: float = 0.0
    steps: Steps = field(default_factory=Steps)
    # Called with (ledger, summary) after the rules, before the run ends:
    # an erasure run writes its per-request entries here.
    after_rules: Callable[[Any, RunSummary], None] | None = None
    # An erasure run: the people whose records keys of a dataset are (RunContext).
    people_of: Callable[[str, Sequence[Key]], list[str]] | None = None


class LeaseLost(RetentionError):
    exit_code = 1


def sweep(args: SweepArgs, connectors: Mapping[str, Connector], ledger: Any | None) -> RunSummary:
    """Run one sweep; `ledger` is None only for a dry run."""
    policy, steps = args.policy, args.steps
    summary = RunSummary(args.run_id, policy.name, args.policy_hash, args.dry_run)
    if ledger is None and not args.dry_run:
        raise RetentionError("a sweep that changes records needs the ledger")
    heartbeat = None
    if ledger is not None:
        holder = f"{args.trigger}, pid {os.getpid()} on {socket.gethostname()}"
        taken = ledger.acquire_lease(args.run_id, holder, wait_s=args.lease_wait_s)
        heartbeat = ledger.heartbeat(args.run_id)
    log.info(
        "run started",
        run_id=args.run_id,
        policy_name=policy.name,
        policy=args.policy_hash[:12],
        rules=len(args.rules),
        dry_run=args.dry_run,
    )
    try:
        if ledger is not None:
            ledger.begin_run(
                run_id=args.run_id,
                policy_hash=args.policy_hash,
                policy_name=policy.name,
                trigger=args.trigger,
                dry_run=args.dry_run,
            )
            if taken.previous:
                ledger.record_takeover(run_id=args.run_id, previous=taken.previous)
        try:
            _run_rules(args, summary, connectors, ledger, heartbeat)
            if ledger is not None and args.after_rules is not None:
                args.after_rules(ledger, summary)
        except BaseException as exc:
            summary.error = f"{type(exc).__name__}: {exc}"[:300]
            if ledger is not None:
                _end(ledger, summary, cancelled=_is_cancel(exc))
            raise
        if ledger is not None:
            _end(ledger, summary, cancelled=False)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        if ledger is not None:
            _release(ledger, args.run_id)
    steps.publish_summary(summary, ledger)
    return summary


def _run_rules(
    args: SweepArgs,
    summary: RunSummary,
    connectors: Mapping[str, Connector],
    ledger: Any | None,
    heartbeat: Any | None,
) -> None:
    policy, steps = args.policy, args.steps
    if ledger is not None:
        summary.recovered = steps.recover(ledger, connectors)
    plans: dict[str, RulePlan] = {}
    failed_plans: dict[str, RuleOutcome] = {}
    for rule in args.rules:
        try:
            plans[rule.id] = steps.plan(rule, policy, connectors, args.now)
        except Exception as exc:  # noqa: BLE001 - the rule fails, the run goes on
            log.error("plan failed", rule=rule.id, error=type(exc).__name__, reason=str(exc))
            failed_plans[rule.id] = _failed_plan(rule, exc)
    waiting = {
        rule.id: reason
        for rule in args.rules
        if rule.id in plans
        and (reason := over_limits(plans[rule.id], rule.limits or policy.settings.limits))
    }
    steps.publish_plan(list(plans.values()), waiting, args.dry_run)
    approver = _approval(args, summary, plans, waiting, ledger)

    def still_leased() -> None:
        if heartbeat is not None and heartbeat.lost:
            raise LeaseLost("the applying lease was lost (expired and taken); batch not changed")

    ctx = RunContext(
        args.run_id,
        args.policy_hash,
        policy.name,
        args.now,
        policy.settings.batch_size,
        still_leased=still_leased,
        people_of=args.people_of,
        batch_sizes={n: s.batch_size for n, s in policy.systems.items() if s.batch_size},
    )
    needs = prerequisites(policy)
    selected = {rule.id for rule in args.rules}
    completed: set[str] = set()
    for rule in args.rules:
        if rule.id in failed_plans:
            summary.outcomes.append(failed_plans[rule.id])
            continue
        plan = plans[rule.id]
        blocked = blocked_by(rule.id, needs, completed)
        if args.dry_run:
            outside = [b for b in blocked if b not in selected]
            note = f"would wait: needs {', '.join(outside)}" if outside else plan.note
            outcome = _unapplied(plan, "dry-run", note)
        elif blocked:
            outcome = _unapplied(plan, "waiting", f"waiting: needs {', '.join(blocked)}")
            log.warning("rule waiting", rule=rule.id, needs=blocked)
        elif rule.id in waiting and not approver:
            outcome = _unapplied(plan, "not-approved", waiting[rule.id])
        else:
            rule_ctx = replace(ctx, approved_by=approver) if rule.id in waiting else ctx
            outcome = steps.apply(plan, rule, connectors, ledger, rule_ctx)
            outcome.approved_by = rule_ctx.approved_by
            if outcome.status == "done" and not outcome.failed:
                completed.add(rule.id)
        summary.outcomes.append(outcome)
    if ledger is not None and any(o.status == "failed" for o in summary.outcomes):
        # A batch whose commit was in doubt (a dropped connection) is settled
        # now, if its store answers again: what committed is claimed at once.
        try:
            summary.recovered += steps.recover(ledger, connectors)
        except Exception as exc:  # noqa: BLE001 - the ledger is down too: the next run settles it
            log.error("batches in doubt left for the next run", error=type(exc).__name__)


def _approval(
    args: SweepArgs,
    summary: RunSummary,
    plans: Mapping[str, RulePlan],
    waiting: dict[str, str],
    ledger: Any | None,
) -> str | None:
    """The reviewer who approved the over-limit rules, or None; the answer,
    whatever it is, goes to the ledger."""
    if not waiting or args.dry_run:
        return None
    if args.approved_by:
        answer = Answer("approved", args.approved_by, "approved when the run was started")
    elif args.steps.ask is not None:
        try:
            answer = args.steps.ask(waiting, list(plans.values()))
        except BaseException as exc:
            if ledger is not None and _is_cancel(exc):
                ledger.record_decision(
                    run_id=args.run_id, decision="cancelled", rules=sorted(waiting)
                )
            raise
    else:
        answer = Answer("not-asked")
    summary.decision = answer.decision
    if ledger is not None:
        ledger.record_decision(
            run_id=args.run_id,
            decision=answer.decision,
            rules=sorted(waiting),
            reviewer=answer.reviewer,
            comment=answer.comment,
        )
    approved = answer.decision == "approved" and answer.reviewer and answer.reviewer.strip()
    return answer.reviewer.strip() if approved and answer.reviewer else None


def _end(ledger: Any, summary: RunSummary, *, cancelled: bool) -> None:
    status = "cancelled" if cancelled else summary.status
    try:
        ledger.end_run(
            run_id=summary.run_id,
            summary=summary.totals(),
            status=status,
            reason=summary.reason(),
            rules={o.rule_id: o.status for o in summary.outcomes},
            undated={o.rule_id: o.undated for o in summary.outcomes if o.undated},
            reasons={o.rule_id: o.note for o in summary.outcomes if o.status == "failed"},
        )
    except Exception as exc:  # noqa: BLE001 - the run's own error matters more
        log.error("run end not recorded", run_id=summary.run_id, error=type(exc).__name__)


def _release(ledger: Any, run_id: str) -> None:
    try:
        ledger.release_lease(run_id)
    except Exception as exc:  # noqa: BLE001 - it expires on its own
        log.warning("lease not released; it expires", run_id=run_id, error=type(exc).__name__)


def _is_cancel(exc: BaseException) -> bool:
    return (
        isinstance(exc, KeyboardInterrupt)
        or "Cancel" in type(exc).__name__
        or (type(exc).__name__ in ("Abort", "TerminationSignal"))
    )


def _failed_plan(rule: Rule, exc: Exception) -> RuleOutcome:
    outcome = RuleOutcome(rule.id, rule.dataset, rule.action.kind, status="failed")
    outcome.note = f"plan failed: {type(exc).__name__}: {exc}"[:300]
    return outcome


def _unapplied(plan: RulePlan, status: str, note: str = "") -> RuleOutcome:
    return RuleOutcome(
        plan.rule_id,
        plan.qualified,
        plan.action,
        due=len(plan.due),
        held=len(plan.held),
        undated=plan.undated,
        status=status,
        note=note or plan.note,
    )
