"""What an erasure request needs from an SQL system beyond a sweep: the
records that hold a subject's identities (with the identities they hold, so
one identity leads to the next), the records that belong to those through
relations, and the rows of free-text columns that may mention the subject.

Matching is exact (sql_subject); only the mention search uses LIKE, with
every wildcard in the needle escaped, and only to pick candidates: the
redactor decides in Python what in a text is the subject. A batch with
more needles than one statement takes reads every text once instead: a
LIKE per needle per column per row costs the database needles x rows
(1,000 requests: minutes), a read of the column costs rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from connectors.base import Key
from connectors.sql.delete import IN_LIST_SIZE, child_keys, parent_values
from connectors.sql.graph import Edge, Graph
from connectors.sql.keys import one_of
from connectors.sql.paths import discriminator_clauses
from connectors.sql.reflect import column_of
from connectors.sql.subject import digits_only, find_subject_keys
from connectors.sql.values import chunked
from retention.policy import System

IdentityValues = list[tuple[str, str]]  # (kind, value as stored)
NEEDLES_PER_STATEMENT = 50


def subject_records(
    conn: sa.Connection, graph: Graph, system: System, identities: Mapping[str, Sequence[str]]
) -> dict[str, dict[Key, IdentityValues]]:
    """Per dataset: each matching record's key and every identity it holds.

    A record linked through a link table to a record holding an identity
    holds it too: that is how such a schema stores a contact's addresses
    (contacts -> email_addr_bean_rel -> email_addresses). Only link tables
    lead upwards; a column link's parent (a contact's company) is another
    party, never the person."""
    out: dict[str, dict[Key, IdentityValues]] = {}
    for dataset, keys in find_subject_keys(conn, graph, system, identities).items():
        if keys:
            out[dataset] = identity_values(conn, graph, system, dataset, keys)
    for dataset, rows in list(out.items()):
        for owner, owned in link_owners(conn, graph, dataset, list(rows)).items():
            if owner not in system.datasets:
                continue
            own = identity_values(conn, graph, system, owner, list(owned))
            target = out.setdefault(owner, {})
            for key, children in owned.items():
                held = [*target.get(key, []), *own.get(key, [])]
                held += [value for child in children for value in rows[child]]
                target[key] = list(dict.fromkeys(held))
    return out


def link_owners(
    conn: sa.Connection, graph: Graph, dataset: str, keys: Sequence[Key]
) -> dict[str, dict[Key, set[Key]]]:
    """Parent dataset -> parent key -> the keys of `dataset` it is linked to
    through a link table (`through` relations), soft-deleted links included."""
    out: dict[str, dict[Key, set[Key]]] = {}
    for edge in graph.parents.get(dataset, []):
        if edge.link is None:
            continue
        link = edge.link
        child_column, parent_column = link.c[edge.link_child or ""], link.c[edge.link_parent or ""]
        by_value: dict[object, set[Key]] = {}
        for part in chunked(list(keys), IN_LIST_SIZE):
            query = sa.select(parent_column, child_column).where(one_of(conn, child_column, part))
            for value, child in conn.execute(query):
                by_value.setdefault(value, set()).add(child)
        if not by_value:
            continue
        parent = graph.node(edge.parent)
        key, column = parent.table.c[parent.key], parent.table.c[edge.parent_column]
        owned = out.setdefault(edge.parent, {})
        for values in chunked(list(by_value), IN_LIST_SIZE):
            for parent_key, value in conn.execute(
                sa.select(key, column).where(one_of(conn, column, values))
            ):
                owned.setdefault(parent_key, set()).update(by_value[value])
    return {name: owned for name, owned in out.items() if owned}


def identity_values(
    conn: sa.Connection, graph: Graph, system: System, dataset: str, keys: Sequence[Key]
) -> dict[Key, IdentityValues]:
    node = graph.node(dataset)
    fields = system.datasets[dataset].identity_fields
    kinds = list(fields)
    columns = [column_of(node.table, fields[k], graph.qualified(dataset)) for k in kinds]
    key = node.table.c[node.key]
    out: dict[Key, IdentityValues] = {k: [] for k in keys}
    for part in chunked(list(keys), IN_LIST_SIZE):
        for row in conn.execute(sa.select(key, *columns).where(one_of(conn, key, part))):
            out[row[0]] = [
                (kind, str(value).strip())
                for kind, value in zip(kinds, row[1:], strict=True)
                if value is not None and str(value).strip()
            ]
    return out


def related_records(
    conn: sa.Connection, graph: Graph, dataset: str, keys: Sequence[Key]
) -> dict[str, list[Key]]:
    """Every record below these by relations (declared or foreign keys),
    children of children included; a record reached twice counts once."""
    found: dict[str, dict[Key, None]] = {}
    frontier: list[tuple[str, list[Key]]] = [(dataset, list(keys))]
    while frontier:
        node, parents = frontier.pop()
        for edge in graph.children.get(node, []):
            values = parent_values(conn, graph, edge, parents)
            children = child_keys(conn, graph, edge, values) if values else []
            seen = found.setdefault(edge.child, {})
            new = [k for k in children if k not in seen]
            seen.update(dict.fromkeys(new))
            if new:
                frontier.append((edge.child, new))
    return {name: list(keys) for name, keys in found.items() if keys}


def related_by_owner(
    conn: sa.Connection, graph: Graph, dataset: str, owners: Mapping[Key, set[str]]
) -> dict[str, dict[Key, set[str]]] | None:
    """related_records for many owners' records at once: per dataset below,
    each record with the owners (requests) whose records it is below. One
    statement per relation and chunk of keys, where a call per owner cost a
    statement per owner, relation and level (a thousand requests: 11,000,
    each a scan where the child column has no index).

    None when a child's link value is not exactly one its parents gave (a
    collation that compares 'ABC' and 'abc' equal, a value of another
    type): which owner it belongs to is then unknown here, and the caller
    asks per owner instead."""
    found: dict[str, dict[Key, set[str]]] = {}
    frontier: list[tuple[str, dict[Key, set[str]]]] = [(dataset, dict(owners))]
    while frontier:
        node, parents = frontier.pop()
        for edge in graph.children.get(node, []):
            by_value = _owners_by_value(conn, graph, edge, parents)
            seen = found.setdefault(edge.child, {})
            new: dict[Key, set[str]] = {}
            for value, child in _children_by_value(conn, graph, edge, list(by_value)):
                if value not in by_value:
                    return None
                added = by_value[value] - seen.get(child, set())
                if added:
                    seen.setdefault(child, set()).update(added)
                    new.setdefault(child, set()).update(added)
            if new:
                frontier.append((edge.child, new))
    return {name: records for name, records in found.items() if records}


def _among(
    conn: sa.Connection, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """`column IN values` for a column that may have no index (a child's
    link column: user_id, parent_id). On PostgreSQL a list that is not all
    integers (one_of reads those once, with unnest) goes the same way:
    `= ANY(:array)` compares each row with every value, unnest hashes them."""
    if conn.dialect.name != "postgresql" or all(type(v) is int for v in values):
        return one_of(conn, column, values)
    array = sa.bindparam(None, value=list(values), type_=postgresql.ARRAY(column.type))
    return column.in_(sa.select(sa.func.unnest(array)))


def _owners_by_value(
    conn: sa.Connection, graph: Graph, edge: Edge, parents: Mapping[Key, set[str]]
) -> dict[object, set[str]]:
    """The parent column's values (what children point at), with their owners."""
    parent = graph.node(edge.parent)
    if edge.parent_column == parent.key:
        return {key: set(owned) for key, owned in parents.items()}
    out: dict[object, set[str]] = {}
    key, column = parent.table.c[parent.key], parent.table.c[edge.parent_column]
    for part in chunked(list(parents), IN_LIST_SIZE):
        query = sa.select(key, column).where(_among(conn, key, part), column.is_not(None))
        for parent_key, value in conn.execute(query):
            out.setdefault(value, set()).update(parents[parent_key])
    return out


