"""The append-only table of entries, and the head row that serialises appends.

The head row holds the last seq and hash. An appender locks it (PostgreSQL:
SELECT ... FOR UPDATE; SQLite: the BEGIN IMMEDIATE write lock), builds the
next entry on it, inserts, and moves the head, all in one transaction. The
head also lets verify notice entries cut off the end, which a chain alone
cannot show. Triggers refuse UPDATE and DELETE on entries and on the subject
index (SQLite, PostgreSQL, MariaDB/MySQL) and TRUNCATE (PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from retention.ledger.chain import GENESIS, canonical_json
from retention.ledger.engine import WRITE
from retention.ledger.entry import Entry
from retention.ledger.errors import LedgerError

metadata = sa.MetaData()

entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(128), nullable=False, index=True),
    sa.Column("policy_hash", sa.String(128), nullable=False),
    sa.Column("rule_id", sa.String(128)),
    sa.Column("system", sa.String(128)),
    sa.Column("dataset", sa.String(128)),
    sa.Column("action", sa.String(32)),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("key_hashes", sa.Text, nullable=False),
    sa.Column("cascaded_hashes", sa.Text, nullable=False),
    sa.Column("kept", sa.Text, nullable=False),
    sa.Column("failed", sa.Text, nullable=False),
    sa.Column("subject_hashes", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(32)),
    sa.Column("approved_by", sa.String(128)),
    # One completion per intent, also when two processes race to complete it.
    sa.Column("intent_seq", sa.BigInteger, unique=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
)

head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)

# Which entries name which subject hash: a lookup by identity reads this
# index instead of every entry's JSON. Written in the entry's transaction;
# derived data, never evidence (lookup re-checks each entry it returns).
subjects = sa.Table(
    "ledger_subjects",
    metadata,
    sa.Column("subject_hash", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
)

# Signed checkpoints of verify: an HMAC (the ledger's key) over the last
# verified seq, its entry hash and the intents still open there, so the
# next verify starts after it. Forging one needs the key.
checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Column("open_intents", sa.Text, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
)

# Facts about the ledger's own schema, e.g. that the subject index is complete.
meta = sa.Table(
    "ledger_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
SUBJECTS_INDEXED = "subjects_indexed"

# Who may apply changes now: one row, taken by a run, renewed by its
# heartbeat, released at its end, taken over once expired (see lease.py).
lease = sa.Table(
    "ledger_lease",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(128)),
    sa.Column("holder", sa.String(200)),
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),
    sa.Column("expires_at", sa.Float),
)

_JSON_COLUMNS = ("key_hashes", "cascaded_hashes", "kept", "failed", "subject_hashes", "detail")
_SCHEMA_LOCK = 0x6C6564676572  # PostgreSQL advisory lock id while creating tables

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS ledger_entries_no_{op.lower()} BEFORE {op} ON ledger_entries "
    "BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END"
    for op in ("UPDATE", "DELETE")
]
_POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$",
    "CREATE OR REPLACE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE "
    "ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    "CREATE OR REPLACE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE "
    "ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
]
# MariaDB and MySQL have no TRUNCATE trigger: grant the ledger's user no DROP.
_MYSQL_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS ledger_entries_no_{op.lower()} BEFORE {op} ON ledger_entries "
    "FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger entries are append-only'"
    for op in ("UPDATE", "DELETE")
]

# The subject index is append-only too: an index row removed or moved would
# hide a person's entries from lookup. Its one legitimate DELETE is the
# fill of a ledger without the SUBJECTS_INDEXED marker (_index_subjects_once),
# which rewrites the table from the entries in the marker's transaction: a
# DELETE is refused while the marker is there. Removing the marker to get
# past that only makes the next open rebuild the index from the entries.
_INDEX_REFUSED = "ledger subject index rows are append-only"
_MARKED = f"EXISTS (SELECT 1 FROM ledger_meta WHERE name = '{SUBJECTS_INDEXED}')"
_SQLITE_TRIGGERS += [
    "CREATE TRIGGER IF NOT EXISTS ledger_subjects_no_update BEFORE UPDATE ON ledger_subjects "
    f"BEGIN SELECT RAISE(ABORT, '{_INDEX_REFUSED}'); END",
    "CREATE TRIGGER IF NOT EXISTS ledger_subjects_no_delete BEFORE DELETE ON ledger_subjects "
    f"WHEN {_MARKED} BEGIN SELECT RAISE(ABORT, '{_INDEX_REFUSED}'); END",
]
_POSTGRES_TRIGGERS += [
    "CREATE OR REPLACE FUNCTION ledger_subjects_refuse_change() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'DELETE' AND NOT {_MARKED} THEN RETURN OLD; "
    f"END IF; RAISE EXCEPTION '{_INDEX_REFUSED}'; END $$",
    "CREATE OR REPLACE TRIGGER ledger_subjects_append_only BEFORE UPDATE OR DELETE "
    "ON ledger_subjects FOR EACH ROW EXECUTE FUNCTION ledger_subjects_refuse_change()",
    "CREATE OR REPLACE TRIGGER ledger_subjects_no_truncate BEFORE TRUNCATE "
    "ON ledger_subjects FOR EACH STATEMENT EXECUTE FUNCTION ledger_subjects_refuse_change()",
]
_MYSQL_TRIGGERS += [
    "CREATE TRIGGER IF NOT EXISTS ledger_subjects_no_update BEFORE UPDATE ON ledger_subjects "
    f"FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_INDEX_REFUSED}'",
    "CREATE TRIGGER IF NOT EXISTS ledger_subjects_no_delete BEFORE DELETE ON ledger_subjects "
    f"FOR EACH ROW BEGIN IF {_MARKED} THEN "
    f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_INDEX_REFUSED}'; END IF; END",
]
_TRIGGERS = {
    "sqlite": _SQLITE_TRIGGERS,
    "postgresql": _POSTGRES_TRIGGERS,
    "mysql": _MYSQL_TRIGGERS,
    "mariadb": _MYSQL_TRIGGERS,
}


@contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that holds the ledger's write lock from its first statement."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn


def create_schema(engine: sa.Engine) -> None:
    with writing(engine) as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        metadata.create_all(conn)
        for statement in _TRIGGERS.get(dialect, []):
            conn.exec_driver_sql(statement)
        if dialect == "postgresql":
            _store_hashes_uncompressed(conn)
        has_head = conn.execute(sa.select(head.c.id).where(head.c.id == 1)).first()
        has_entries = conn.execute(sa.select(entries.c.seq).limit(1)).first()
        if has_head is None and has_entries is None:
            conn.execute(sa.insert(head).values(id=1, seq=0, entry_hash=GENESIS))
        _index_subjects_once(conn)


def _store_hashes_uncompressed(conn: sa.Connection) -> None:
    """Lists of hex hashes barely compress, yet compressing them took a fifth
    of each ledger append in a sweep (bench/sql_sweep.py --profile): they are
    stored out of line without compression. Altered once; new rows only."""
    compressed = conn.execute(
        sa.text(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) "
            "AND attname IN ('key_hashes', 'cascaded_hashes', 'subject_hashes', 'detail') "
            "AND attstorage <> 'e'"
        ),
        {"table": entries.name},
    ).scalars()
    for column in list(compressed):
        conn.exec_driver_sql(
            f"ALTER TABLE {entries.name} ALTER COLUMN {column} SET STORAGE EXTERNAL"
        )


def _index_subjects_once(conn: sa.Connection) -> None:
    """A ledger written before the subject index gets it filled once, under
    the write lock, so no append slips between the fill and the marker."""
    if conn.execute(sa.select(meta.c.value).where(meta.c.name == SUBJECTS_INDEXED)).first():
        return
    conn.execute(sa.delete(subjects))
    last = 0
    while True:  # keyset pages: a streamed cursor would block inserts on MariaDB
        page = conn.execute(
            sa.select(entries.c.seq, entries.c.subject_hashes)
            .where(entries.c.seq > last, entries.c.subject_hashes != "[]")
            .order_by(entries.c.seq)
            .limit(5000)
        ).all()
        for seq, hashes in page:
            _index(conn, seq, json.loads(hashes))
        if len(page) < 5000:
            break
        last = page[-1].seq
    conn.execute(sa.insert(meta).values(name=SUBJECTS_INDEXED, value="1"))


def append_all(engine: sa.Engine, batch: list[dict[str, Any]]) -> list[Entry]:
    """Chain new entries after the head, in order, in one transaction; each
    `fields` is Entry's, minus seq, at and the two hashes. Committed when this
    returns."""
    written: list[Entry] = []
    with writing(engine) as conn:
        last = conn.execute(
            sa.select(head.c.seq, head.c.entry_hash).where(head.c.id == 1).with_for_update()
        ).first()
        if last is None:
            raise LedgerError("the ledger's head row is missing; run verify before appending")
        seq, prev_hash = last.seq, last.entry_hash
        for fields in batch:
            draft = Entry(
                seq=seq + 1, at=datetime.now(UTC), prev_hash=prev_hash, entry_hash="", **fields
            )
            entry, row = _sealed(draft)
            try:
                conn.execute(sa.insert(entries).values(**row))
            except sa.exc.IntegrityError as exc:
                if fields.get("intent_seq") is not None:
                    raise LedgerError(
                        f"intent_seq {fields['intent_seq']}: that intent already has a completion"
                    ) from exc
                raise
            if entry.subject_hashes:
                _index(conn, entry.seq, entry.subject_hashes, row["subject_hashes"])
            written.append(entry)
            seq, prev_hash = entry.seq, entry.entry_hash
        conn.execute(sa.update(head).where(head.c.id == 1).values(seq=seq, entry_hash=prev_hash))
    return written


# The index rows of an entry from its hashes as one JSON parameter: one
# statement per entry. An executemany is a statement per row on psycopg, and
# a multi-row VALUES is compiled anew each time; either cost a sweep of
# 1,000-key batches a third of its time.
_FROM_JSON = {
    "postgresql": "SELECT DISTINCT value, :seq "
    "FROM json_array_elements_text(CAST(:hashes AS json))",
    "sqlite": "SELECT DISTINCT value, :seq FROM json_each(:hashes)",
    "mysql": "SELECT DISTINCT h, :seq FROM JSON_TABLE(:hashes, '$[*]' "
    "COLUMNS (h VARCHAR(64) PATH '$')) AS t",
}
_FROM_JSON["mariadb"] = _FROM_JSON["mysql"]


def _index(conn: sa.Connection, seq: int, hashes: list[str], as_json: str | None = None) -> None:
    if not hashes:
        return
    select = _FROM_JSON.get(conn.dialect.name)
    if select is None:
        rows = [{"subject_hash": h, "seq": seq} for h in sorted(set(hashes))]
        conn.execute(sa.insert(subjects), rows)
        return
    statement = f"INSERT INTO {subjects.name} (subject_hash, seq) {select}"
    conn.execute(sa.text(statement), {"seq": seq, "hashes": as_json or json.dumps(hashes)})


def read_head(conn: sa.Connection) -> tuple[int, str] | None:
    row = conn.execute(sa.select(head.c.seq, head.c.entry_hash).where(head.c.id == 1)).first()
    return (row.seq, row.entry_hash) if row else None


def select_entries(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(entries).where(*where).order_by(entries.c.seq)


def read(engine: sa.Engine, *where: sa.ColumnElement[bool]) -> list[Entry]:
    with engine.connect() as conn:
        return [entry_of(row._mapping) for row in conn.execute(select_entries(*where))]


def entry_of(row: Any) -> Entry:
    data = dict(row)
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column])
    return Entry.from_json(data)


def _sealed(draft: Entry) -> tuple[Entry, dict[str, Any]]:
    """The entry with its hash, and its row. Each field is encoded once and
    the canonical JSON of the whole is joined from those parts (keys sorted,
    as canonical_json sorts them): a batch's hash lists are hundreds of
    kilobytes, and encoding them twice was a tenth of a sweep's ledger time."""
    content = draft.content()
    parts = {name: canonical_json(value) for name, value in content.items()}
    whole = b",".join(b'"%s":%s' % (name.encode(), parts[name]) for name in sorted(parts))
    entry = replace(draft, entry_hash=hashlib.sha256(b"{" + whole + b"}").hexdigest())
    row = {**content, "entry_hash": entry.entry_hash}
    for column in _JSON_COLUMNS:
        row[column] = parts[column].decode("utf-8")
    return entry, row


def _row(entry: Entry) -> dict[str, Any]:
    row = entry.to_json()
    for column in _JSON_COLUMNS:
        row[column] = canonical_json(row[column]).decode("utf-8")
    return row
