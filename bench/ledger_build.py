"""Building a large chained ledger fast, for bench/ledger.py.

Building each Entry and hashing its content() dict cost about 0.55 ms an
entry (90 minutes for 10 million). Here an intent and a completion are each
one canonical-JSON template, made once from a real Entry, with only seq,
run id, hashes and prev_hash filled in per entry; its COPY line is another
template. The first pair is also built the slow way and must match byte for
byte, and windows of the result go through the ledger's own chain walk.

While loading 10M rows the ledger's indexes and unique constraints are
dropped (each row would otherwise update four B-trees, one of them over
random hashes) and rebuilt after, by the definitions read from the catalog
before they were dropped; the catalog must then read exactly as before.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from retention.ledger import Ledger, checkpoint, store
from retention.ledger.chain import canonical_json, content_hash
from retention.ledger.entry import COMPLETION, INTENT, Entry
from retention.ledger.keys import KeyRing
from retention.ledger.verify import Start, VerifyResult, verify_rows

AT = datetime(2026, 11, 29, tzinfo=UTC)
CHUNK = 100_000  # pairs per COPY and commit
TABLES = ("ledger_entries", "ledger_subjects")
_JSON_COLUMNS = ("key_hashes", "cascaded_hashes", "kept", "failed", "subject_hashes", "detail")
# Stand-ins that occur nowhere else in an entry; they become f-string fields.
_FILL = {
    "999000111": "{seq}",
    "999000110": "{intent}",
    "@RUN@": "{run}",
    "@KEY@": "{key}",
    "@SUBJECT@": "{subject}",
    "@PREV@": "{prev}",
    "@HASH@": "{hash}",
}


def email(person: int) -> str:
    return f"person{person}@example.fi"


def _pair(seq: int, run: str, key: str, subject: str, prev: str) -> tuple[Entry, Entry]:
    """An intent and its completion, as the ledger builds them (slowly)."""
    common: dict[str, Any] = dict(
        at=AT,
        run_id=run,
        policy_hash="sha256-bench",
        key_id="k1",
        rule_id="inactive-contacts",
        system="crm",
        dataset="contacts",
        action="delete",
        count=1,
        key_hashes=[key],
    )
    intent = Entry(
        seq=seq, kind=INTENT, prev_hash=prev, entry_hash="", subject_hashes=[subject], **common
    )
    intent = replace(intent, entry_hash=content_hash(intent.content()))
    done = Entry(
        seq=seq + 1,
        kind=COMPLETION,
        prev_hash=intent.entry_hash,
        entry_hash="",
        outcome="completed",
        intent_seq=seq,
        **common,
    )
    return intent, replace(done, entry_hash=content_hash(done.content()))


Fill = Callable[..., str]


def _template(text: str) -> Fill:
    """`text` with its stand-ins as the arguments of a compiled f-string:
    the fastest formatting CPython has (str.format took five times as long).
    The text is our own entry's, built above, never outside input."""
    text = text.replace("{", "{{").replace("}", "}}")
    for stand_in, field in _FILL.items():
        text = text.replace(stand_in, field)
    fill: Fill = eval("lambda seq, intent, run, key, subject, prev, hash: f" + repr(text))
    return fill


def _copy_line(entry: Entry) -> str:
    """The entry as one line of COPY's text format, columns in table order.
    No value here holds a tab, newline or backslash, so none is escaped."""
    row = entry.to_json()  # as the ledger stores it: list and dict columns as canonical JSON
    for column in _JSON_COLUMNS:
        row[column] = canonical_json(row[column]).decode("utf-8")
    cells = ["\\N" if row[c.name] is None else str(row[c.name]) for c in store.entries.columns]
    return "\t".join(cells) + "\n"


