"""Anonymise rows in place: read only the columns the anonymiser needs,
write only the columns whose value really changes.

A row already anonymised yields no change and is reported as unchanged, so a
second run changes nothing. Rows that get the same new values are changed by
one UPDATE over their keys; the rest are grouped by the set of columns they
change, one executemany per group.

When no strategy reads the row (null and constant only), the new values are
known before anything is read: one UPDATE per key list sets them where any
differs, and, where the dialect has UPDATE ... RETURNING, returns the
after-images with the keys (no read before, none after). Columns that
already held their new value are rewritten with it: the data is the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any, Protocol

import sqlalchemy as sa

from connectors.base import Key
from connectors.sql.delete import IN_LIST_SIZE
from connectors.sql.errors import SchemaMismatch
from connectors.sql.graph import Graph, find_paths
from connectors.sql.keys import one_of
from connectors.sql.paths import reach
from connectors.sql.reflect import column_of
from connectors.sql.values import chunked


class Anonymiser(Protocol):
    """retention.anonymise.RowAnonymiser, as far as this module uses it."""

    @property
    def columns(self) -> frozenset[str]: ...

    @property
    def parent_columns(self) -> dict[str, frozenset[str]]: ...

    @property
    def constants(self) -> Mapping[str, Any] | None: ...

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]: ...


def anonymise_batch(
    conn: sa.Connection,
    graph: Graph,
    node: str,
    keys: Sequence[Key],
    anonymiser: Anonymiser,
    fields: Mapping[str, Any],
) -> tuple[list[Key], list[Key], dict[Key, str]]:
    """(keys changed, keys that needed no change, after-image per changed key)."""
    constants = anonymiser.constants
    if constants is not None and not anonymiser.parent_columns:
        changed, images = set_constants(conn, graph, node, keys, constants)
        chosen = set(changed)
        unchanged = [k for k in keys if k not in chosen]
        if images is None:
            images = read_images(conn, graph, node, changed, fields)
        return changed, unchanged, images
    changed, unchanged = anonymise_rows(conn, graph, node, keys, anonymiser)
    return changed, unchanged, read_images(conn, graph, node, changed, fields)


def set_constants(
    conn: sa.Connection, graph: Graph, node: str, keys: Sequence[Key], values: Mapping[str, Any]
) -> tuple[list[Key], dict[Key, str] | None]:
    """(keys changed, their after-images when the UPDATE could return them)."""
    target = graph.node(node)
    where = graph.qualified(node)
    key = target.table.c[target.key]
    columns = [column_of(target.table, name, where) for name in sorted(values)]
    if target.key in values:
        raise SchemaMismatch(f"{where}: the key column {target.key!r} cannot be anonymised")
    differs = sa.or_(*[c.is_distinct_from(values[c.name]) for c in columns])
    update = sa.update(target.table).values({c.name: values[c.name] for c in columns})
    changed: list[Key] = []
    if conn.dialect.update_returning:
        images: dict[Key, str] = {}
        for part in chunked(keys, IN_LIST_SIZE):
            statement = update.where(one_of(conn, key, part), differs).returning(key, *columns)
            for row in conn.execute(statement):
                changed.append(row[0])
                images[row[0]] = canonical_image(row[1:])
        return sorted(changed), images
    # MariaDB has no UPDATE ... RETURNING; the re-check's FOR UPDATE holds the rows.
    for part in chunked(keys, IN_LIST_SIZE):
        query = sa.select(key).where(one_of(conn, key, part), differs)
        found = conn.execute(query).scalars().all()
        if found:
            conn.execute(update.where(one_of(conn, key, found)))
        changed += found
    return sorted(changed), None


def anonymise_rows(
    conn: sa.Connection, graph: Graph, node: str, keys: Sequence[Key], anonymiser: Anonymiser
) -> tuple[list[Key], list[Key]]:
    """(keys changed, keys that needed no change)."""
    target = graph.node(node)
    where = graph.qualified(node)
    key = target.table.c[target.key]
    wanted = sorted(set(anonymiser.columns) | {target.key})
    columns = [column_of(target.table, name, where) for name in wanted]
    from_parents = parent_identifiers(conn, graph, node, keys, anonymiser.parent_columns)
    changed: list[Key] = []
    unchanged: list[Key] = []
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    alike: dict[tuple[tuple[str, type, Any], ...], list[Key]] = {}
    for part in chunked(keys, IN_LIST_SIZE):
        for row in conn.execute(sa.select(*columns).where(one_of(conn, key, part))).mappings():
            current = dict(row)
            new = anonymiser({**current, **from_parents.get(current[target.key], {})})
            unknown = set(new) - set(target.table.c.keys())
            if unknown:
                raise SchemaMismatch(
                    f"{where}: the anonymiser set unknown columns {sorted(unknown)}"
                )
            new = {c: v for c, v in new.items() if c not in current or current[c] != v}
            if not new:
                unchanged.append(current[target.key])
                continue
            changed.append(current[target.key])
            try:
                same = tuple(sorted((c, type(v), v) for c, v in new.items()))
                alike.setdefault(same, []).append(current[target.key])
            except TypeError:  # an unhashable value: the row is written on its own
                params = {f"new_{c}": v for c, v in new.items()}
                groups.setdefault(frozenset(new), []).append(
                    {"row_key": current[target.key], **params}
                )
    for same, row_keys in alike.items():
        values = {c: v for c, _, v in same}
        if len(row_keys) == 1:
            params = {f"new_{c}": v for c, v in values.items()}
            groups.setdefault(frozenset(values), []).append({"row_key": row_keys[0], **params})
            continue
        # Rows that get the same values (constant and null strategies): one
        # UPDATE per key list, not a statement per row (drivers such as
        # PyMySQL send an executemany of UPDATEs one row at a time).
        for part in chunked(row_keys, IN_LIST_SIZE):
            conn.execute(sa.update(target.table).where(one_of(conn, key, part)).values(values))
    for names, rows in groups.items():
        statement = (
            sa.update(target.table)
            .where(key == sa.bindparam("row_key"))
            .values({name: sa.bindparam(f"new_{name}") for name in names})
        )
        conn.execute(statement, rows)
    return changed, unchanged


def parent_identifiers(
    conn: sa.Connection,
    graph: Graph,
    node: str,
    keys: Sequence[Key],
    parent_columns: Mapping[str, frozenset[str]],
) -> dict[Key, dict[str, Any]]:
    """Per key, {"dataset.column": value} of its parent row; None without a parent.

    A row with several parents (through a link table) is refused: a redact
    step takes one value per identifier, and redacting only one parent's name
    would leave the others in the text."""
    found: dict[Key, dict[str, list[Any]]] = {k: {} for k in keys}
    target = graph.node(node)
    key = target.table.c[target.key]
    for parent, names in parent_columns.items():
        for path, part in product(find_paths(graph, node, parent), chunked(keys, IN_LIST_SIZE)):
            froms, links, last = reach(graph, target.table, path)
            columns = [column_of(last, n, graph.qualified(parent)) for n in sorted(names)]
            query = (
                sa.select(key, *columns)
                .select_from(target.table, *froms)
                .where(*links, one_of(conn, key, part))
            )
            for row in conn.execute(query):
                per_key = found.setdefault(row[0], {})
                for name, value in zip(sorted(names), row[1:], strict=True):
                    per_key.setdefault(f"{parent}.{name}", []).append(value)
    wanted = [f"{parent}.{name}" for parent, names in parent_columns.items() for name in names]
    out: dict[Key, dict[str, Any]] = {}
    for k, per_key in found.items():
        several = [name for name, values in per_key.items() if len(set(values)) > 1]
        if several:
            raise SchemaMismatch(
                f"{graph.qualified(node)}: a row has several parents for {several[0]}; "
                "redact needs exactly one, so the batch is refused"
            )
        out[k] = {name: (per_key.get(name) or [None])[0] for name in wanted}
    return out


def canonical_image(values: Sequence[Any]) -> str:
    """One row's values as one string: what an intent's after-image digest
    and recovery's look at the store both hash, read the same way."""
    return json.dumps([None if v is None else str(v) for v in values], ensure_ascii=False)


def read_images(
    conn: sa.Connection, graph: Graph, node: str, keys: Sequence[Key], fields: Mapping[str, Any]
) -> dict[Key, str]:
    """The after-image of each changed row (the action's fields, in name
    order), read back inside the writing transaction, so it is exactly what
    a later read of a committed row gives."""
    target = graph.node(node)
    where = graph.qualified(node)
    key = target.table.c[target.key]
    columns = [column_of(target.table, name, where) for name in sorted(fields)]
    images: dict[Key, str] = {}
    for part in chunked(keys, IN_LIST_SIZE):
        for row in conn.execute(sa.select(key, *columns).where(one_of(conn, key, part))):
            images[row[0]] = canonical_image(row[1:])
    return images
