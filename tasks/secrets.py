"""Resolve a policy's secret references: environment first, then Prefect
Secret blocks (only here, so the domain stays free of Prefect)."""

from __future__ import annotations

from retention.policy import SecretRef
from retention.policy_loader import env_resolver


def resolve_secret(ref: SecretRef) -> str | None:
    if ref.env is not None:
        return env_resolver(ref)
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(ref.block).get()
    except ValueError:  # Prefect's answer for a block that does not exist
        return None
    return str(value) if value else None
