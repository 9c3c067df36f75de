"""One run's entries as signed JSON Lines, for the WORM copy.

Each line is an entry's canonical JSON, entry_hash included. The last line
is the signature: HMAC-SHA256 with the current key over every byte before
it, naming the key id, so a holder of the key can check the copy without
the database, and a changed byte anywhere fails the check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Protocol

from retention.ledger.chain import canonical_json, content_hash
from retention.ledger.entry import Entry
from retention.ledger.errors import LedgerError
from retention.ledger.keys import KeyRing

ALGORITHM = "HMAC-SHA256"


class _Source(Protocol):
    ring: KeyRing

    def entries(self, run_id: str | None = None) -> list[Entry]: ...


def run_segment(ledger: _Source, run_id: str) -> bytes:
    entries = ledger.entries(run_id)
    if not entries:
        raise LedgerError(f"run_id: the ledger has no entries of run {run_id!r}")
    body = b"".join(canonical_json(entry.to_json()) + b"\n" for entry in entries)
    signature = {
        "kind": "signature",
        "alg": ALGORITHM,
        "key_id": ledger.ring.current_id,
        "run_id": run_id,
        "entries": len(entries),
        "signature": ledger.ring.sign(body),
    }
    return body + canonical_json(signature) + b"\n"


def verify_segment(data: bytes, keys: Mapping[str, bytes]) -> bool:
    """True only if the signature checks with the named key and every line is
    an untouched entry of the run the signature names."""
    try:
        body, signature = _split(data)
        secret = keys[signature["key_id"]]
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if signature.get("alg") != ALGORITHM or not hmac.compare_digest(
            expected, str(signature["signature"])
        ):
            return False
        lines = body.splitlines()
        entries = [Entry.from_json(json.loads(line)) for line in lines]
    except (ValueError, KeyError, TypeError):
        return False
    return len(entries) == signature["entries"] and all(
        e.run_id == signature["run_id"] and content_hash(e.content()) == e.entry_hash
        for e in entries
    )


def _split(data: bytes) -> tuple[bytes, dict[str, Any]]:
    if not data.endswith(b"\n"):
        raise ValueError("a segment ends with a newline")
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    signature = json.loads(data[cut:])
    if not isinstance(signature, dict) or signature.get("kind") != "signature":
        raise ValueError("the last line is not a signature")
    return data[:cut], signature
