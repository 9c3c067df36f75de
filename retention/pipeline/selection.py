"""Which rules a run covers and which systems they need."""

from __future__ import annotations

from retention.errors import RetentionError
from retention.policy import Policy, Rule, SubjectCondition, split_name


def select_rules(policy: Policy, ids: list[str] | None) -> list[Rule]:
    enabled = [rule for rule in policy.rules if rule.enabled]
    if not ids:
        return enabled
    known = {rule.id: rule for rule in policy.rules}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise RetentionError(
            f"rules: {', '.join(map(repr, unknown))} not in the policy "
            f"(known: {', '.join(sorted(known))})"
        )
    return [known[i] for i in ids]


def systems_needed(policy: Policy, rules: list[Rule]) -> list[str]:
    names: set[str] = set()
    for rule in rules:
        names.add(split_name(rule.dataset)[0])
        for cond in rule.due.where:
            if isinstance(cond, SubjectCondition):
                names.add(split_name(cond.subjects_from.dataset)[0])
    return sorted(names)