def _children_by_value(
    conn: sa.Connection, graph: Graph, edge: Edge, values: Sequence[object]
) -> list[tuple[object, Key]]:
    """(the parent value it points at, child key) for the children of these
    values, as child_keys finds them (discriminator, link table)."""
    child = graph.node(edge.child)
    key = child.table.c[child.key]
    pairs: list[tuple[object, Key]] = []
    for part in chunked(list(values), IN_LIST_SIZE):
        if edge.link is None:
            column = child.table.c[edge.child_column or ""]
            query = sa.select(column, key).where(_among(conn, column, part))
        else:
            linked = edge.link.c[edge.link_parent or ""]
            query = sa.select(linked, key).where(
                _among(conn, linked, part), edge.link.c[edge.link_child or ""] == key
            )
        query = query.where(*discriminator_clauses(graph, edge, child.table))
        pairs += [(value, child_key) for value, child_key in conn.execute(query)]
    return pairs


def _escaped(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def mention_candidates(
    conn: sa.Connection,
    graph: Graph,
    dataset: str,
    columns: Sequence[str],
    needles: Sequence[str],
    mentions: Callable[[str], bool] | None = None,
) -> list[Key]:
    """Keys of rows whose free-text columns contain any needle, any case;
    with `mentions`, only rows where it says a text really names someone."""
    node = graph.node(dataset)
    key = node.table.c[node.key]
    where = graph.qualified(dataset)
    raw = [column_of(node.table, c, where) for c in columns]
    texts = [sa.func.lower(column) for column in raw]
    # A phone number is written with any spacing ("040 123 4567"): digit
    # needles are looked for in the text with its phone punctuation removed.
    digit_texts = [digits_only(column) for column in raw]
    usable = sorted({n.casefold() for n in needles if len(n.strip()) >= 3})
    if not texts or not usable:
        return []
    found: dict[Key, None] = {}
    if mentions is not None and len(usable) > NEEDLES_PER_STATEMENT:
        query = sa.select(key, *raw).where(sa.or_(*[c.is_not(None) for c in raw]))
        rows = conn.execution_options(yield_per=5000).execute(query.order_by(key))
        for row in rows:
            if any(isinstance(t, str) and mentions(t) for t in row[1:]):
                found[row[0]] = None
        return list(found)
    for part in chunked(usable, NEEDLES_PER_STATEMENT):
        matches = [
            text.like(f"%{_escaped(needle)}%", escape="\\")
            for needle in part
            for text in (digit_texts if needle.isdigit() else texts)
        ]
        query = sa.select(key, *raw).where(sa.or_(*matches)).order_by(key)
        for row in conn.execute(query):
            if mentions is None or any(isinstance(t, str) and mentions(t) for t in row[1:]):
                found[row[0]] = None
    return list(found)
