"""An access request as the register contact received it: at least one
identity to find the person by (validated like an erasure's: no empty,
wildcard or malformed identity), and a reference used in the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

IDENTITY_KINDS = ("email", "phone", "crm_contact_id", "ticketing_user_id")


def new_access_id() -> str:
    return f"access-{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:8]}"


class AccessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        default_factory=new_access_id,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$",
        description="Your reference for this request (a ticket number).",
    )
    email: list[str] = Field(default=[], description="Email addresses of the person.")
    phone: list[str] = Field(default=[], description="Phone numbers (+358..., 040...).")
    crm_contact_id: list[str] = Field(default=[], description="CRM contact ids.")
    ticketing_user_id: list[str] = Field(default=[], description="Ticketing user ids.")
    requested_by: str = Field(default="", max_length=128, description="Who received it.")

    def identities(self) -> dict[str, list[str]]:
        return {kind: values for kind in IDENTITY_KINDS if (values := list(getattr(self, kind)))}
