"""Subject identities: validated before any query, so that an empty or
wildcard identity can never match everyone."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from retention.errors import IdentityError

KINDS = ("email", "phone", "name", "crm_contact_id", "ticketing_user_id")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WILDCARDS = re.compile(r"[*%?_\[\]]|\.\*")


def normalise(kind: str, value: object) -> str:
    """The canonical form of one identity, or IdentityError saying why not."""
    if kind not in KINDS:
        raise IdentityError(f"identity kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise IdentityError(f"{kind}: {value!r} is not a string")
    text = str(value).strip()
    if not text:
        raise IdentityError(f"{kind}: empty value would match nothing sensible; refused")
    if kind == "email":
        if _WILDCARDS.search(text.split("@")[0].replace("_", "")) or "*" in text or "%" in text:
            raise IdentityError(f"email: {text!r} contains a wildcard; give one exact address")
        if not _EMAIL.match(text):
            raise IdentityError(f"email: {text!r} is not an email address")
        return text.lower()
    if kind == "phone":
        digits = re.sub(r"[\s\-().]", "", text)
        if not re.fullmatch(r"\+?\d{6,15}", digits):
            raise IdentityError(f"phone: {text!r} is not a phone number (6-15 digits)")
        return digits
    if kind == "name":
        if re.search(r"[*%?]", text) or len(text.split()) < 2:
            raise IdentityError(
                f"name: {text!r} must be a full name (first and last), no wildcards"
            )
        return " ".join(text.split())
    if not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", text) or text in {"0", "-"}:
        raise IdentityError(f"{kind}: {text!r} is not an id")
    return text


def validate(identities: Mapping[str, Sequence[object]]) -> dict[str, list[str]]:
    """All identities normalised; at least one required."""
    out: dict[str, list[str]] = {}
    for kind, values in identities.items():
        if isinstance(values, str | int):
            values = [values]
        out[kind] = sorted({normalise(kind, v) for v in values})
    if not any(out.values()):
        raise IdentityError("no identity given: name at least one email, phone or id")
    return out
