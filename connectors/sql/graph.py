"""Relations between a system's tables: declared in the policy (column links,
polymorphic discriminators, link tables) and reflected from real foreign keys.

A node is a dataset, or a table reached only by a foreign key (then named by
its table). Deletion walks edges parent -> child; `detach` edges null the
child's link instead and so end a walk (a self-reference may be detached).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from connectors.sql.errors import RelationCycle, SchemaMismatch
from connectors.sql.reflect import Catalog, column_of
from retention.policy import Relation, System


@dataclass(frozen=True)
class Node:
    name: str
    table: sa.Table
    key: str


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    parent_column: str
    child_column: str | None = None
    discriminator: tuple[tuple[str, Any], ...] = ()
    link: sa.Table | None = None
    link_parent: str | None = None
    link_child: str | None = None
    detach: bool = False
    origin: str = "policy"


@dataclass(frozen=True)
class Step:
    """One hop along an edge: down (parent to child) or up (child to parent)."""

    edge: Edge
    down: bool

    @property
    def target(self) -> str:
        return self.edge.child if self.down else self.edge.parent


@dataclass
class Graph:
    system: str
    nodes: dict[str, Node] = field(default_factory=dict)
    children: dict[str, list[Edge]] = field(default_factory=dict)
    parents: dict[str, list[Edge]] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            known = ", ".join(sorted(self.nodes))
            raise SchemaMismatch(f"system {self.system!r} has no dataset {name!r} (known: {known})")
        return self.nodes[name]

    def qualified(self, name: str) -> str:
        return f"{self.system}.{name}"

    def add(self, edge: Edge) -> None:
        self.children.setdefault(edge.parent, []).append(edge)
        self.parents.setdefault(edge.child, []).append(edge)


def build_graph(system_name: str, system: System, catalog: Catalog) -> Graph:
    graph = Graph(system_name)
    for name, dataset in system.datasets.items():
        table = catalog.table(dataset.table or name)
        column_of(table, dataset.primary_key, f"{system_name}.{name}")
        graph.nodes[name] = Node(name, table, dataset.primary_key)
    link_tables: set[str] = set()
    for name, dataset in system.datasets.items():
        for relation in dataset.relations:
            edge = _declared(graph, catalog, name, relation)
            if edge.link is not None:
                link_tables.add(edge.link.fullname)
            graph.add(edge)
    reflecting = deque(n for n, d in system.datasets.items() if d.reflect_foreign_keys)
    _add_foreign_keys(graph, catalog, reflecting, link_tables)
    return graph


def _declared(graph: Graph, catalog: Catalog, parent: str, rel: Relation) -> Edge:
    where = f"{graph.qualified(parent)}.relations[{rel.child}]"
    parent_node, child_node = graph.node(parent), graph.node(rel.child)
    parent_column = rel.parent_column or parent_node.key
    column_of(parent_node.table, parent_column, where)
    for column in rel.discriminator:
        column_of(child_node.table, column, where)
    if rel.through is None:
        column_of(child_node.table, rel.column or "", where)
        return Edge(
            parent,
            rel.child,
            parent_column,
            child_column=rel.column,
            discriminator=tuple(sorted(rel.discriminator.items())),
            detach=rel.on_delete == "detach",
        )
    if rel.on_delete == "detach":
        raise SchemaMismatch(f"{where}: on_delete 'detach' needs `column`, not a link table")
    link = catalog.table(rel.through.table)
    column_of(link, rel.through.parent_column, f"{where}.through")
    column_of(link, rel.through.child_column, f"{where}.through")
    return Edge(
        parent,
        rel.child,
        parent_column,
        discriminator=tuple(sorted(rel.discriminator.items())),
        link=link,
        link_parent=rel.through.parent_column,
        link_child=rel.through.child_column,
    )


def _add_foreign_keys(
    graph: Graph, catalog: Catalog, queue: deque[str], link_tables: set[str]
) -> None:
    by_table = {node.table.fullname: node.name for node in graph.nodes.values()}
    seen: set[str] = set()
    while queue:
        parent = queue.popleft()
        if parent in seen:
            continue
        seen.add(parent)
        for table_name, fk in catalog.referrers(graph.nodes[parent].table):
            if table_name in link_tables:
                continue  # a declared link table: the `through` relation handles it
            label = f"foreign key {fk.get('name') or ''} {table_name}.{fk['constrained_columns']}"
            if len(fk["constrained_columns"]) != 1:
                raise SchemaMismatch(
                    f"system {graph.system!r}: composite {label} is not supported; set "
                    "reflect_foreign_keys: false and declare the relation"
                )
            child = by_table.get(table_name)
            if child is None:
                child = _undeclared_node(graph, catalog, table_name)
                by_table[table_name] = child
                queue.append(child)
            column = fk["constrained_columns"][0]
            declared = graph.children.get(parent, [])
            if any(e.child == child and e.child_column == column for e in declared):
                continue  # declared in the policy, which may say more (detach, discriminator)
            on_delete = str((fk.get("options") or {}).get("ondelete", "")).upper()
            graph.add(
                Edge(
                    parent,
                    child,
                    fk["referred_columns"][0],
                    child_column=column,
                    detach=on_delete == "SET NULL",
                    origin=label.strip(),
                )
            )


def _undeclared_node(graph: Graph, catalog: Catalog, table_name: str) -> str:
    table = catalog.table(table_name)
    keys = [c.name for c in table.primary_key.columns]
    if len(keys) != 1:
        raise SchemaMismatch(
            f"system {graph.system!r}: table {table_name!r} is reached by a foreign key but has "
            "no single-column primary key; declare it as a dataset or disable reflect_foreign_keys"
        )
    graph.nodes[table_name] = Node(table_name, table, keys[0])
    return table_name


def check_acyclic(graph: Graph, root: str) -> None:
    """RelationCycle naming the cycle if deleting `root` would come back to a table on its path."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :] + [name]
            raise RelationCycle(
                "relations form a cycle: "
                + " -> ".join(graph.qualified(n) for n in cycle)
                + "; mark one relation on_delete: detach, or fix the policy"
            )
        if name in done:
            return
        for edge in graph.children.get(name, []):
            if not edge.detach:
                visit(edge.child, [*path, name])
        done.add(name)

    visit(root, [])


def find_paths(graph: Graph, start: str, goal: str, *, down_only: bool = False) -> list[list[Step]]:
    """Every simple path from `start` down to a descendant `goal`, else up to an ancestor.

    All of them, not the shortest: a polymorphic child (a comment on a ticket
    or on a task) reaches the same ancestor by several routes."""
    for down in (True,) if down_only else (True, False):
        paths = list(_walk(graph, start, goal, down, [start]))
        if paths:
            return paths
    raise SchemaMismatch(
        f"{graph.qualified(start)} and {graph.qualified(goal)} are not linked by a relation"
    )


def _walk(
    graph: Graph, here: str, goal: str, down: bool, visited: list[str]
) -> Iterator[list[Step]]:
    edges = graph.children if down else graph.parents
    for edge in edges.get(here, []):
        step = Step(edge, down)
        if step.target == goal:
            yield [step]
        elif step.target not in visited:
            for rest in _walk(graph, step.target, goal, down, [*visited, step.target]):
                yield [step, *rest]
