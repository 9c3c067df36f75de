"""The ledger's write path, made fast, still writes what verify and lookup
expect: an entry's hash and row built from each field encoded once, and the
key ring's HMAC computed from pre-padded states."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from retention.ledger.chain import content_hash
from retention.ledger.entry import Entry, KeptRecord
from retention.ledger.keys import KeyRing, canonical_text
from retention.ledger.store import _row, _sealed


def test_a_sealed_entry_hashes_and_stores_as_the_canonical_json_of_the_whole() -> None:
    draft = Entry(
        seq=7,
        at=datetime(2026, 11, 29, 22, 0, 1, 123456, tzinfo=UTC),
        kind="intent",
        run_id="run-1",
        policy_hash="a" * 64,
        key_id="k1",
        prev_hash="b" * 64,
        entry_hash="",
        rule_id="rule-ä",
        system="crm",
        dataset="contacts",
        action="anonymise",
        count=2,
        key_hashes=["c" * 64, "d" * 64],
        cascaded_hashes={"crm.notes": ["e" * 64], "crm.consents": []},
        kept=[KeptRecord(key_hash="f" * 64, hold_id="accounting-act", until="2030-01-01", note="")],
        subject_hashes=["1" * 64],
        approved_by='Päivi "ops" Virtanen',
        detail={"images": ["0" * 32], "z": {"b": 1, "a": [None, True, 1.5]}},
    )
    entry, row = _sealed(draft)
    assert entry.entry_hash == content_hash(draft.content())
    assert row == _row(entry)


@pytest.mark.parametrize("secret_bytes", [16, 63, 64, 65, 200])
def test_the_ring_s_hash_is_hmac_sha256_of_the_canonical_value(secret_bytes: int) -> None:
    """The ring computes HMAC from pre-padded SHA-256 states for speed; it
    must stay the standard HMAC, or lookups of older entries would miss."""
    secret = bytes(range(secret_bytes % 256)) + b"s" * (secret_bytes - secret_bytes % 256)
    ring = KeyRing.build({"k1": secret}, "k1")
    values: list[str | int] = [42, "Anna.Virtanen@Example.FI", "040 123 4567", "Ärjä Öljy", 7]
    expected = [
        hmac.new(secret, canonical_text(v).encode(), hashlib.sha256).hexdigest() for v in values
    ]
    assert ring.hash_many(values) == expected
    assert ring.hash_many(values) == expected  # the memo gives the same
