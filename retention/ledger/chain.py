"""Canonical serialisation and the hash chain.

An entry's hash is SHA-256 over a canonical JSON of all its other fields,
prev_hash included, so changing any field of any entry, or removing or
reordering entries, breaks either that entry's hash or the next one's link.
The hash is deliberately unkeyed: anyone holding the rows can check it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()
