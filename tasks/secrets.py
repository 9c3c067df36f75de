"""Resolve a policy's secret references: environment first, then Prefect
Secret blocks (only here, so the domain stays free of Prefect)."""

from __future__ import annotations

from retention.policy import SecretRef
from retention.policy_loader import env_resolver


def resolve_secret(ref: SecretRef) -> str | None:
    if ref.block is None:
        return env_resolver(ref)
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(ref.block, _sync=True)  # type: ignore[call-arg]
    except ValueError:  # Prefect's answer for a block that does not exist
        return None
    value = block.get()  # type: ignore[union-attr]
    return str(value) if value else None
