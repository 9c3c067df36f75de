"""Plan: what one rule will do, computed before anything is changed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from retention.connector import Connector, Held, Key
from retention.logs import get_logger
from retention.policy import (
    ColumnCondition,
    Policy,
    Rule,
    Scalar,
    SubjectCondition,
    split_name,
)

log = get_logger("retention.plan")


@dataclass
class RulePlan:
    rule_id: str
    system: str
    dataset: str  # name within the system
    action: str
    due: list[Key] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    dataset_rows: int = 0
    undated: int = 0  # records whose clock is unknown: counted, never acted on
    note: str = ""  # why the plan is empty without scanning, e.g. no subjects withdrew
    held_to_change: bool = False  # held records are anonymised (when_held: anonymise)

    @property
    def to_change(self) -> int:
        """Records the run will change: the due ones, and held ones it anonymises."""
        return len(self.due) + (len(self.held) if self.held_to_change else 0)

    @property
    def qualified(self) -> str:
        return f"{self.system}.{self.dataset}"

    @property
    def share(self) -> float:
        return self.to_change / self.dataset_rows if self.dataset_rows else 0.0


def resolve_subjects(rule: Rule, connectors: Mapping[str, Connector]) -> Rule | None:
    """Turn each SubjectCondition into `column in [ids]`, asking the system
    that knows the subjects. None when some condition finds no subject: the
    rule then matches nothing, and no `in ()` is ever sent to a store."""
    where = []
    for cond in rule.due.where:
        if not isinstance(cond, SubjectCondition):
            where.append(cond)
            continue
        source = cond.subjects_from
        system, dataset = split_name(source.dataset)
        ids = connectors[system].subject_values(dataset, source.column, source.where)
        values: list[Scalar] = sorted({str(v) for v in ids if v is not None and str(v).strip()})
        if not values:
            return None
        where.append(ColumnCondition(column=cond.column, op="in", value=values))
    return rule.model_copy(update={"due": rule.due.model_copy(update={"where": where})})


def plan_rule(
    rule: Rule, policy: Policy, connectors: Mapping[str, Connector], *, now: datetime
) -> RulePlan:
    system, dataset = split_name(rule.dataset)
    connector = connectors[system]
    plan = RulePlan(rule.id, system, dataset, rule.action.kind)
    plan.held_to_change = rule.when_held == "anonymise" and rule.held_action is not None
    plan.dataset_rows = connector.count(dataset)
    resolved = resolve_subjects(rule, connectors)
    if resolved is None:
        plan.note = "no subject matches the rule's subject condition"
        log.info("rule planned", rule=rule.id, dataset=rule.dataset, due=0, held=0, note=plan.note)
        return plan
    started = time.monotonic()
    for batch in connector.scan(resolved, now=now):
        plan.due.extend(batch.due)
        plan.held.extend(batch.held)
        plan.undated += batch.undated
    log.info(
        "rule planned",
        rule=rule.id,
        dataset=rule.dataset,
        rows=plan.dataset_rows,
        due=len(plan.due),
        held=len(plan.held),
        undated=plan.undated,
        seconds=round(time.monotonic() - started, 3),
    )
    return plan
