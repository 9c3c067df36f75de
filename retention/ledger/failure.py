"""Failure reasons reduced to an error code.

A connector's reason for a failed key is free text and may quote the object
key, a row value or an email. The ledger keeps only a code-shaped word from
it (AccessDenied, IntegrityError, lock_timeout), and "error" when there is
none, so nothing personal can travel in through an error message.
"""

from __future__ import annotations

import re

_BOTOCORE_CODE = re.compile(r"\(([A-Z][A-Za-z0-9]{2,63})\)")
_CODE_SHAPES = (
    re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+"),  # CamelCase, two humps at least
    re.compile(r"[A-Z][A-Z0-9_]{2,63}"),  # LOCKED, E_TIMEOUT
    re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+"),  # lock_timeout
)
UNKNOWN = "error"


def error_code(reason: object) -> str:
    """botocore's "(Code)" if present, else the last code-shaped word: reasons
    read "what failed: Code", and an object key or email is never one word
    of that shape (it holds '/', '.' or '@')."""
    if not isinstance(reason, str):
        return UNKNOWN
    quoted = _BOTOCORE_CODE.search(reason)  # "An error occurred (AccessDenied) when ..."
    if quoted and _is_code(quoted.group(1)):
        return quoted.group(1)
    words = [_unqualified(w.strip(":,;()[]'\"")) for w in reason.split()]
    codes = [w for w in words if _is_code(w)]
    return codes[-1] if codes else UNKNOWN


def _unqualified(word: str) -> str:
    """sqlalchemy.exc.IntegrityError -> IntegrityError; anything else dotted
    (a file name, a domain) stays as it is and is no code."""
    module, _, name = word.rpartition(".")
    return (
        name if module and re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*", module) else word
    )


def _is_code(word: str) -> bool:
    return len(word) <= 64 and any(shape.fullmatch(word) for shape in _CODE_SHAPES)