class Templates:
    """Canonical content and COPY line of an intent and of a completion."""

    def __init__(self) -> None:
        intent, done = _pair(999000111, "@RUN@", "@KEY@", "@SUBJECT@", "@PREV@")
        done = replace(done, seq=999000111, intent_seq=999000110, prev_hash="@PREV@")
        self.intent = _template(canonical_json(intent.content()).decode())
        self.done = _template(canonical_json(done.content()).decode())
        self.intent_line = _template(_copy_line(replace(intent, entry_hash="@HASH@")))
        self.done_line = _template(_copy_line(replace(done, entry_hash="@HASH@")))

    def check(self, seq: int, run: str, key: str, subject: str, prev: str) -> None:
        """The templates give the very bytes and hashes the ledger's code gives."""
        intent, done = _pair(seq, run, key, subject, prev)
        fast = self.chunk(seq, prev, [(run, key, subject)])
        lines = [_copy_line(intent), _copy_line(done)]
        if fast != ("".join(lines), f"{subject}\t{seq}\n", seq + 2, done.entry_hash):
            raise SystemExit("bench templates differ from the ledger's own entries")

    def chunk(
        self, seq: int, prev: str, people: list[tuple[str, str, str]]
    ) -> tuple[str, str, int, str]:
        """COPY text of entries and of index rows for (run, key hash,
        subject hash) people from `seq` on, the next seq and the last hash."""
        sha, intent, done = hashlib.sha256, self.intent, self.done
        intent_line, done_line = self.intent_line, self.done_line
        lines: list[str] = []
        index: list[str] = []
        for run, key, subject in people:
            ihash = sha(intent(seq, 0, run, key, subject, prev, "").encode()).hexdigest()
            lines.append(intent_line(seq, 0, run, key, subject, prev, ihash))
            chash = sha(done(seq + 1, seq, run, key, "", ihash, "").encode()).hexdigest()
            lines.append(done_line(seq + 1, seq, run, key, "", ihash, chash))
            index.append(f"{subject}\t{seq}\n")
            seq, prev = seq + 2, chash
        return "".join(lines), "".join(index), seq, prev


def append_bulk(
    ledger: Ledger, first_person: int, pairs: int, progress: Callable[[str], None], *, bulk: bool
) -> None:
    """`pairs` intent+completion pairs after the head, by COPY. With `bulk`,
    indexes and unique constraints are rebuilt after the load."""
    templates = Templates()
    raw = ledger.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cur:
            # This session only: a lost commit at a crash costs a re-run.
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '1GB'")
            cur.execute("SELECT seq, entry_hash FROM ledger_head WHERE id = 1")
            seq, prev = cur.fetchone()
        seq += 1
        templates.check(seq, "run-check", "a" * 64, "b" * 64, prev)
        schema = _schema(driver)
        if bulk:
            _drop_indexes(driver, schema)
        done = 0
        while done < pairs:
            chunk = min(CHUNK, pairs - done)
            people = range(first_person + done, first_person + done + chunk)
            keys, subjects = _hashes(ledger.ring, people)
            runs = [f"run-{p // 1000}" for p in people]
            lines, index, seq, prev = templates.chunk(
                seq, prev, list(zip(runs, keys, subjects, strict=True))
            )
            with driver.cursor() as cur:
                columns = ", ".join(c.name for c in store.entries.columns)
                with cur.copy(f"COPY ledger_entries ({columns}) FROM STDIN") as copy:
                    copy.write(lines)
                with cur.copy("COPY ledger_subjects (subject_hash, seq) FROM STDIN") as copy:
                    copy.write(index)
                cur.execute(
                    "UPDATE ledger_head SET seq = %s, entry_hash = %s WHERE id = 1",
                    (seq - 1, prev),
                )
            driver.commit()
            done += chunk
            progress(f"{first_person + done:,} people, {seq - 1:,} entries")
        if bulk:
            progress("building indexes and constraints")
            _restore_indexes(driver, schema)
            if _schema(driver) != schema:
                raise SystemExit("the rebuilt schema differs from the ledger's")
            # Statistics for the planner, and the index's visibility map so a
            # lookup reads it alone; autovacuum would do both, later.
            driver.autocommit = True
            with driver.cursor() as cur:
                cur.execute("VACUUM ANALYZE ledger_subjects")
                cur.execute("ANALYZE ledger_entries")
            driver.autocommit = False  # the pool gets it back as it lent it
    finally:
        raw.close()


