"""Load the policy, open and check each system, open the ledger."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Connector
from connectors.registry import open_connector
from retention.errors import ConnectionFailed
from retention.ledger import Ledger
from retention.policy_loader import LoadedPolicy, load_policy
from retention.runtime import ledger_keys, ledger_url
from tasks.secrets import resolve_secret


@task(name="load-policy", cache_policy=NO_CACHE)
def load_policy_task(path: str, systems: list[str] | None = None) -> LoadedPolicy:
    return load_policy(path, resolve=resolve_secret, only_systems=set(systems) if systems else None)


@task(name="open-systems", cache_policy=NO_CACHE)
def open_systems(loaded: LoadedPolicy, names: list[str]) -> dict[str, Connector]:
    """Open and check every system the run needs; close them all on failure."""
    opened: dict[str, Connector] = {}
    try:
        for name in names:
            opened[name] = open_connector(name, loaded)
            opened[name].check()
    except ConnectionFailed:
        close_systems(opened)
        raise
    return opened


def close_systems(connectors: dict[str, Connector]) -> None:
    for connector in connectors.values():
        connector.close()


@task(name="open-ledger", cache_policy=NO_CACHE)
def open_ledger(loaded: LoadedPolicy) -> Ledger:
    keys, current = ledger_keys(loaded)
    return Ledger.open(ledger_url(), keys=keys, current_key_id=current)
