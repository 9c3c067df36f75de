"""Apply: act on a plan in batches, each claimed in the ledger.

Per batch: the connector re-checks and changes the batch, then, before the
change is durable (SQL: inside the transaction, before COMMIT; S3 and
folders: before the first delete), calls back with exactly what it will
have changed, and the intent goes to the ledger. After the commit, the
batch's completion is written together with the next batch's intent (one
ledger commit per batch, completion first). A process killed anywhere
leaves either no intent (nothing was committed) or an open intent that
names, key by key, what the batch changes if it committed: recovery reads
the store and claims exactly what did (pipeline.recover).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_errors

from retention.connector import ApplyResult, Connector, Key, Prepared
from retention.ledger.errors import LedgerError
from retention.ledger.ledger import CompletionArgs, IntentArgs
from retention.logs import get_logger
from retention.pipeline.outcome import RuleOutcome
from retention.pipeline.plan import RulePlan, resolve_subjects
from retention.policy import Action, Rule

log = get_logger("retention.apply")


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class RunContext:
    run_id: str
    policy_hash: str
    policy_name: str
    now: datetime
    batch_size: int
    approved_by: str | None = None
    # A system's own batch size (policy `systems.<name>.batch_size`) where set.
    batch_sizes: Mapping[str, int] = field(default_factory=dict, compare=False)
    # Raises when this run may no longer change anything (its lease was lost).
    still_leased: Callable[[], None] = field(default=_nothing, compare=False)
    # An erasure run: the identities of the people whose records these keys
    # of a dataset are, hashed into the intent, so a lookup by any of a
    # person's identities finds every entry about them (child rows included).
    people_of: Callable[[str, Sequence[Key]], list[str]] | None = field(default=None, compare=False)


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
    outcome.undated = plan.undated
    started = time.monotonic()
    connector = connectors[plan.system]
    held_action = rule.held_action if rule.when_held == "anonymise" else None
    to_do = len(plan.due) + (len(plan.held) if held_action is not None else 0)
    seen = 0
    try:
        # The re-check at apply time sees the subjects as they are now.
        checked = resolve_subjects(rule, connectors) if to_do else None
        if to_do and checked is None:
            outcome.skipped += to_do  # no subject matches any more: nothing is due
            seen += to_do
        if checked is not None and plan.due:
            for result in _batches(plan, rule.action, plan.due, connector, ledger, ctx, checked):
                _count(outcome, rule.action.kind, result)
                seen += _size(result)
        if checked is not None and plan.held and held_action is not None:
            # Held records are re-checked like due ones: still due, still held.
            keys = [h.key for h in plan.held]
            for result in _batches(plan, held_action, keys, connector, ledger, ctx, checked):
                outcome.held_anonymised += len(result.done)
                outcome.skipped += len(result.skipped)
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
        # What committed before the failure stays counted and claimed; a
        # batch whose commit is in doubt keeps its intent open for recovery.
        log.error("rule failed", rule=plan.rule_id, error=type(exc).__name__, reason=str(exc))
        outcome.failed += max(to_do - seen, 0)
        outcome.note = f"{type(exc).__name__}: {exc}"[:300]
    outcome.seconds = round(time.monotonic() - started, 3)
    outcome.status = "failed" if outcome.failed else "done"
    return outcome


def _size(result: ApplyResult) -> int:
    """How many of a batch's keys the result accounts for."""
    return len(result.done) + len(result.kept) + len(result.failed) + len(result.skipped)


@dataclass
class _Claims:
    """The batch boundary: the completion waiting to be written with the
    next intent, so each batch costs one ledger commit."""

    ledger: Any
    pending: CompletionArgs | None = None

    def intent(self, args: IntentArgs) -> int:
        # Handed over before the write: a write that fails may still have
        # committed (its answer lost), so retrying the completion could only
        # fail on the duplicate; recovery settles that batch either way.
        pending, self.pending = self.pending, None
        with _naming_the_ledger():
            seq: int = self.ledger.record_intent(completing=pending, **args)
        return seq

    def flush(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            with _naming_the_ledger():
                self.ledger.record_completion(
                    pending["intent_seq"],
                    done=pending["done"],
                    cascaded=pending.get("cascaded") or {},
                    detached=pending.get("detached") or {},
                    kept=pending.get("kept") or [],
                    failed=pending.get("failed") or [],
                    outcome=pending.get("outcome", "completed"),
                )


@contextmanager
def _naming_the_ledger() -> Iterator[None]:
    """A ledger write that fails says so: raised inside a store's
    transaction, it would otherwise pass for that store's own outage."""
    try:
        yield
    except (sa_errors.OperationalError, sa_errors.InterfaceError) as exc:
        raise LedgerError(
            f"the ledger failed or cannot be reached ({type(exc.orig or exc).__name__}); "
            "a batch it was to record was rolled back or is left for recovery"
        ) from exc


def _batches(
    plan: RulePlan,
    action: Action,
    keys: Sequence[Key],
    connector: Connector,
    ledger: Any,
    ctx: RunContext,
    recheck: Rule,
) -> Iterator[ApplyResult]:
    claims = _Claims(ledger)
    size = ctx.batch_sizes.get(plan.system, ctx.batch_size)
    try:
        for number, batch in enumerate(chunks(keys, size), start=1):
            started = time.monotonic()
            written: list[int] = []

            def record(prepared: Prepared, written: list[int] = written) -> None:
                ctx.still_leased()
                subjects = prepared.subjects
                if subjects is None:
                    subjects = connector.identities(plan.dataset, prepared.changes)
                if ctx.people_of is not None:
                    subjects = [*subjects, *ctx.people_of(plan.qualified, prepared.changes)]
                written.append(
                    claims.intent(
                        IntentArgs(
                            run_id=ctx.run_id,
                            policy_hash=ctx.policy_hash,
                            rule_id=plan.rule_id,
                            system=plan.system,
                            dataset=plan.dataset,
                            action=action.kind,
                            keys=prepared.changes,
                            cascaded=prepared.cascaded,
                            detached=prepared.detached,
                            images=prepared.images,
                            image_columns=sorted(action.fields),
                            subjects=subjects,
                            approved_by=ctx.approved_by,
                        )
                    )
                )

            result = connector.apply(
                plan.dataset, action, batch, now=ctx.now, rule=recheck, record=record
            )
            if written:
                claims.pending = CompletionArgs(
                    intent_seq=written[0],
                    done=result.done,
                    cascaded=result.cascaded,
                    detached=result.detached,
                    kept=result.kept,
                    failed=result.failed,
                    outcome="failed" if result.failed else "completed",
                )
            elif result.kept:
                # The store refused every key before anything changed (e.g.
                # all locked): no intent, but the keeping is evidence.
                ledger.record_kept(
                    run_id=ctx.run_id,
                    policy_hash=ctx.policy_hash,
                    rule_id=plan.rule_id,
                    system=plan.system,
                    dataset=plan.dataset,
                    held=result.kept,
                )
            _log_batch(plan, number, batch, result, started, len(keys), size)
            yield result
    finally:
        # Also when a batch failed: what committed before it is claimed now.
        claims.flush()


def _log_batch(
    plan: RulePlan,
    number: int,
    batch: Sequence[Key],
    result: ApplyResult,
    started: float,
    total: int,
    size: int,
) -> None:
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
        done_so_far=min(number * size, total),
        total=total,
    )


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
