"""Opening the ledger for verify: with the HMAC key when there is one.

Walking the chain needs no secret, but a checkpoint is signed with the
ledger's key: without it, a verify walks the whole chain every time and
leaves no checkpoint (one signed with a known placeholder would let anyone
move it past entries they had changed).
"""

from __future__ import annotations

from retention.errors import RetentionError
from retention.ledger import Ledger
from retention.ledger.verify import VerifyResult
from retention.runtime import READ_ONLY_KEYS, ledger_keys, ledger_url


def verify_ledger_at(policy: str, *, full: bool) -> tuple[VerifyResult, Ledger, bool]:
    """(result, the open ledger, whether checkpoints were used); the caller
    closes the ledger. Falls back to a full, unsigned walk without the key."""
    from retention.policy_loader import load_policy
    from tasks.secrets import resolve_secret

    try:
        loaded = load_policy(policy, resolve=resolve_secret, only_systems=set())
        keys, current = ledger_keys(loaded)
    except (RetentionError, OSError):
        ledger = Ledger.open(ledger_url(policy), keys=READ_ONLY_KEYS, current_key_id="read-only")
        return ledger.verify(), ledger, False
    ledger = Ledger.open(ledger_url(policy), keys=keys, current_key_id=current)
    return ledger.verify(full=full, sign=True), ledger, True
