"""Scale-out of one rule: its planned keys split into contiguous key ranges
that are applied in parallel, as Prefect tasks on a task runner (a Dask
cluster given by its address, or threads of the flow's own worker).

What keeps this as safe as one rule applied in one process:
- the plan is made once, in the flow; ranges are slices of its key list, so
  two ranges never share a key, and a rule whose deletes reach rows through a
  link table (two parents can share a child) is never split;
- each range is an ordinary `apply_plan` over its slice: intent in the ledger
  before its batch's change is durable, completion after, one ledger (each
  range opens the same ledger URL; appends from many processes make one
  chain);
- the run keeps the applying lease in the flow process; before each batch's
  intent a range renews it under the run's id and stops (LeaseLost) if it is
  no longer the run's;
- a range that fails leaves its open intents for the run's own recovery,
  which settles them key by key after the rules ran.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from connectors.base import Connector
from retention.ledger import lease
from retention.pipeline.apply import RunContext, apply_plan
from retention.pipeline.outcome import RuleOutcome
from retention.pipeline.plan import RulePlan
from retention.pipeline.run import LeaseLost
from retention.policy import Policy, Rule
from tasks.setup import close_systems, load_checked_policy, open_ledger, open_systems

Apply = Callable[[RulePlan, Rule, Mapping[str, Connector], Any, RunContext], RuleOutcome]


def _unchecked() -> None:
    """Stands in for the flow's lease check while a context travels to a
    worker (the flow's check holds a thread; the range makes its own)."""
    return None


@dataclass(frozen=True)
class ScaleOut:
    """How a rule's key ranges run: `ranges` at most, on the Dask cluster at
    `dask_address`, or on threads of this worker when there is none."""

    policy_path: str
    ranges: int
    dask_address: str | None = None

    def runner(self) -> TaskRunner[Any]:
        if self.dask_address:
            from prefect_dask import DaskTaskRunner

            return DaskTaskRunner(address=self.dask_address)
        return ThreadPoolTaskRunner(max_workers=self.ranges)


def split(plan: RulePlan, ranges: int, batch_size: int) -> list[RulePlan]:
    """Contiguous slices of the plan's keys on batch boundaries, at most
    `ranges` of them. The held records, the undated count and the plan's
    note stay with the first slice, so the parts add up to the whole."""
    batches = math.ceil(len(plan.due) / batch_size) if plan.due else 0
    parts = max(1, min(ranges, batches))
    per_part = math.ceil(batches / parts) * batch_size if batches else 0
    slices = [plan.due[i : i + per_part] for i in range(0, len(plan.due), per_part or 1)]
    slices = slices or [[]]
    return [
        replace(
            plan,
            due=list(keys),
            held=plan.held if i == 0 else [],
            undated=plan.undated if i == 0 else 0,
            held_to_change=plan.held_to_change if i == 0 else False,
        )
        for i, keys in enumerate(slices)
    ]


def splittable(policy: Policy, plan: RulePlan, rule: Rule) -> bool:
    """Only SQL tables, and only when no delete reaches a row that another
    parent can share (a `through` link table, at any depth)."""
    system = policy.systems.get(plan.system)
    if system is None or system.kind != "sql":
        return False
    if rule.action.kind != "delete":
        return True
    seen: set[str] = set()
    todo = [plan.dataset]
    while todo:
        name = todo.pop()
        if name in seen or name not in system.datasets:
            continue
        seen.add(name)
        for relation in system.datasets[name].relations:
            if relation.through is not None:
                return False
            todo.append(relation.child)
    return True


def merge(plan: RulePlan, parts: list[RuleOutcome]) -> RuleOutcome:
    total = RuleOutcome(plan.rule_id, plan.qualified, plan.action, due=len(plan.due))
    counts = ("deleted", "anonymised", "cascaded", "held", "held_anonymised", "locked")
    for part in parts:
        for name in (*counts, "undated", "skipped", "failed"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.failures += part.failures[: max(0, 5 - len(total.failures))]
        total.note = total.note or part.note
        total.seconds = max(total.seconds, part.seconds)
    total.status = "failed" if total.failed or any(p.status == "failed" for p in parts) else "done"
    return total


@task(name="apply-key-range", task_run_name="apply {rule.id} range {number}", cache_policy=NO_CACHE)
def apply_range_task(
    policy_path: str, rule: Rule, plan: RulePlan, ctx: RunContext, number: int
) -> RuleOutcome:
    """One key range of one rule, wherever the runner puts it: its own
    connection to the rule's system and to the ledger, the run's lease
    checked before every batch."""
    del number  # in the task run's name only
    loaded = load_checked_policy(policy_path, [plan.system])
    connectors = open_systems(loaded, [plan.system])
    ledger = open_ledger(loaded)
    try:

        def still_leased() -> None:
            if not lease.renew(ledger.engine, ctx.run_id, lease.ttl_s()):
                raise LeaseLost("the applying lease is no longer this run's; range stopped")

        return apply_plan(plan, rule, connectors, ledger, replace(ctx, still_leased=still_leased))
    finally:
        close_systems(connectors)
        ledger.close()


def ranged_apply(scale: ScaleOut, policy: Policy, single: Apply) -> Apply:
    """An apply step that splits a rule bigger than one batch into key
    ranges run in parallel, and applies any other rule with `single`."""

    def apply(
        plan: RulePlan,
        rule: Rule,
        connectors: Mapping[str, Connector],
        ledger: Any,
        ctx: RunContext,
    ) -> RuleOutcome:
        parts = split(plan, scale.ranges, ctx.batch_sizes.get(plan.system, ctx.batch_size))
        if len(parts) < 2 or not splittable(policy, plan, rule):
            return single(plan, rule, connectors, ledger, ctx)
        ctx.still_leased()
        travelling = replace(ctx, still_leased=_unchecked)
        with scale.runner() as runner:
            futures = [
                runner.submit(
                    apply_range_task,
                    parameters={
                        "policy_path": scale.policy_path,
                        "rule": rule,
                        "plan": part,
                        "ctx": travelling,
                        "number": number,
                    },
                )
                for number, part in enumerate(parts, start=1)
            ]
            outcomes = [_outcome(part, future) for part, future in zip(parts, futures, strict=True)]
        return merge(plan, outcomes)

    return apply


def _outcome(part: RulePlan, future: Any) -> RuleOutcome:
    """A range's outcome; a range that crashed counts its keys as failed
    (its open intents, if any, are settled by the run's recovery)."""
    try:
        result = future.result()
    except Exception as exc:  # noqa: BLE001 - the other ranges' work still counts
        failed = RuleOutcome(part.rule_id, part.qualified, part.action, status="failed")
        failed.held, failed.undated, failed.failed = len(part.held), part.undated, part.to_change
        failed.note = f"key range failed: {type(exc).__name__}: {exc}"[:300]
        return failed
    assert isinstance(result, RuleOutcome)
    return result
