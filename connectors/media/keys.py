"""Which keys a media connector will act on: checked before anything changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.base import Key
from connectors.media.facts import MediaInputError, check_action, check_now
from retention.policy import Action, Dataset, Facts

SIDECAR_SUFFIX = ".json"


def sidecar_of(key: str) -> str:
    return key + SIDECAR_SUFFIX


def is_sidecar(key: str, uses_sidecars: bool) -> bool:
    return uses_sidecars and key.endswith(SIDECAR_SUFFIX)


def checked_keys(keys: Sequence[Key], *, prefix: str, uses_sidecars: bool) -> list[str]:
    """The keys, sorted and without repeats, or MediaInputError naming the
    first bad one. A key outside the dataset's prefix, or a sidecar given as
    if it were a media item, is refused rather than acted on."""
    if isinstance(keys, str | bytes):
        raise MediaInputError("keys: expected a list of object keys, got a single string")
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not key:
            raise MediaInputError(f"keys[{i}]: {key!r} is not an object key (a non-empty string)")
        if not key.startswith(prefix) or key == prefix:
            raise MediaInputError(
                f"keys[{i}]: key is outside the dataset's prefix {prefix!r}; refused"
            )
        if is_sidecar(key, uses_sidecars):
            raise MediaInputError(
                f"keys[{i}]: key is a sidecar ({SIDECAR_SUFFIX}), not a media item; "
                "a sidecar is removed with its media item"
            )
    return sorted({str(k) for k in keys})


def keys_to_apply(
    ds: Dataset, facts: Facts, action: Action, keys: Sequence[Key], now: datetime
) -> list[str]:
    """The start of every media apply: a delete, at an aware time, of keys
    that are media items of this dataset (no sidecars, nothing outside it)."""
    check_action(action)
    check_now(now)
    assert ds.prefix is not None
    return checked_keys(keys, prefix=ds.prefix, uses_sidecars=facts.source == "sidecar")
