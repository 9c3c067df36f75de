"""A chain walk holds only the intents still open: a completed intent costs
it no memory, so a full verify of millions of entries stays flat (before,
each intent's key id stayed behind: 697 MB peak at 10M entries)."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from retention.ledger.chain import GENESIS, content_hash
from retention.ledger.entry import COMPLETION, INTENT, Entry
from retention.ledger.verify import verify_rows

AT = datetime(2026, 11, 29, tzinfo=UTC)
ROOT = Path(__file__).parent.parent


def chain(pairs: int) -> Iterator[Entry]:
    """Intent and completion pairs, chained, made one at a time."""
    prev = GENESIS
    for n in range(pairs):
        seq, keys = 2 * n + 1, [f"{n:064x}"]
        for draft in (
            Entry(seq, AT, INTENT, "r", "p", "k1", prev, "", key_hashes=keys),
            Entry(seq + 1, AT, COMPLETION, "r", "p", "k1", "", "", key_hashes=keys, intent_seq=seq),
        ):
            entry = replace(draft, prev_hash=prev)
            entry = replace(entry, entry_hash=content_hash(entry.content()))
            prev = entry.entry_hash
            yield entry


def peak_bytes(pairs: int) -> int:
    last = list(chain(pairs))[-1]  # the head, computed apart from the walk
    tracemalloc.start()
    try:
        result = verify_rows(chain(pairs), (last.seq, last.entry_hash))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.entries == 2 * pairs
    return peak


def test_a_walk_does_not_keep_what_completed_intents_held() -> None:
    # tracemalloc counts every thread's allocations; a thread an earlier test
    # left running in this worker once added 260 KB to a peak, so the walks
    # are measured in a process of their own.
    code = (
        "import json, tests.test_ledger_verify_memory as t;"
        "print(json.dumps([t.peak_bytes(500), t.peak_bytes(10_000)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    small, large = json.loads(out.stdout.strip().splitlines()[-1])
    # 20x the intents: the peak may wobble, but not grow with them (with
    # each key id kept, 10,000 intents added some 600 KB).
    assert large < small + 200_000, (small, large)
