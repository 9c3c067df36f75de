"""Benchmark: the ledger at scale: lookup by identity, nightly and full verify.

    .venv/bin/python bench/ledger.py --entries 10000000 --new 10000

Builds, in a fresh PostgreSQL schema (TEST_POSTGRES_URL), a ledger of N
entries: intent and completion pairs, each intent naming one record key and
one person (a keyed hash of their email), chained exactly as the ledger
chains them (bench/ledger_build.py: each entry's SHA-256 over its canonical
content and the previous hash), written with COPY, the subject index
alongside, the head moved to the end. Then measures, through the Ledger API:
(a) `lookup` of one person's email: median and slowest of 20 people, ms,
    through the subject index (with --compare-like, also once the LIKE over
    the entries' JSON text that lookup used before the index);
(b) the ledger's own chain walk over a window from the first entry and one
    from the middle (entries a second, so a full verify's time can be
    extrapolated); with --full-verify, the full verify itself;
(c) the nightly verify: a checkpoint at N - --new is signed (the bench wrote
    those entries; at 10M a full verify to sign it takes over an hour), the
    nightly verify walks the last --new and signs at N; then --new more
    entries are appended and the nightly verify walks only those.
Progress goes to stderr; the last line of stdout is one JSON object. The
schema is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.ledger_build import append_bulk, email, sign_checkpoint, verify_window  # noqa: E402
from bench.rss import peak_rss_mb  # noqa: E402
from retention.ledger import Ledger, store  # noqa: E402
from retention.ledger.entry import INTENT  # noqa: E402

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEYS = {"k1": b"bench-ledger-key-0123456789"}


_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[ledger {time.perf_counter() - _T0:7.1f} s] {message}", file=sys.stderr, flush=True)


@contextmanager
def fresh_schema() -> Iterator[str]:
    admin = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    schema = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:  # 10M entries are some 8 GB: never left behind
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def lookups(ledger: Ledger, people: int) -> list[float]:
    """ms of 20 lookups of random people's emails; each must find its intent."""
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
    return times


def like_lookup_ms(ledger: Ledger, person: int) -> float:
    """The query lookup ran before the subject index: LIKE over JSON text."""
    wanted = ledger.hash(email(person))
    started = time.perf_counter()
    store.read(ledger.engine, store.entries.c.subject_hashes.contains(wanted))
    return (time.perf_counter() - started) * 1000


def relation_mb(ledger: Ledger) -> float:
    with ledger.engine.connect() as conn:
        total = conn.execute(
            sa.text(
                "SELECT pg_total_relation_size('ledger_entries') "
                "+ pg_total_relation_size('ledger_subjects')"
            )
        ).scalar_one()
    return round(int(total) / 2**20, 1)


def timed_nightly(ledger: Ledger, expected_after: int) -> tuple[float, int]:
    started = time.perf_counter()
    result = ledger.verify(full=False, sign=True)
    seconds = time.perf_counter() - started
    if not result.ok or result.started_after != expected_after:
        raise SystemExit(f"nightly verify failed after {result.started_after}: {result.problems}")
    return seconds, result.entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000, help="entries after the checkpoint")
    parser.add_argument("--window", type=int, default=50_000, help="entries per verify window")
    parser.add_argument("--compare-like", action="store_true")
    parser.add_argument("--full-verify", action="store_true", help="also the full verify")
    args = parser.parse_args()
    # A stopped run still drops its schema (the `finally` in fresh_schema).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.entries % 2 or args.new % 2 or args.new >= args.entries:
        parser.error("--entries and --new are even (pairs), --new below --entries")
    out: dict[str, Any] = {"entries": args.entries}
    # The ledger closes before its schema is dropped, also after an error.
    with fresh_schema() as url, Ledger.open(url, keys=KEYS, current_key_id="k1") as ledger:
        started = time.perf_counter()
        append_bulk(ledger, 0, args.entries // 2, progress, bulk=True)
        out["build_seconds"] = round(time.perf_counter() - started, 1)
        out["build_entries_per_s"] = round(args.entries / out["build_seconds"])
        out["ledger_mb"] = relation_mb(ledger)
        progress(f"built {args.entries:,} entries in {out['build_seconds']} s")

        times = lookups(ledger, args.entries // 2)
        out["lookup_median_ms"] = round(statistics.median(times), 2)
        out["lookup_max_ms"] = round(max(times), 2)
        progress(f"lookup: median {out['lookup_median_ms']} ms, slowest {out['lookup_max_ms']}")
        if args.compare_like:
            out["lookup_like_ms"] = round(like_lookup_ms(ledger, 0), 1)

        window = min(args.window, args.entries // 2)
        rates = [
            verify_window(ledger, first, window)
            for first in (1, (args.entries // 2) // 2 * 2 + 1)  # the start, the middle
        ]
        rate = statistics.mean(rates)
        out["window_verify_entries"] = 2 * window
        out["window_verify_entries_per_s"] = round(rate)
        out["full_verify_seconds_extrapolated"] = round(args.entries / rate)
        progress(f"chain windows verify: {rates[0]:.0f} and {rates[1]:.0f} entries/s")
        if args.full_verify:
            started = time.perf_counter()
            full = ledger.verify(full=True, sign=False)
            out["full_verify_seconds"] = round(time.perf_counter() - started, 1)
            if not full.ok:
                raise SystemExit(f"full verify failed: {full.problems[:3]}")

        # Signed by the bench where its own build stood N - new entries ago;
        # the nightly verify checks the rest and signs a checkpoint of its own.
        sign_checkpoint(ledger, args.entries - args.new)
        seconds, walked = timed_nightly(ledger, args.entries - args.new)
        out["nightly_verify_before_seconds"] = round(seconds, 3)
        append_bulk(ledger, args.entries // 2, args.new // 2, progress, bulk=False)
        seconds, walked = timed_nightly(ledger, args.entries)
        out["new_entries"] = walked
        out["nightly_verify_seconds"] = round(seconds, 3)
        out["nightly_verify_entries_per_s"] = round(walked / seconds)
        full_s = out.get("full_verify_seconds") or out["full_verify_seconds_extrapolated"]
        out["nightly_share_of_full"] = round(seconds / full_s, 5)
        progress(f"nightly verify: {walked:,} entries in {seconds:.2f} s")
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
