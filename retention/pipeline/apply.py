"""Apply: act on a plan in batches, each between an intent and a completion
entry in the ledger, so that a crash at any point leaves evidence a rerun can
finish (record intent, act and commit, record completion)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.base import ApplyResult, Connector, Key
from retention.ledger.ledger import IntentArgs
from retention.logs import get_logger
from retention.pipeline.outcome import RuleOutcome
from retention.pipeline.plan import RulePlan, resolve_subjects
from retention.policy import Action, Rule

log = get_logger("retention.apply")


@dataclass(frozen=True)
class RunContext:
    run_id: str
    policy_hash: str
    policy_name: str
    now: datetime
    batch_size: int
    approved_by: str | None = None


def chunks(keys: Sequence[Key], size: int) -> Iterator[Sequence[Key]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def apply_plan(
    plan: RulePlan,
    rule: Rule,
    connectors: Mapping[str, Connector],
    ledger: Any,
    ctx: RunContext,
) -> RuleOutcome:
    outcome = RuleOutcome(plan.rule_id, plan.qualified, plan.action, due=len(plan.due))
    outcome.held = len(plan.held)
    started = time.monotonic()
    connector = connectors[plan.system]
    anonymise_held = rule.when_held == "anonymise" and rule.held_action is not None
    to_do = len(plan.due) + (len(plan.held) if anonymise_held else 0)
    seen = 0
    try:
        # The re-check at apply time must see the same resolved subjects as the plan.
        checked = resolve_subjects(rule, connectors) if plan.due else None
        if plan.due and checked is None:
            outcome.skipped += len(plan.due)  # no subject matches any more: nothing is due
            seen += len(plan.due)
        elif plan.due:
            for result in _batches(plan, rule.action, plan.due, connector, ledger, ctx, checked):
                _count(outcome, rule.action.kind, result)
                seen += _size(result)
        if plan.held and anonymise_held:
            assert rule.held_action is not None
            keys = [h.key for h in plan.held]
            for result in _batches(plan, rule.held_action, keys, connector, ledger, ctx, None):
                outcome.held_anonymised += len(result.done)
                outcome.failed += len(result.failed)
                outcome.failures += [reason for _, reason in result.failed][:5]
                seen += _size(result)
        if plan.held:
            ledger.record_kept(
                run_id=ctx.run_id,
                policy_hash=ctx.policy_hash,
                rule_id=plan.rule_id,
                system=plan.system,
                dataset=plan.dataset,
                held=plan.held,
            )
    except Exception as exc:  # noqa: BLE001 - reported in the outcome; other rules go on
        # The failing batch rolled back and its completion says so; the
        # batches after it never ran. What was done before it stays counted.
        log.error("rule failed", rule=plan.rule_id, error=type(exc).__name__)
        outcome.failed += max(to_do - seen, 0)
        outcome.note = f"{type(exc).__name__}: {exc}"[:300]
    outcome.seconds = round(time.monotonic() - started, 3)
    outcome.status = "failed" if outcome.failed else "done"
    return outcome


def _size(result: ApplyResult) -> int:
    """How many of a batch's keys the result accounts for."""
    return len(result.done) + len(result.kept) + len(result.failed) + len(result.skipped)


def _batches(
    plan: RulePlan,
    action: Action,
    keys: Sequence[Key],
    connector: Connector,
    ledger: Any,
    ctx: RunContext,
    recheck: Rule | None,
) -> Iterator[ApplyResult]:
    batches = list(chunks(keys, ctx.batch_size))

    def intent(batch: Sequence[Key]) -> IntentArgs:
        return IntentArgs(
            run_id=ctx.run_id,
            policy_hash=ctx.policy_hash,
            rule_id=plan.rule_id,
            system=plan.system,
            dataset=plan.dataset,
            action=action.kind,
            keys=list(batch),
            # Hashed by the ledger, so that a person's email later finds this batch.
            subjects=connector.identities(plan.dataset, batch),
            approved_by=ctx.approved_by,
        )

    seq = ledger.record_intent(**intent(batches[0])) if batches else None
    for number, batch in enumerate(batches, start=1):
        started = time.monotonic()
        try:
            result = connector.apply(plan.dataset, action, batch, now=ctx.now, rule=recheck)
        except Exception as exc:
            # The batch's transaction rolled back: nothing of it changed.
            ledger.record_completion(
                seq,
                done=[],
                cascaded={},
                kept=[],
                failed=[(k, type(exc).__name__) for k in batch],
                outcome="failed",
            )
            log.error("batch failed", rule=plan.rule_id, batch=number, error=type(exc).__name__)
            raise
        # The next batch's intent goes in the same ledger transaction as this
        # batch's completion: one commit per boundary, still before it acts.
        following = batches[number] if number < len(batches) else None
        seq = ledger.record_completion(
            seq,
            done=result.done,
            cascaded=result.cascaded,
            kept=result.kept,
            failed=result.failed,
            outcome="failed" if result.failed else "completed",
            next_intent=intent(following) if following is not None else None,
        )
        seconds = max(time.monotonic() - started, 1e-9)
        changed = len(result.done) + sum(len(v) for v in result.cascaded.values())
        log.info(
            "batch applied",
            rule=plan.rule_id,
            dataset=plan.qualified,
            batch=number,
            rows_seen=len(batch),
            rows_changed=changed,
            skipped=len(result.skipped),
            failed=len(result.failed),
            rows_per_s=round(changed / seconds, 1),
            done_so_far=min(number * ctx.batch_size, len(keys)),
            total=len(keys),
        )
        yield result


def _count(outcome: RuleOutcome, kind: str, result: ApplyResult) -> None:
    if kind == "delete":
        outcome.deleted += len(result.done)
    else:
        outcome.anonymised += len(result.done)
    outcome.cascaded += sum(len(v) for v in result.cascaded.values())
    outcome.locked += len(result.kept)
    outcome.skipped += len(result.skipped)
    outcome.failed += len(result.failed)
    outcome.failures += [reason for _, reason in result.failed][: max(0, 5 - len(outcome.failures))]
