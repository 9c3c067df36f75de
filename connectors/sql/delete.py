"""Delete rows with everything that belongs to them, children first.

Keys, never sub-selects of the table being changed, go into every DELETE and
UPDATE: MariaDB refuses a statement that reads the table it changes, and an
explicit key list is exactly what the evidence reports. The caller owns the
transaction and has checked the graph for cycles (sql_graph.check_acyclic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from connectors.base import Key
from connectors.sql.graph import Edge, Graph
from connectors.sql.keys import one_of
from connectors.sql.paths import discriminator_clauses
from connectors.sql.values import chunked

# Large enough for few round trips, below every dialect's bound-parameter limit.
IN_LIST_SIZE = 2000


def delete_tree(
    conn: sa.Connection,
    graph: Graph,
    node: str,
    keys: Sequence[Key],
    cascaded: dict[str, list[Key]],
    detached: dict[str, list[Key]],
) -> None:
    """Delete rows `keys` of `node` after their children; children's keys go
    to `cascaded`, the keys of children only unlinked to `detached`."""
    if not keys:
        return
    for edge in graph.children.get(node, []):
        values = parent_values(conn, graph, edge, keys)
        if edge.detach:
            unlinked = _detach(conn, graph, edge, values)
            if unlinked:
                detached.setdefault(graph.qualified(edge.child), []).extend(unlinked)
            continue
        if _is_leaf(graph, edge) and conn.dialect.delete_returning:
            # One statement instead of select-then-delete: the child has no
            # children of its own, and RETURNING names exactly what went.
            gone = _delete_leaf_children(conn, graph, edge, values)
            cascaded.setdefault(graph.qualified(edge.child), []).extend(gone)
            continue
        children = child_keys(conn, graph, edge, values)
        if edge.link is not None:
            _unlink(conn, edge, values)
            children = _no_longer_linked(conn, graph, edge.child, children)
        if children:
            delete_tree(conn, graph, edge.child, children, cascaded, detached)
            cascaded.setdefault(graph.qualified(edge.child), []).extend(children)
    target = graph.node(node)
    for part in chunked(keys, IN_LIST_SIZE):
        conn.execute(sa.delete(target.table).where(one_of(conn, target.table.c[target.key], part)))


def parent_values(conn: sa.Connection, graph: Graph, edge: Edge, keys: Sequence[Key]) -> list[Any]:
    parent = graph.node(edge.parent)
    if edge.parent_column == parent.key:
        return list(keys)
    values: list[Any] = []
    column = parent.table.c[edge.parent_column]
    for part in chunked(keys, IN_LIST_SIZE):
        parents = one_of(conn, parent.table.c[parent.key], part)
        query = sa.select(column).where(parents, column.is_not(None))
        values += conn.execute(query).scalars().all()
    return values


def _is_leaf(graph: Graph, edge: Edge) -> bool:
    return edge.link is None and not graph.children.get(edge.child)


def _delete_leaf_children(
    conn: sa.Connection, graph: Graph, edge: Edge, values: Sequence[Any]
) -> list[Key]:
    child = graph.node(edge.child)
    key = child.table.c[child.key]
    gone: list[Key] = []
    for part in chunked(values, IN_LIST_SIZE):
        statement = (
            sa.delete(child.table)
            .where(
                one_of(conn, child.table.c[edge.child_column or ""], part),
                *discriminator_clauses(graph, edge, child.table),
            )
            .returning(key)
        )
        gone += conn.execute(statement).scalars().all()
    return sorted(gone)


def child_keys(conn: sa.Connection, graph: Graph, edge: Edge, values: Sequence[Any]) -> list[Key]:
    child = graph.node(edge.child)
    key = child.table.c[child.key]
    found: dict[Key, None] = {}  # ordered and without repeats: a child may be linked twice
    for part in chunked(values, IN_LIST_SIZE):
        query = sa.select(key).where(*discriminator_clauses(graph, edge, child.table))
        if edge.link is None:
            query = query.where(one_of(conn, child.table.c[edge.child_column or ""], part))
        else:
            link = edge.link
            linked = one_of(conn, link.c[edge.link_parent or ""], part)
            query = query.where(linked, link.c[edge.link_child or ""] == key)
        found.update(dict.fromkeys(conn.execute(query.order_by(key)).scalars()))
    return list(found)


def _unlink(conn: sa.Connection, edge: Edge, values: Sequence[Any]) -> None:
    assert edge.link is not None
    column = edge.link.c[edge.link_parent or ""]
    for part in chunked(values, IN_LIST_SIZE):
        conn.execute(sa.delete(edge.link).where(one_of(conn, column, part)))


def _no_longer_linked(
    conn: sa.Connection, graph: Graph, node: str, candidates: Sequence[Key]
) -> list[Key]:
    """Candidates no link table still ties to a parent: a shared row stays."""
    child = graph.node(node)
    key = child.table.c[child.key]
    still_linked = [
        sa.select(sa.literal(1))
        .select_from(edge.link)
        .where(edge.link.c[edge.link_child or ""] == key)
        .exists()
        for edge in graph.parents.get(node, [])
        if edge.link is not None
    ]
    free: list[Key] = []
    for part in chunked(candidates, IN_LIST_SIZE):
        query = sa.select(key).where(one_of(conn, key, part), *[~linked for linked in still_linked])
        free += conn.execute(query.order_by(key)).scalars().all()
    return free


def _detach(conn: sa.Connection, graph: Graph, edge: Edge, values: Sequence[Any]) -> list[Key]:
    """Unlink the children of these parent values; the keys of the rows changed."""
    child = graph.node(edge.child)
    column = child.table.c[edge.child_column or ""]
    key = child.table.c[child.key]
    changed: list[Key] = []
    for part in chunked(values, IN_LIST_SIZE):
        linked = [one_of(conn, column, part), *discriminator_clauses(graph, edge, child.table)]
        update = sa.update(child.table).values({column.name: None})
        if conn.dialect.update_returning:
            changed += conn.execute(update.where(*linked).returning(key)).scalars().all()
            continue
        # MariaDB has no UPDATE ... RETURNING: the rows are locked by the
        # SELECT ... FOR UPDATE, then changed by key.
        keys = conn.execute(sa.select(key).where(*linked).with_for_update()).scalars().all()
        for chunk in chunked(keys, IN_LIST_SIZE):
            conn.execute(update.where(one_of(conn, key, chunk)))
        changed += keys
    return sorted(changed)
