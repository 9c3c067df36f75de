"""SQL that follows relations: the condition tying a parent row to its child
rows, and chains of such hops, as plain WHERE conditions so the same code
serves EXISTS tests, hold look-ups and cascades on every dialect."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from connectors.sql.graph import Edge, Graph, Step
from connectors.sql.reflect import column_of
from connectors.sql.values import coerce

Clause = sa.ColumnElement[bool]


def link_condition(
    graph: Graph, edge: Edge, parent: sa.FromClause, child: sa.FromClause
) -> tuple[list[sa.FromClause], list[Clause]]:
    """(extra tables, conditions) under which `child` rows belong to `parent` rows."""
    where = describe(graph, edge)
    conditions = discriminator_clauses(graph, edge, child)
    parent_value = column_of(parent, edge.parent_column, where)
    if edge.link is None:
        conditions.append(column_of(child, edge.child_column or "", where) == parent_value)
        return [], conditions
    link = edge.link.alias()
    child_key = column_of(child, graph.node(edge.child).key, where)
    conditions.append(link.c[edge.link_parent or ""] == parent_value)
    conditions.append(link.c[edge.link_child or ""] == child_key)
    return [link], conditions


def reach(
    graph: Graph, outer: sa.FromClause, path: Sequence[Step]
) -> tuple[list[sa.FromClause], list[Clause], sa.FromClause]:
    """Follow `path` from `outer`: (tables to select from, conditions, the last table)."""
    froms: list[sa.FromClause] = []
    conditions: list[Clause] = []
    current = outer
    for step in path:
        target = graph.node(step.target).table.alias()
        parent, child = (current, target) if step.down else (target, current)
        extra, linked = link_condition(graph, step.edge, parent, child)
        froms += [target, *extra]
        conditions += linked
        current = target
    return froms, conditions, current


def describe(graph: Graph, edge: Edge) -> str:
    return f"relation {graph.qualified(edge.parent)} -> {graph.qualified(edge.child)}"


def discriminator_clauses(graph: Graph, edge: Edge, child: sa.FromClause) -> list[Clause]:
    """The polymorphic part of a link: e.g. object_type = 'T' on the child."""
    where = f"{describe(graph, edge)} discriminator"
    clauses = []
    for column, value in edge.discriminator:
        target = column_of(child, column, where)
        clauses.append(target == coerce(value, target, f"{where} {column}"))
    return clauses
