"""Benchmark: the ledger at scale: lookup by identity, full and nightly verify.

    .venv/bin/python bench/ledger.py --entries 1000000 --new 10000

Builds, in a fresh PostgreSQL schema (TEST_POSTGRES_URL), a ledger of N
entries: intent and completion pairs, each intent naming one record key and
one person (a keyed hash of their email), chained exactly as the ledger
chains them (each entry's SHA-256 over its content and the previous hash)
and written with COPY, the subject index alongside, the head moved to the
end. Then measures, through the Ledger API:
(a) `lookup` of one person's email: median and slowest of 20 people, ms,
    through the subject index (and, with --compare-like, the LIKE over the
    entries' JSON text that lookup used before the index, once);
(b) a full verify, which also signs a checkpoint where it ended;
(c) `--new` more entries appended the same way, then the nightly verify,
    which reads only those, and its share of the full verify's time.
Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from retention.ledger import Ledger, store  # noqa: E402
from retention.ledger.chain import canonical_json, content_hash  # noqa: E402
from retention.ledger.entry import COMPLETION, INTENT, Entry  # noqa: E402
from retention.ledger.keys import KeyRing  # noqa: E402

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEYS = {"k1": b"bench-ledger-key-0123456789"}
COLUMNS = [c.name for c in store.entries.columns]
AT = datetime(2026, 11, 29, tzinfo=UTC)


def progress(message: str) -> None:
    print(f"[ledger] {message}", file=sys.stderr, flush=True)


def email(person: int) -> str:
    return f"person{person}@example.fi"


@contextmanager
def fresh_schema() -> Iterator[str]:
    admin = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    schema = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _pair(ring: KeyRing, seq: int, prev_hash: str, person: int) -> list[Entry]:
    """An intent about one person's record and its completion, chained on prev_hash."""
    key_hash = ring.hash(person)
    common: dict[str, Any] = dict(
        at=AT,
        run_id=f"run-{person // 1000}",
        policy_hash="sha256-bench",
        key_id="k1",
        rule_id="inactive-contacts",
        system="crm",
        dataset="contacts",
        action="delete",
        count=1,
        key_hashes=[key_hash],
    )
    intent = Entry(
        seq=seq,
        kind=INTENT,
        prev_hash=prev_hash,
        entry_hash="",
        subject_hashes=[ring.hash(email(person))],
        **common,
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
    return [intent, replace(done, entry_hash=content_hash(done.content()))]


def _copy_row(entry: Entry) -> list[Any]:
    row = entry.to_json()
    for column in ("key_hashes", "cascaded_hashes", "kept", "failed", "subject_hashes", "detail"):
        row[column] = canonical_json(row[column]).decode("utf-8")
    return [row[c] for c in COLUMNS]


def append_bulk(engine: sa.Engine, ring: KeyRing, first_person: int, pairs: int) -> None:
    """`pairs` intent+completion pairs after the head, by COPY, in chunks."""
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cur:
            cur.execute("SELECT seq, entry_hash FROM ledger_head WHERE id = 1")
            seq, prev_hash = cur.fetchone()
        seq += 1
        done = 0
        while done < pairs:
            chunk = min(50_000, pairs - done)
            entries: list[Entry] = []
            for person in range(first_person + done, first_person + done + chunk):
                pair = _pair(ring, seq, prev_hash, person)
                entries += pair
                seq, prev_hash = seq + 2, pair[-1].entry_hash
            with driver.cursor() as cur:
                with cur.copy(f"COPY ledger_entries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for entry in entries:
                        copy.write_row(_copy_row(entry))
                with cur.copy("COPY ledger_subjects (subject_hash, seq) FROM STDIN") as copy:
                    for entry in entries:
                        for h in entry.subject_hashes:
                            copy.write_row([h, entry.seq])
                cur.execute(
                    "UPDATE ledger_head SET seq = %s, entry_hash = %s WHERE id = 1",
                    (seq - 1, prev_hash),
                )
            driver.commit()
            done += chunk
            progress(f"{first_person + done:,} people, {seq - 1:,} entries")
        if first_person == 0:  # statistics for the planner once; autovacuum does the rest
            with driver.cursor() as cur:
                cur.execute("ANALYZE ledger_entries")
                cur.execute("ANALYZE ledger_subjects")
            driver.commit()
    finally:
        raw.close()


def like_lookup_ms(ledger: Ledger, person: int) -> float:
    """The query lookup ran before the subject index: LIKE over JSON text."""
    wanted = ledger.hash(email(person))
    started = time.perf_counter()
    store.read(ledger.engine, store.entries.c.subject_hashes.contains(wanted))
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000, help="entries after the checkpoint")
    parser.add_argument("--compare-like", action="store_true")
    args = parser.parse_args()
    ring = KeyRing.build(KEYS, "k1")
    people = args.entries // 2
    with fresh_schema() as url:
        ledger = Ledger.open(url, keys=KEYS, current_key_id="k1")
        started = time.perf_counter()
        append_bulk(ledger.engine, ring, 0, people)
        build_s = time.perf_counter() - started
        progress(f"built {args.entries:,} entries in {build_s:.1f} s")

        rng = random.Random(14)
        chosen = [rng.randrange(people) for _ in range(20)]
        ledger.lookup({"email": [email(chosen[0])]})  # a warm connection pool
        times = []
        for person in chosen:
            started = time.perf_counter()
            found = ledger.lookup({"email": [email(person)]})
            times.append((time.perf_counter() - started) * 1000)
            if [e.kind for e in found] != [INTENT]:
                raise SystemExit(f"lookup of person {person} found {found}")
        progress(f"lookup: median {statistics.median(times):.1f} ms, slowest {max(times):.1f} ms")
        like_ms = like_lookup_ms(ledger, chosen[0]) if args.compare_like else None

        started = time.perf_counter()
        full = ledger.verify(full=True, sign=True)
        full_s = time.perf_counter() - started
        progress(f"full verify: {full.entries:,} entries in {full_s:.1f} s, ok={full.ok}")

        append_bulk(ledger.engine, ring, people, args.new // 2)
        started = time.perf_counter()
        nightly = ledger.verify(full=False, sign=True)
        nightly_s = time.perf_counter() - started
        progress(f"nightly verify: {nightly.entries:,} entries in {nightly_s:.2f} s")
        ledger.close()
        if not (full.ok and nightly.ok and nightly.started_after == args.entries):
            raise SystemExit(f"verify failed: {full.problems[:3]} {nightly.problems[:3]}")
    print(
        json.dumps(
            {
                "entries": args.entries,
                "build_seconds": round(build_s, 1),
                "lookup_median_ms": round(statistics.median(times), 2),
                "lookup_max_ms": round(max(times), 2),
                "lookup_like_ms": None if like_ms is None else round(like_ms, 1),
                "full_verify_seconds": round(full_s, 2),
                "full_verify_entries_per_s": round(full.entries / full_s, 1),
                "new_entries": nightly.entries,
                "nightly_verify_seconds": round(nightly_s, 3),
                "nightly_verify_entries_per_s": round(nightly.entries / nightly_s, 1),
                "nightly_share_of_full": round(nightly_s / full_s, 4),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
