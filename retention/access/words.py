"""A rule's conditions as a person reads them: `relationship_status is
former`, not a data structure."""

from __future__ import annotations

from collections.abc import Sequence

from retention.policy import ColumnCondition, Condition, RelatedCondition, SubjectCondition

_OPS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "is_null": "is empty",
    "not_null": "is set",
    "lt": "is before / below",
    "le": "is at most",
    "gt": "is after / above",
    "ge": "is at least",
}


def conditions(where: Sequence[Condition | ColumnCondition | RelatedCondition]) -> str:
    return " and ".join(condition(c) for c in where)


def condition(cond: Condition | ColumnCondition | RelatedCondition) -> str:
    if isinstance(cond, ColumnCondition):
        value = cond.value
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        tail = "" if shown is None else f" {shown}"
        return f"{cond.column} {_OPS[cond.op]}{tail}"
    if isinstance(cond, RelatedCondition):
        inner = f" where {conditions(cond.where)}" if cond.where else ""
        return f"{'a' if cond.exists else 'no'} related {cond.related} record{inner}"
    assert isinstance(cond, SubjectCondition)
    source = cond.subjects_from
    inner = f" where {conditions(source.where)}" if source.where else ""
    return f"{cond.column} names someone in {source.dataset}{inner}"
