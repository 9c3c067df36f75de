"""The ledger's database engine, set up so two processes can append safely.

SQLite: WAL (a reader never blocks the appender), a busy timeout (a second
appender waits instead of failing), secure_delete (freed pages are zeroed),
and BEGIN IMMEDIATE for writes, so the write lock is taken before the head
is read and two appenders can never both see the same last entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from retention.ledger.errors import LedgerError

DEFAULT_URL = "sqlite:///.retention/ledger.db"
WRITE = "ledger_write"  # execution option: this transaction appends
BUSY_TIMEOUT_S = 30


def open_engine(url: str) -> sa.Engine:
    """An engine that has connected once: an unreachable ledger is an error
    naming it (RETENTION_LEDGER_URL, password hidden) before a run starts."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        # The URL may hold a password: say what is wrong, not what it is.
        raise LedgerError("url: not an SQLAlchemy database URL; see RETENTION_LEDGER_URL") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        engine = _create(parsed, shown)
        with engine.connect():
            pass
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise LedgerError(f"url: {shown}: no database driver for this URL ({exc})") from None
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        text = str(exc.orig).strip() if exc.orig is not None else ""
        reason = text.splitlines()[0] if text else type(exc).__name__
        if parsed.password:
            reason = reason.replace(parsed.password, "***")
        raise LedgerError(
            f"url: the ledger {shown} cannot be reached ({reason}); check RETENTION_LEDGER_URL"
        ) from None
    return engine


def _create(parsed: sa.URL, shown: str) -> sa.Engine:
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise LedgerError(f"url: {shown!r} is an in-memory SQLite database; evidence must persist")
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"url: {shown}: cannot create its folder ({exc.strerror})") from None
    engine = sa.create_engine(
        parsed, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, decides when and how BEGIN is sent.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _begin_sqlite(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")
