"""Does the database have what the policy says it has? Checked before a run
changes anything (SqlConnector.check) and by `retention check --connect`.

Every declared table and column is reflected; clocks must be DATE or
TIMESTAMP columns; each condition value must be a value of its column's type;
the two columns a relation joins must be of one kind (a varchar joined to an
integer fails on PostgreSQL and compares loosely elsewhere); a discriminator
must be a column of the table it is applied to (the child). All problems are
collected, each with its place in the policy file, so one run of the check
names them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from connectors.sql.errors import ConditionError
from connectors.sql.values import coerce, column_python_type
from retention.errors import PolicyMismatch
from retention.policy import (
    Action,
    ColumnCondition,
    Condition,
    Dataset,
    Policy,
    RelatedCondition,
    SubjectCondition,
    System,
)

Problem = tuple[str, str]
# Types that compare with each other without a cast on every dialect.
_KIND_OF = {int: "number", float: "number", Decimal: "number", bool: "number"}


def preflight(name: str, system: System, policy: Policy | None, engine: sa.Engine) -> None:
    """PolicyMismatch listing every place where the database and the policy disagree."""
    with engine.connect() as conn:
        problems = list(_Reader(name, system, policy, conn).problems())
    if problems:
        raise PolicyMismatch(name, problems)


@dataclass
class _Reader:
    name: str
    system: System
    policy: Policy | None
    conn: sa.Connection
    metadata: sa.MetaData = field(default_factory=sa.MetaData)
    _missing: set[str] = field(default_factory=set)

    # --- reflection -------------------------------------------------------

    def table(self, name: str) -> sa.Table | None:
        schema, _, bare = name.rpartition(".")
        if name in self.metadata.tables:
            return self.metadata.tables[name]
        if name in self._missing:
            return None
        try:
            return sa.Table(
                bare,
                self.metadata,
                schema=schema or None,
                autoload_with=self.conn,
                resolve_fks=False,
            )
        except sa.exc.NoSuchTableError:
            self._missing.add(name)
            return None

    def dataset_table(self, dataset: str) -> sa.Table | None:
        ds = self.system.datasets.get(dataset)
        return None if ds is None else self.table(ds.table or dataset)

    # --- the checks -------------------------------------------------------

    def problems(self) -> Iterator[Problem]:
        for dname, ds in self.system.datasets.items():
            yield from self._dataset(dname, ds, f"systems.{self.name}.datasets.{dname}")
        if self.policy is None:
            return
        yield from self._index_tables(self.policy)
        for i, hold in enumerate(self.policy.holds):
            system, _, dataset = hold.dataset.partition(".")
            table = self.dataset_table(dataset) if system == self.name else None
            if table is not None:
                yield from self._clock(table, hold.clock, f"holds[{i}].clock")
        for i, rule in enumerate(self.policy.rules):
            system, _, dataset = rule.dataset.partition(".")
            table = self.dataset_table(dataset) if system == self.name else None
            if table is None:
                continue
            base = f"rules[{i}]"
            if rule.due.clock:
                yield from self._clock(table, rule.due.clock, f"{base}.due.clock")
            yield from self._conditions(dataset, table, rule.due.where, f"{base}.due.where")
            yield from self._action(table, rule.action, f"{base}.action")
            if rule.held_action is not None:
                yield from self._action(table, rule.held_action, f"{base}.held_action")
        yield from self._subject_sources(self.policy)

    def _dataset(self, dname: str, ds: Dataset, base: str) -> Iterator[Problem]:
        table = self.table(ds.table or dname)
        if table is None:
            yield f"{base}.table", f"table {ds.table!r} does not exist in system {self.name!r}"
            return
        declared = [(f"{base}.primary_key", ds.primary_key)]
        declared += [(f"{base}.identity_fields.{k}", c) for k, c in ds.identity_fields.items()]
        declared += [(f"{base}.personal_fields[{i}]", c) for i, c in enumerate(ds.personal_fields)]
        declared += [(f"{base}.columns[{i}]", c) for i, c in enumerate(ds.columns)]
        for path, column in declared:
            if table.c.get(column) is None:
                yield path, _no_column(column, table)
        for i, rel in enumerate(ds.relations):
            yield from self._relation(ds, table, rel, f"{base}.relations[{i}]")

    def _relation(self, ds: Dataset, parent: sa.Table, rel: Any, path: str) -> Iterator[Problem]:
        child = self.dataset_table(rel.child)
        parent_name = rel.parent_column or ds.primary_key
        parent_column = parent.c.get(parent_name)
        if parent_column is None:
            yield f"{path}.parent_column", _no_column(parent_name, parent)
        if child is None:
            return  # reported where the child dataset is declared
        link = self.table(rel.through.table) if rel.through is not None else None
        if rel.through is not None and link is None:
            yield f"{path}.through.table", f"link table {rel.through.table!r} does not exist"
        for column, value in rel.discriminator.items():
            yield from self._discriminator(child, link, column, value, f"{path}.discriminator")
        if rel.through is None:
            child_column = child.c.get(rel.column or "")
            if child_column is None:
                yield f"{path}.column", _no_column(rel.column or "", child)
            elif parent_column is not None:
                yield from _joinable(parent_column, child_column, f"{path}.column")
            return
        if link is None:
            return
        child_key = child.c.get(self.system.datasets[rel.child].primary_key)
        for part, column, other in (
            ("parent_column", rel.through.parent_column, parent_column),
            ("child_column", rel.through.child_column, child_key),
        ):
            found = link.c.get(column)
            if found is None:
                yield f"{path}.through.{part}", _no_column(column, link)
            elif other is not None:
                yield from _joinable(other, found, f"{path}.through.{part}")

    def _discriminator(
        self, child: sa.Table, link: sa.Table | None, column: str, value: Any, path: str
    ) -> Iterator[Problem]:
        target = child.c.get(column)
        if target is None:
            where = ""
            if link is not None and link.c.get(column) is not None:
                # The connector applies a discriminator to the child's rows; on
                # the link table it would filter nothing, or fail mid-run.
                where = (
                    f"; it is a column of the link table {link.name!r}, and a discriminator "
                    "must be a column of the child table"
                )
            yield f"{path}.{column}", _no_column(column, child) + where
            return
        yield from _value_fits(value, target, f"{path}.{column}")

    def _clock(self, table: sa.Table, column: str, path: str) -> Iterator[Problem]:
        found = table.c.get(column)
        if found is None:
            yield path, _no_column(column, table)
        elif column_python_type(found) not in (date, datetime):
            yield (
                path,
                f"clock column {table.name}.{column} is {_type(found)}, not a DATE or "
                "TIMESTAMP column (dates stored as text do not compare as dates)",
            )

    def _conditions(
        self, dataset: str, table: sa.Table, conditions: Sequence[Condition], path: str
    ) -> Iterator[Problem]:
        for j, cond in enumerate(conditions):
            here = f"{path}[{j}]"
            if isinstance(cond, ColumnCondition):
                column = table.c.get(cond.column)
                if column is None:
                    yield f"{here}.column", _no_column(cond.column, table)
                    continue
                values = cond.value if isinstance(cond.value, list) else [cond.value]
                for value in values:
                    if value is not None:
                        yield from _value_fits(value, column, f"{here}.value")
            elif isinstance(cond, RelatedCondition):
                other = self.dataset_table(cond.related)
                if other is not None:
                    yield from self._conditions(cond.related, other, cond.where, f"{here}.where")
            elif isinstance(cond, SubjectCondition) and table.c.get(cond.column) is None:
                yield f"{here}.column", _no_column(cond.column, table)

    def _subject_sources(self, policy: Policy) -> Iterator[Problem]:
        """`subjects_from` queries of any rule that read a dataset of this system."""
        for i, rule in enumerate(policy.rules):
            for j, cond in enumerate(rule.due.where):
                if not isinstance(cond, SubjectCondition):
                    continue
                source = cond.subjects_from
                system, _, dataset = source.dataset.partition(".")
                table = self.dataset_table(dataset) if system == self.name else None
                if table is None:
                    continue
                path = f"rules[{i}].due.where[{j}].subjects_from"
                if table.c.get(source.column) is None:
                    yield f"{path}.column", _no_column(source.column, table)
                yield from self._conditions(dataset, table, source.where, f"{path}.where")

    def _index_tables(self, policy: Policy) -> Iterator[Problem]:
        """A media dataset's facts index that lives in this system."""
        for sname, system in policy.systems.items():
            for dname, ds in system.datasets.items():
                facts = ds.facts
                if facts is None or not facts.index:
                    continue
                owner, _, dataset = facts.index.partition(".")
                table = self.dataset_table(dataset) if owner == self.name else None
                if table is None:
                    continue
                base = f"systems.{sname}.datasets.{dname}.facts"
                if table.c.get(facts.index_key) is None:
                    yield f"{base}.index_key", _no_column(facts.index_key, table)
                for fact, column in facts.names.items():
                    if table.c.get(column) is None:
                        yield f"{base}.names.{fact}", _no_column(column, table)

    def _action(self, table: sa.Table, action: Action, path: str) -> Iterator[Problem]:
        for column, chain in action.fields.items():
            if table.c.get(column) is None:
                yield f"{path}.fields.{column}", _no_column(column, table)
            for k, step in enumerate(chain):
                for ident in step.identifiers:
                    if "." not in ident and table.c.get(ident) is None:
                        yield f"{path}.fields.{column}[{k}].identifiers", _no_column(ident, table)


