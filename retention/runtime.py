"""Where the ledger lives and which HMAC keys sign it, from the environment.

RETENTION_LEDGER_URL: SQLAlchemy URL of the ledger. Without it, a SQLite file
`.retention/ledger.db` under RETENTION_HOME, else under the policy's folder:
never under the working directory, so a command run from anywhere finds the
ledger the runs wrote. The current HMAC key comes from the policy's
settings.hash_key; older keys, still needed to look up entries written before
a rotation, from RETENTION_HASH_KEYS_OLD as `id:secret,id:secret`.
"""

from __future__ import annotations

import os
from pathlib import Path

from retention.errors import RetentionError
from retention.policy_loader import LoadedPolicy

DEFAULT_LEDGER = ".retention/ledger.db"
# The policy the CLI and the deployments use when none is named.
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "deployments/id-north/policy.yaml"
# For commands that only read the ledger (verify, report): they hash nothing,
# and an entry's own key id, not this one, is what its hashes were made with.
READ_ONLY_KEYS = {"read-only": b"reading the ledger needs no secret"}


def ledger_url(policy: str | Path | None = None) -> str:
    url = os.environ.get("RETENTION_LEDGER_URL")
    if url:
        return url
    path = default_ledger_path(policy)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def default_ledger_path(policy: str | Path | None = None) -> Path:
    """Where the ledger is when RETENTION_LEDGER_URL is not set."""
    home = os.environ.get("RETENTION_HOME")
    if home:
        return Path(home).expanduser().resolve() / DEFAULT_LEDGER
    policy_path = Path(policy or os.environ.get("RETENTION_POLICY") or DEFAULT_POLICY)
    return policy_path.expanduser().resolve().parent / DEFAULT_LEDGER


def ledger_keys(loaded: LoadedPolicy) -> tuple[dict[str, bytes], str]:
    current = loaded.policy.settings.hash_key_id
    keys = {current: loaded.hash_key}
    for item in filter(None, os.environ.get("RETENTION_HASH_KEYS_OLD", "").split(",")):
        key_id, sep, secret = item.partition(":")
        if not sep or not key_id or not secret:
            raise RetentionError(
                "RETENTION_HASH_KEYS_OLD: each item must be `id:secret` separated by commas"
            )
        if key_id == current:
            raise RetentionError(f"RETENTION_HASH_KEYS_OLD: key id {key_id!r} is the current key")
        keys[key_id.strip()] = secret.strip().encode()
    if len(loaded.hash_key) < 16:
        raise RetentionError("settings.hash_key: the HMAC key must be at least 16 characters")
    return keys, current
