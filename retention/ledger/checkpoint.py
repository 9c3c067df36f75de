"""Signed checkpoints: a nightly verify reads only what came after the last one.

A verify that found no tampering signs (HMAC with the ledger's current key)
the seq and hash of the last entry it checked and the intents still open
there, and stores that in `ledger_checkpoints`. The next verify starts
from the newest checkpoint whose signature holds and whose entry still has
the signed hash: the chain from there on links to it, so an entry changed,
removed or inserted after it is found as in a full walk. What lies before
the checkpoint is not re-read: `verify --full` does that, and is the check
for a database someone could write behind the ledger's back.

Without the key a checkpoint cannot be forged, so an attacker who rewrites
old entries cannot also move a checkpoint past them; one whose signature
fails is reported and the verify falls back to the full walk.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime

import sqlalchemy as sa

from retention.ledger import store
from retention.ledger.chain import canonical_json, content_hash
from retention.ledger.errors import LedgerKeyError
from retention.ledger.keys import KeyRing
from retention.ledger.verify import Start, VerifyResult, verify_rows


def _signed_text(seq: int, entry_hash: str, open_intents: list[int]) -> bytes:
    body = {"seq": seq, "entry_hash": entry_hash, "open_intents": sorted(open_intents)}
    return b"checkpoint\x00" + canonical_json(body)


def verify(conn: sa.Connection, ring: KeyRing, *, full: bool) -> VerifyResult:
    """Verify the chain, from the newest good checkpoint unless `full`."""
    head = store.read_head(conn)
    start, problems = (None, []) if full else _start(conn, ring)
    where = [] if start is None else [store.entries.c.seq > start.seq]
    # Streamed: a client-side result would hold the whole ledger in memory
    # (a 1M-contact sweep's entries are some 60 MB of JSON); a batch's entry can be
    # 300 KB, so pages are small.
    query = store.select_entries(*where).execution_options(yield_per=50)
    rows = (store.entry_of(r._mapping) for r in conn.execute(query))
    result = verify_rows(rows, head, start)
    if problems:
        result.problems = sorted(problems + result.problems, key=lambda p: p[0])
        result.ok = False
    return result


def record(engine: sa.Engine, ring: KeyRing, result: VerifyResult) -> bool:
    """Sign where `result` ended; False (nothing written) when it found
    tampering, checked nothing new, or that point is signed already."""
    if result.tampered or result.last_seq == 0:
        return False
    text = _signed_text(result.last_seq, result.last_hash, result.open_intents)
    with store.writing(engine) as conn:
        there = store.checkpoints.c.seq == result.last_seq
        if conn.execute(sa.select(store.checkpoints.c.seq).where(there)).first():
            return False
        conn.execute(
            sa.insert(store.checkpoints).values(
                seq=result.last_seq,
                entry_hash=result.last_hash,
                open_intents=json.dumps(sorted(result.open_intents)),
                at=datetime.now(UTC).isoformat(),
                key_id=ring.current_id,
                mac=ring.sign(text),
            )
        )
    return True


def _start(conn: sa.Connection, ring: KeyRing) -> tuple[Start | None, list[tuple[int, str]]]:
    """The newest checkpoint's state, or None (walk from the first entry)
    with the reason it could not be trusted as a problem."""
    newest = conn.execute(
        sa.select(store.checkpoints).order_by(store.checkpoints.c.seq.desc()).limit(1)
    ).first()
    if newest is None:
        return None, []
    seq, open_seqs = int(newest.seq), [int(s) for s in json.loads(newest.open_intents)]
    try:
        expected = ring.sign(_signed_text(seq, newest.entry_hash, open_seqs), newest.key_id)
    except LedgerKeyError:
        return None, []  # signed with a key this ring no longer has: walk it all
    if not hmac.compare_digest(expected, newest.mac):
        return None, [(seq, "checkpoint's signature does not match: it was changed")]
    wanted = [seq, *open_seqs]
    found = {
        e.seq: e
        for e in (
            store.entry_of(r._mapping)
            for r in conn.execute(store.select_entries(store.entries.c.seq.in_(wanted)))
        )
    }
    anchor = found.get(seq)
    if (
        anchor is None
        or anchor.entry_hash != newest.entry_hash
        or content_hash(anchor.content()) != anchor.entry_hash
    ):
        return None, [(seq, "the entry a checkpoint signed was changed or removed since")]
    open_intents: dict[int, tuple[frozenset[str], str]] = {}
    for intent_seq in open_seqs:
        intent = found.get(intent_seq)
        if intent is None or content_hash(intent.content()) != intent.entry_hash:
            return None, [(intent_seq, "an intent open at a checkpoint was changed or removed")]
        open_intents[intent_seq] = (frozenset(intent.key_hashes), intent.key_id)
    return Start(seq, newest.entry_hash, open_intents), []
