"""One task per step and rule: plan, apply, recover. Never a task per record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Connector
from retention.pipeline.apply import RunContext, apply_plan
from retention.pipeline.outcome import RuleOutcome
from retention.pipeline.plan import RulePlan, plan_rule
from retention.pipeline.recover import recover_unfinished
from retention.policy import Policy, Rule


@task(name="plan-rule", task_run_name="plan {rule.id}", cache_policy=NO_CACHE)
def plan_rule_task(
    rule: Rule, policy: Policy, connectors: Mapping[str, Connector], now: datetime
) -> RulePlan:
    return plan_rule(rule, policy, connectors, now=now)


@task(name="apply-rule", task_run_name="apply {rule.id}", cache_policy=NO_CACHE)
def apply_rule_task(
    plan: RulePlan, rule: Rule, connectors: Mapping[str, Connector], ledger: Any, ctx: RunContext
) -> RuleOutcome:
    return apply_plan(plan, rule, connectors, ledger, ctx)


@task(name="recover-unfinished", cache_policy=NO_CACHE)
def recover_task(
    ledger: Any, policy: Policy, connectors: Mapping[str, Connector], now: datetime
) -> int:
    return recover_unfinished(ledger, policy, connectors, now=now)
