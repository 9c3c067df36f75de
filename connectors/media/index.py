"""Media facts kept in a table of another system (Facts.source: index).

The table (e.g. the CRM's media_index) has one row per object key and one
column per fact. Read with SQLAlchemy Core, a page at a time in key order, so
a sweep needs no request to the media store to decide what is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from connectors.media.facts import FactValue, MediaInputError, decode_facts, source_names
from retention.policy import Facts, Policy, System, split_name

_IN_CHUNK = 500  # keys per IN (...) list: well under every database's limit


@dataclass
class FactIndex:
    engine: sa.Engine
    table_name: str
    schema: str | None
    config: Facts
    _columns: set[str] | None = None

    def _table(self, facts: Iterable[str]) -> tuple[sa.TableClause, dict[str, str]]:
        columns = self._existing_columns()
        chosen: dict[str, str] = {}
        for fact in facts:
            name = next((n for n in source_names(self.config, fact) if n in columns), None)
            if name is None and fact in self.config.names:
                raise MediaInputError(
                    f"facts.names.{fact}: column {self.config.names[fact]!r} is not in "
                    f"index table {self.table_name!r}"
                )
            if name is not None:
                chosen[fact] = name
        key = self.config.index_key
        if key not in columns:
            raise MediaInputError(
                f"facts.index_key: column {key!r} is not in index table {self.table_name!r}"
            )
        cols: list[sa.ColumnClause[Any]] = [sa.column(key)] + [
            sa.column(c) for c in sorted(set(chosen.values()) - {key})
        ]
        return sa.table(self.table_name, *cols, schema=self.schema), chosen

    def _existing_columns(self) -> set[str]:
        if self._columns is None:
            inspector = sa.inspect(self.engine)
            if not inspector.has_table(self.table_name, schema=self.schema):
                raise MediaInputError(
                    f"facts.index: table {self.table_name!r} does not exist in the index database"
                )
            self._columns = {c["name"] for c in inspector.get_columns(self.table_name, self.schema)}
        return self._columns

    def items_under(
        self, prefix: str, facts: Iterable[str], page_size: int = 1000
    ) -> Iterator[tuple[str, dict[str, FactValue]]]:
        """Every indexed key under prefix, in key order (keyset pagination)."""
        wanted = list(facts)
        table, chosen = self._table(wanted)
        key_col = table.c[self.config.index_key]
        last: str | None = None
        while True:
            query = sa.select(table).where(key_col.startswith(prefix, autoescape=True))
            if last is not None:
                query = query.where(key_col > last)
            query = query.order_by(key_col).limit(page_size)
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            for row in rows:
                yield str(row[self.config.index_key]), self._decode(row, chosen, wanted)
            if len(rows) < page_size:
                return
            last = str(rows[-1][self.config.index_key])

    def facts_for(
        self, keys: Sequence[str], facts: Iterable[str]
    ) -> dict[str, dict[str, FactValue]]:
        wanted = list(facts)
        table, chosen = self._table(wanted)
        key_col = table.c[self.config.index_key]
        out: dict[str, dict[str, FactValue]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = list(keys[start : start + _IN_CHUNK])
                for row in conn.execute(sa.select(table).where(key_col.in_(chunk))).mappings():
                    out[str(row[self.config.index_key])] = self._decode(row, chosen, wanted)
        return out

    def _decode(self, row: Any, chosen: dict[str, str], wanted: list[str]) -> dict[str, FactValue]:
        # Rows are keyed by fact name here, so no further name mapping applies.
        raw = {fact: row[column] for fact, column in chosen.items()}
        return decode_facts(raw, self._plain, wanted)

    @cached_property
    def _plain(self) -> Facts:
        return Facts(
            source="index", index=self.config.index, list_separator=self.config.list_separator
        )

    def close(self) -> None:
        self.engine.dispose()


def open_fact_index(config: Facts, index_url: str | None, policy: Policy | None) -> FactIndex:
    if config.index is None:
        raise MediaInputError("facts.index: `source: index` needs the index table's dataset")
    if not index_url:
        raise MediaInputError(
            f"index_url: facts come from {config.index}, so the connector needs that system's URL"
        )
    system_name, dataset_name = split_name(config.index)
    table = dataset_name
    if policy is not None:
        system = policy.systems.get(system_name)
        dataset = system.datasets.get(dataset_name) if system else None
        if dataset is None:
            raise MediaInputError(f"facts.index: no dataset {config.index!r} in the policy")
        table = dataset.table or dataset_name
    schema, _, name = table.rpartition(".")
    return FactIndex(sa.create_engine(index_url), name, schema or None, config)


def open_fact_indexes(
    system: System, index_url: str | None, policy: Policy | None
) -> dict[str, FactIndex]:
    """One reader per dataset whose facts come from an index table."""
    return {
        name: open_fact_index(ds.facts, index_url, policy)
        for name, ds in system.datasets.items()
        if ds.facts is not None and ds.facts.source == "index"
    }
