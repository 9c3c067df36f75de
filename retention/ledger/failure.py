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
    if not isinstance(reason, str):
        return UNKNOWN
    quoted = _BOTOCORE_CODE.search(reason)  # "An error occurred (AccessDenied) when ..."
    if quoted and _is_code(quoted.group(1)):
        return quoted.group(1)
    first = re.split(r"[:\s(\[,;]", reason.strip(), maxsplit=1)[0]
    word = first.rsplit(".", 1)[-1]  # sqlalchemy.exc.IntegrityError -> IntegrityError
    return word if _is_code(word) else UNKNOWN


def _is_code(word: str) -> bool:
    return len(word) <= 64 and any(shape.fullmatch(word) for shape in _CODE_SHAPES)
