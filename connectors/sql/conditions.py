"""WHERE clauses from the policy's structured conditions.

Every value is checked against its column's type before any query runs (see
sql_values), every column against the real table, so a typo or a wrong type
is an error naming the field, never a silently different set of rows.
`ne` and `not_in` keep SQL's meaning: a NULL column matches neither, which
errs on the side of not acting on a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

import sqlalchemy as sa

from connectors.sql.clock import older_than
from connectors.sql.errors import ConditionError
from connectors.sql.graph import Graph, find_paths
from connectors.sql.paths import reach
from connectors.sql.reflect import column_of
from connectors.sql.values import coerce
from retention.policy import ColumnCondition, Condition, Due, RelatedCondition

Clause = sa.ColumnElement[bool]


def column_clause(table: sa.FromClause, cond: ColumnCondition, where: str) -> Clause:
    column = column_of(table, cond.column, where)
    label = f"{where}: condition on {cond.column!r} ({cond.op})"
    if cond.op == "is_null":
        return column.is_(None)
    if cond.op == "not_null":
        return column.is_not(None)
    if cond.op in ("in", "not_in"):
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        coerced = [coerce(v, column, label) for v in values]
        return column.in_(coerced) if cond.op == "in" else column.not_in(coerced)
    value = coerce(cond.value, column, label)
    compare = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "lt": column.__lt__,
        "le": column.__le__,
        "gt": column.__gt__,
        "ge": column.__ge__,
    }[cond.op]
    return compare(value)


def condition_clauses(
    graph: Graph, node: str, table: sa.FromClause, conditions: Sequence[Condition]
) -> list[Clause]:
    where = graph.qualified(node)
    clauses: list[Clause] = []
    for cond in conditions:
        if isinstance(cond, ColumnCondition):
            clauses.append(column_clause(table, cond, where))
        elif isinstance(cond, RelatedCondition):
            clauses.append(related_clause(graph, node, table, cond))
        else:
            raise ConditionError(
                f"{where}: a subject condition must be resolved into an `in` condition "
                "before it reaches the SQL connector"
            )
    return clauses


def related_clause(graph: Graph, node: str, table: sa.FromClause, cond: RelatedCondition) -> Clause:
    """EXISTS (or NOT EXISTS) a row of `cond.related`, linked by relations, matching its `where`."""
    found = []
    for path in find_paths(graph, node, cond.related):
        froms, links, last = reach(graph, table, path)
        inner = condition_clauses(graph, cond.related, last, cond.where)
        found.append(sa.select(sa.literal(1)).select_from(*froms).where(*links, *inner).exists())
    anywhere = sa.or_(*found)
    return anywhere if cond.exists else sa.not_(anywhere)


def due_clauses(
    graph: Graph, node: str, table: sa.FromClause, due: Due, now: datetime, zone: tzinfo
) -> list[Clause]:
    """The rule's due condition: clock older than its period, and every `where`."""
    clauses = condition_clauses(graph, node, table, due.where)
    if due.clock is not None and due.after is not None:
        where = f"{graph.qualified(node)}: due.clock"
        clock = column_of(table, due.clock, where)
        clauses.insert(0, older_than(clock, due.after.before(now), zone, where))
    return clauses


def undated_clauses(graph: Graph, node: str, table: sa.FromClause, due: Due) -> list[Clause]:
    """Rows the rule would judge but whose clock is NULL (none without a clock)."""
    if due.clock is None:
        return []
    clock = column_of(table, due.clock, f"{graph.qualified(node)}: due.clock")
    return [clock.is_(None), *condition_clauses(graph, node, table, due.where)]
