"""HMAC keys with ids, and the one normalisation every hashed value gets.

The ledger never stores an identity or a record key, only its HMAC under a
named key. Entries keep the key id, so after a rotation the old key (kept in
the ring) still finds and checks what was written under it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retention.identity import canonical
from retention.ledger.errors import LedgerError, LedgerKeyError

MIN_SECRET_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}")


def canonical_text(value: object) -> str:
    """The form a value is hashed in. It is decided by the value's shape
    alone (retention.identity.canonical), because the same person reaches the
    ledger both as a subject of an intent and as an operator's lookup, and
    both must give one hash: `040-123 4567` and `+358 40 123 4567` are one."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LedgerError(f"hash: {type(value).__name__} value is not a string or an integer")
    if isinstance(value, str) and not value.strip():
        raise LedgerError("hash: empty value; an empty key or identity names nothing")
    return canonical(value)


_MEMO = 20_000
_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def hmac_pads(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) as two SHA-256 states that have absorbed the
    key's inner and outer pads. A sweep hashes every key it changes; copying
    these states costs about half of copying an hmac.HMAC object, which
    wraps the same two states in Python."""
    if len(secret) > _BLOCK:
        secret = hashlib.sha256(secret).digest()
    padded = secret.ljust(_BLOCK, b"\0")
    return hashlib.sha256(padded.translate(_IPAD)), hashlib.sha256(padded.translate(_OPAD))


@dataclass(frozen=True)
class KeyRing:
    secrets: Mapping[str, bytes]
    current_id: str
    _keyed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Recent hashes, two generations of at most _MEMO each: a batch's
    # completion names the keys its intent just hashed, so it costs a
    # lookup, not an HMAC. Bounded, so memory stays flat on any table.
    _memo: list[dict[tuple[str, type, object], str]] = field(
        default_factory=lambda: [{}, {}], repr=False, compare=False
    )

    @classmethod
    def build(cls, keys: Mapping[str, bytes | str], current_key_id: str) -> KeyRing:
        if not keys:
            raise LedgerKeyError("keys: empty; give at least the current key (key id -> secret)")
        secrets: dict[str, bytes] = {}
        for key_id, secret in keys.items():
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise LedgerKeyError(
                    f"keys: key id {key_id!r} must be 1-32 letters, digits, '.', '_' or '-'"
                )
            raw = secret.encode() if isinstance(secret, str) else secret
            if not isinstance(raw, bytes) or len(raw) < MIN_SECRET_BYTES:
                raise LedgerKeyError(
                    f"keys[{key_id}]: secret must be at least {MIN_SECRET_BYTES} bytes"
                )
            secrets[key_id] = raw
        if current_key_id not in secrets:
            raise LedgerKeyError(
                f"current_key_id: {current_key_id!r} is not among the keys given "
                f"({', '.join(sorted(secrets))})"
            )
        return cls(secrets=secrets, current_id=current_key_id)

    def secret(self, key_id: str) -> bytes:
        try:
            return self.secrets[key_id]
        except KeyError:
            raise LedgerKeyError(
                f"key id {key_id!r} is not in the key ring; keep old keys after a rotation"
            ) from None

    def hash(self, value: object, key_id: str | None = None) -> str:
        return self.hash_many([value], key_id)[0]

    def hash_many(self, values: Iterable[object], key_id: str | None = None) -> list[str]:
        """Hashes of many values with one key: a sweep hashes every key it
        removes, so the keyed state is built once per key and copied."""
        key_id = key_id or self.current_id
        pads = self._keyed.get(key_id)
        if pads is None:
            pads = self._keyed[key_id] = hmac_pads(self.secret(key_id))
        inner, outer = pads[0].copy, pads[1].copy
        recent, older = self._memo
        out: list[str] = []
        for value in values:
            # type() in the memo key: True == 1 must not reuse 1's hash
            known = (key_id, type(value), value)
            hashed = recent.get(known) or older.get(known)
            if hashed is None:
                # An integer key's canonical form is its decimal text: skip the shape checks.
                text = str(value) if type(value) is int else canonical_text(value)
                digest = inner()
                digest.update(text.encode())
                final = outer()
                final.update(digest.digest())
                hashed = final.hexdigest()
            recent[known] = hashed
            out.append(hashed)
        if len(recent) > _MEMO:
            self._memo[:] = [{}, recent]
        return out

    def hash_all_keys(self, value: object) -> dict[str, str]:
        """key id -> hash of value: how a lookup reaches entries of every key."""
        return {key_id: self.hash(value, key_id) for key_id in self.secrets}

    def sign(self, data: bytes, key_id: str | None = None) -> str:
        return hmac.new(self.secret(key_id or self.current_id), data, hashlib.sha256).hexdigest()

    def digest(self, text: str, key_id: str | None = None) -> str:
        """A short keyed digest of a row's after-image, hashed as given (an
        image is not an identity: no normalisation). Recovery compares it
        with the image it reads back to tell whether a change committed."""
        data = b"image\x00" + text.encode()
        return hmac.new(self.secret(key_id or self.current_id), data, hashlib.sha256).hexdigest()[
            :32
        ]
