"""The sweep's steps as Prefect tasks: one per rule and step, never per
record. The bodies are the plain pipeline functions.

No task caches or persists its result, whatever PREFECT_RESULTS_PERSIST_BY_DEFAULT
says: a plan or an outcome names records (in an erasure, one person's), and
the ledger is the evidence; result storage would be a copy nobody erases."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Connector
from retention.pipeline.apply import RunContext, apply_plan
from retention.pipeline.outcome import RuleOutcome, RunSummary
from retention.pipeline.plan import RulePlan, plan_rule
from retention.pipeline.recover import recover_unfinished
from retention.pipeline.run import Answer, Steps
from retention.policy import Policy, Rule


@task(name="plan-rule", task_run_name="plan {rule.id}", cache_policy=NO_CACHE, persist_result=False)
def plan_rule_task(
    rule: Rule, policy: Policy, connectors: Mapping[str, Connector], now: datetime
) -> RulePlan:
    return plan_rule(rule, policy, connectors, now=now)


@task(
    name="apply-rule", task_run_name="apply {rule.id}", cache_policy=NO_CACHE, persist_result=False
)
def apply_rule_task(
    plan: RulePlan, rule: Rule, connectors: Mapping[str, Connector], ledger: Any, ctx: RunContext
) -> RuleOutcome:
    return apply_plan(plan, rule, connectors, ledger, ctx)


@task(name="recover-unfinished", cache_policy=NO_CACHE, persist_result=False)
def recover_task(ledger: Any, connectors: Mapping[str, Connector]) -> int:
    return recover_unfinished(ledger, connectors)


def prefect_steps(
    ask: Callable[[dict[str, str], list[RulePlan]], Answer] | None,
    publish_plan: Callable[[list[RulePlan], dict[str, str], bool], None],
    publish_summary: Callable[[RunSummary, Any], object],
) -> Steps:
    return Steps(
        plan=plan_rule_task,
        apply=apply_rule_task,
        recover=recover_task,
        publish_plan=publish_plan,
        publish_summary=publish_summary,
        ask=ask,
    )
