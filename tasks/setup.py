"""Load the policy, open and check each system, open the ledger: plain
functions, fast enough for a terminal, shared by the flows and the CLI."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.registry import open_connector
from retention.errors import ConnectionFailed, PolicyMismatch, RetentionError
from retention.ledger import Ledger
from retention.pipeline.order import check_order
from retention.policy import System
from retention.policy_loader import LoadedPolicy, load_policy
from retention.runtime import ledger_keys, ledger_url
from tasks.secrets import resolve_secret


def load_checked_policy(path: str, systems: list[str] | None = None) -> LoadedPolicy:
    """The policy, validated, with its rules in an order that hides nothing."""
    only = set(systems) if systems is not None else None
    loaded = load_policy(path, resolve=resolve_secret, only_systems=only)
    check_order(loaded.policy, loaded.path)
    return loaded


def open_systems(loaded: LoadedPolicy, names: list[str]) -> dict[str, Connector]:
    """Open and check every system the run needs; close them all on failure."""
    opened: dict[str, Connector] = {}
    try:
        for name in names:
            session = aws_session(name, loaded.policy.systems[name])
            opened[name] = open_connector(name, loaded, session=session)
            opened[name].check()
    except RetentionError as exc:
        close_systems(opened)
        if isinstance(exc, PolicyMismatch):
            raise exc.in_file(loaded.path) from None  # the operator fixes the file: name it
        raise
    return opened


def aws_session(name: str, system: System) -> Any:
    """A boto3 session from the system's Prefect AwsCredentials block, if it
    names one; otherwise None, and boto3's standard chain applies."""
    if system.kind != "s3" or not system.credentials_block:
        return None
    from prefect_aws import AwsCredentials

    try:
        block = AwsCredentials.load(system.credentials_block, _sync=True)  # type: ignore[call-arg]
    except ValueError as exc:  # Prefect's answer for a block that does not exist
        raise ConnectionFailed(
            f"system {name!r}: credentials_block: no AwsCredentials block "
            f"{system.credentials_block!r} ({exc})"
        ) from None
    return block.get_boto3_session()  # type: ignore[union-attr]


def close_systems(connectors: dict[str, Connector]) -> None:
    for connector in connectors.values():
        connector.close()


def open_ledger(loaded: LoadedPolicy) -> Ledger:
    keys, current = ledger_keys(loaded)
    return Ledger.open(ledger_url(loaded.path), keys=keys, current_key_id=current)