def _value_fits(value: Any, column: sa.ColumnElement[Any], path: str) -> Iterator[Problem]:
    try:
        coerce(value, column, "")
    except ConditionError:
        name = getattr(column, "table", None)
        owner = f"{name.name}." if isinstance(name, sa.Table) else ""
        yield (
            path,
            f"value {value!r} ({type(value).__name__}) does not fit column "
            f"{owner}{getattr(column, 'name', column)}, which is {_type(column)}",
        )


def _joinable(
    left: sa.ColumnElement[Any], right: sa.ColumnElement[Any], path: str
) -> Iterator[Problem]:
    kinds = [_kind(c) for c in (left, right)]
    if None in kinds or kinds[0] == kinds[1]:
        return
    yield (
        path,
        f"the relation joins {_qualified(left)} ({_type(left)}) to {_qualified(right)} "
        f"({_type(right)}); the two columns must be of one kind",
    )


def _kind(column: sa.ColumnElement[Any]) -> str | None:
    python = column_python_type(column)
    if python is None:
        return None  # an untyped SQLite column takes anything
    if python in (date, datetime):
        return "time"
    return _KIND_OF.get(python, python.__name__)


def _qualified(column: sa.ColumnElement[Any]) -> str:
    table = getattr(column, "table", None)
    prefix = f"{table.name}." if isinstance(table, sa.Table) else ""
    return f"{prefix}{getattr(column, 'name', column)}"


def _type(column: sa.ColumnElement[Any]) -> str:
    try:
        return str(column.type)
    except Exception:  # a dialect type without a plain spelling
        return type(column.type).__name__


def _no_column(column: str, table: sa.Table) -> str:
    return f"column {column!r} does not exist in table {table.name!r}"
