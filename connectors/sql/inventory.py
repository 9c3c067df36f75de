"""Every table and column a database really has (not only those the policy
names), and a bounded sample of a text column's values, for the coverage
check. Reads only; the sample never leaves the caller's judgement."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from retention.coverage.check import TableInventory

SAMPLE_ROWS = 200  # per column: enough to see a pattern, bounded on any table


def inventory(engine: sa.Engine, schema: str | None = None) -> list[TableInventory]:
    inspector = sa.inspect(engine)
    tables = []
    for table in sorted(inspector.get_table_names(schema=schema)):
        columns = inspector.get_columns(table, schema=schema)
        text = {c["name"] for c in columns if _is_text(c["type"])}
        tables.append(TableInventory(table, [c["name"] for c in columns], text))
    return tables


def _is_text(kind: sa.types.TypeEngine[object]) -> bool:
    return isinstance(kind, sa.String | sa.Text | sa.JSON)


def sample(engine: sa.Engine, table: str, column: str, limit: int = SAMPLE_ROWS) -> Sequence[str]:
    """Up to `limit` non-empty values of the column, as text."""
    t = sa.table(table, sa.column(column))
    col = t.c[column]
    query = sa.select(sa.cast(col, sa.String)).where(col.is_not(None)).limit(limit)
    with engine.connect() as conn:
        return [str(v) for v in conn.execute(query).scalars() if v is not None]
