"""Checking the chain: every entry's own hash, every link, every seq, the
head, and that every intent has its completion.

Tampering and an unfinished intent are told apart: a missing completion is
what a killed process leaves (recovery closes it), the others are evidence
that was changed after it was written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from retention.ledger.chain import GENESIS, content_hash
from retention.ledger.entry import COMPLETION, INTENT, Entry

MISSING_COMPLETION = "missing completion"


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    problems: list[tuple[int, str]] = field(default_factory=list)
    # Where the walk ended, and the intents still open there: what a
    # checkpoint signs, so the next verify can start after it.
    last_seq: int = 0
    last_hash: str = GENESIS
    open_intents: list[int] = field(default_factory=list)
    # The checkpoint this walk started after (0: from the first entry).
    started_after: int = 0

    @property
    def tampered(self) -> bool:
        return any(what != MISSING_COMPLETION for _, what in self.problems)

    @property
    def missing_completions(self) -> list[int]:
        return [seq for seq, what in self.problems if what == MISSING_COMPLETION]


@dataclass(frozen=True)
class Start:
    """A checkpoint's state: the last entry already verified, and the
    intents open there (seq -> their key hashes and key id)."""

    seq: int
    entry_hash: str
    open_intents: dict[int, tuple[frozenset[str], str]] = field(default_factory=dict)


def verify_rows(
    rows: Iterable[Entry], head: tuple[int, str] | None, start: Start | None = None
) -> VerifyResult:
    """Walk `rows` in seq order; with `start`, they are the entries after a
    checkpoint and the walk goes on from its state."""
    problems: list[tuple[int, str]] = []
    open_intents: dict[int, set[str]] = {}
    intent_keys: dict[int, str] = {}
    expected_seq, prev_hash, count = 1, GENESIS, 0
    if start is not None:
        expected_seq, prev_hash = start.seq + 1, start.entry_hash
        for seq, (keys, key_id) in start.open_intents.items():
            open_intents[seq], intent_keys[seq] = set(keys), key_id
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
            first, last = expected_seq, entry.seq - 1
            span = f"entry {first} is" if first == last else f"entries {first}..{last} are"
            problems.append((first, f"{span} missing: deleted from the ledger"))
        elif entry.prev_hash != prev_hash:
            problems.append(
                (entry.seq, f"broken link: prev_hash does not match entry {entry.seq - 1}'s hash")
            )
        if content_hash(entry.content()) != entry.entry_hash:
            problems.append((entry.seq, "changed after it was written: its hash does not match"))
        if entry.kind == INTENT:
            open_intents[entry.seq] = set(entry.key_hashes)
            intent_keys[entry.seq] = entry.key_id
        elif entry.kind == COMPLETION:
            problems += _completion_problems(entry, open_intents, intent_keys)
        expected_seq, prev_hash = entry.seq + 1, entry.entry_hash
    problems += _head_problems(head, expected_seq - 1, prev_hash)
    problems += [(seq, MISSING_COMPLETION) for seq in sorted(open_intents)]
    problems.sort(key=lambda p: p[0])
    return VerifyResult(
        ok=not problems,
        entries=count,
        problems=problems,
        last_seq=expected_seq - 1,
        last_hash=prev_hash,
        open_intents=sorted(open_intents),
        started_after=start.seq if start is not None else 0,
    )


def _completion_problems(
    entry: Entry, open_intents: dict[int, set[str]], intent_keys: dict[int, str]
) -> list[tuple[int, str]]:
    seq = entry.intent_seq
    if seq is None or seq not in open_intents:
        return [(entry.seq, f"completion of entry {seq}, which is not an open intent before it")]
    # Both popped: a closed intent must cost the walk no memory, or a full
    # verify of 10M entries held 5M key ids (bench/ledger.py: 697 MB peak).
    keys, key_id = open_intents.pop(seq), intent_keys.pop(seq)
    if key_id == entry.key_id and not set(entry.key_hashes) <= keys:
        return [(entry.seq, f"completion claims keys intent {seq} did not name")]
    return []


def _head_problems(
    head: tuple[int, str] | None, last_seq: int, last_hash: str
) -> list[tuple[int, str]]:
    if head is None:
        return [(last_seq, "the head row is missing")]
    head_seq, head_hash = head
    if head_seq > last_seq:
        first = last_seq + 1
        span = f"entry {first} is" if first == head_seq else f"entries {first}..{head_seq} are"
        return [(first, f"{span} missing from the end: the head says {head_seq} entries")]
    if head_seq < last_seq:
        return [(head_seq + 1, f"entries after {head_seq} were added behind the head's back")]
    if head_hash != last_hash:
        return [(last_seq, "the last entry's hash does not match the head")]
    return []
