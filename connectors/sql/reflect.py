"""What the database really has: tables, columns and foreign keys, reflected
once per connector and checked against what the policy describes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from connectors.sql.errors import SchemaMismatch


@dataclass
class Catalog:
    engine: sa.Engine
    system: str
    metadata: sa.MetaData = field(default_factory=sa.MetaData)
    _foreign_keys: dict[str | None, dict[Any, list[Any]]] = field(default_factory=dict)

    def table(self, name: str) -> sa.Table:
        """The reflected table `name` (or `schema.name`)."""
        schema, _, bare = name.rpartition(".")
        key = name if schema else bare
        if key in self.metadata.tables:
            return self.metadata.tables[key]
        try:
            # resolve_fks=False: reflect only this table, not every table it points at.
            return sa.Table(
                bare,
                self.metadata,
                schema=schema or None,
                autoload_with=self.engine,
                resolve_fks=False,
            )
        except sa.exc.NoSuchTableError as exc:
            raise SchemaMismatch(f"system {self.system!r}: table {name!r} does not exist") from exc

    def referrers(self, table: sa.Table) -> list[tuple[str, dict[str, Any]]]:
        """(table name, reflected foreign key) of every foreign key pointing at `table`."""
        if table.schema not in self._foreign_keys:
            inspector = sa.inspect(self.engine)
            self._foreign_keys[table.schema] = inspector.get_multi_foreign_keys(schema=table.schema)
        found = []
        for (schema, name), keys in self._foreign_keys[table.schema].items():
            for fk in keys:
                if fk["referred_table"] == table.name and fk.get("referred_schema") in (
                    None,
                    table.schema,
                ):
                    found.append((f"{schema}.{name}" if schema else name, fk))
        return sorted(found, key=lambda item: (item[0], str(item[1].get("name"))))


def column_of(table: sa.FromClause, column: str, where: str) -> sa.ColumnElement[Any]:
    """`table.c[column]`, or SchemaMismatch naming the dataset and the column."""
    found = table.c.get(column)
    if found is None:
        raise SchemaMismatch(f"{where}: column {column!r} does not exist in the database table")
    return found
