"""Rows per table, with ids handed out in insertion order."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Rows:
    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.cohorts: Counter[str] = Counter()

    def add(self, table: str, **values: Any) -> int:
        rows = self.tables.setdefault(table, [])
        row_id = len(rows) + 1
        rows.append({"id": row_id, **values})
        return row_id

    def count(self, cohort: str, n: int = 1) -> None:
        """Record a planned case (e.g. 'contacts.former_due') for the summary."""
        self.cohorts[cohort] += n