def _hashes(ring: KeyRing, people: range) -> tuple[list[str], list[str]]:
    """Each person's record key hash and email hash under the current key.
    Straight HMAC: KeyRing.hash's normalisation and memo cost four times
    more, and change nothing for an int or a lower-case ASCII email, which
    the ends of each range check against the ring itself."""
    keyed = hmac.new(ring.secret(ring.current_id), digestmod=hashlib.sha256)
    keys: list[str] = []
    subjects: list[str] = []
    for person in people:
        for out, text in ((keys, str(person)), (subjects, email(person))):
            digest = keyed.copy()
            digest.update(text.encode())
            out.append(digest.hexdigest())
    for i in (0, -1):
        if (keys[i], subjects[i]) != (ring.hash(people[i]), ring.hash(email(people[i]))):
            raise SystemExit("bench hashes differ from the key ring's")
    return keys, subjects


_CONSTRAINTS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY conname"
)
_INDEXES = (
    "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
    "ORDER BY c.relname"
)


def _schema(driver: Any) -> dict[str, list[tuple[str, str]]]:
    """table -> its constraints and plain indexes, as the catalog defines them."""
    out: dict[str, list[tuple[str, str]]] = {}
    with driver.cursor() as cur:
        for table in TABLES:
            out[table] = []
            for query in (_CONSTRAINTS, _INDEXES):
                cur.execute(query, (table,))
                out[table] += [(name, definition) for name, definition in cur.fetchall()]
    driver.commit()
    return out


def _drop_indexes(driver: Any, schema: dict[str, list[tuple[str, str]]]) -> None:
    with driver.cursor() as cur:
        for table, items in schema.items():
            for name, definition in items:
                if definition.startswith("CREATE"):
                    cur.execute(f'DROP INDEX "{name}"')
                else:
                    cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    driver.commit()


def _restore_indexes(driver: Any, schema: dict[str, list[tuple[str, str]]]) -> None:
    with driver.cursor() as cur:
        for table, items in schema.items():
            for name, definition in items:
                if definition.startswith("CREATE"):
                    cur.execute(definition)
                else:
                    cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                driver.commit()


def verify_window(ledger: Ledger, first: int, size: int) -> float:
    """The ledger's chain walk (verify_rows) over entries first..first+size-1,
    started from the entry before as a checkpoint would; entries a second."""
    with ledger.engine.connect() as conn:
        start = None
        if first > 1:
            before = conn.execute(store.select_entries(store.entries.c.seq == first - 1)).one()
            start = Start(first - 1, before.entry_hash)
        last = first + size - 1
        end = conn.execute(store.select_entries(store.entries.c.seq == last)).one()
        started = time.perf_counter()
        query = store.select_entries(store.entries.c.seq.between(first, last))
        rows = conn.execute(query.execution_options(yield_per=50))
        result = verify_rows(
            (store.entry_of(r._mapping) for r in rows), (last, end.entry_hash), start
        )
        seconds = time.perf_counter() - started
    if not result.ok or result.entries != size:
        raise SystemExit(f"the chain from entry {first} does not verify: {result.problems[:3]}")
    return size / seconds


def sign_checkpoint(ledger: Ledger, seq: int) -> None:
    """A checkpoint at `seq` (a completion: no intent open there), as a
    verify that had walked up to it would sign."""
    with ledger.engine.connect() as conn:
        last = conn.execute(store.select_entries(store.entries.c.seq == seq)).one()
    walked = VerifyResult(ok=True, entries=seq, last_seq=seq, last_hash=last.entry_hash)
    if not checkpoint.record(ledger.engine, ledger.ring, walked):
        raise SystemExit(f"no checkpoint signed at {seq}")
