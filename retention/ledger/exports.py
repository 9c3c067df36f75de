"""Which runs' segments reached the WORM bucket, and which are still owed.

A row per attempt, never changed: `exported` up to the run's entry
`last_seq`, or `pending` (the attempt failed; the code says why). A run is
owed an export when it has an entry after the last one exported; so a run
killed before its export, or one that recovery later completed, is owed one
too. Runs older than the first export ever attempted are not: their
segments were never meant to be copied.

Kept beside the chain, not in it: an attempt is bookkeeping about the copy,
not evidence of what was done to anyone's data, and the segment exported
must stay exactly the run's entries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from retention.ledger import store
from retention.ledger.entry import RUN_START

EXPORTED = "exported"
PENDING = "pending"

metadata = sa.MetaData()

exports = sa.Table(
    "ledger_exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(128), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(512)),
    sa.Column("code", sa.String(64)),
    sa.Column("at", sa.String(40), nullable=False),
)


def record(
    engine: sa.Engine,
    *,
    run_id: str,
    status: str,
    last_seq: int,
    object_key: str | None = None,
    code: str | None = None,
) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(exports).values(
                run_id=run_id,
                status=status,
                last_seq=last_seq,
                object_key=object_key,
                code=code,
                at=datetime.now(UTC).isoformat(),
            )
        )


def owed(engine: sa.Engine) -> list[str]:
    """Run ids, oldest first, with entries not yet in an exported segment."""
    metadata.create_all(engine)
    e = store.entries
    with engine.connect() as conn:
        attempted = sa.select(exports.c.run_id)
        first = conn.execute(
            sa.select(sa.func.min(e.c.seq)).where(e.c.kind == RUN_START, e.c.run_id.in_(attempted))
        ).scalar()
        if first is None:
            return []
        starts = conn.execute(
            sa.select(e.c.run_id).where(e.c.kind == RUN_START, e.c.seq >= first).order_by(e.c.seq)
        ).scalars()
        runs = list(starts)
        last = _pairs(
            conn,
            sa.select(e.c.run_id, sa.func.max(e.c.seq))
            .where(e.c.seq >= first)
            .group_by(e.c.run_id),
        )
        done = _pairs(
            conn,
            sa.select(exports.c.run_id, sa.func.max(exports.c.last_seq))
            .where(exports.c.status == EXPORTED)
            .group_by(exports.c.run_id),
        )
    return [run for run in runs if last.get(run, 0) > done.get(run, 0)]


def _pairs(conn: sa.Connection, query: sa.Select[Any]) -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute(query)}
