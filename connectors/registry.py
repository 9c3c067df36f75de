"""Open the connector for a policy's system by its kind."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from retention.errors import UnknownSystem
from retention.policy_loader import LoadedPolicy


def open_connector(name: str, loaded: LoadedPolicy, *, session: Any = None) -> Connector:
    policy = loaded.policy
    system = policy.systems.get(name)
    if system is None:
        known = ", ".join(sorted(policy.systems))
        raise UnknownSystem(f"system {name!r} is not in the policy (known: {known})")
    common: dict[str, Any] = {"hash_key": loaded.hash_key, "policy": policy}
    batch_size = system.batch_size or policy.settings.batch_size
    if system.kind == "sql":
        from connectors.sql.connector import open_sql_connector

        url = loaded.connection(name) or ""
        return open_sql_connector(name, system, url, batch_size=batch_size, **common)
    index_url = _index_url(name, loaded)
    if system.kind == "folder":
        from connectors.media.folder import open_folder_connector

        root = loaded.connection(name) or ""
        return open_folder_connector(
            name, system, root, batch_size=batch_size, index_url=index_url, **common
        )
    from connectors.s3.connector import open_s3_connector

    return open_s3_connector(
        name,
        system,
        endpoint_url=loaded.connection(name),
        # DeleteObjects takes at most 1,000 keys.
        batch_size=min(batch_size, 1000),
        session=session,
        index_url=index_url,
        **common,
    )


def _index_url(name: str, loaded: LoadedPolicy) -> str | None:
    """The URL of the system holding a media dataset's facts index, if any."""
    for dataset in loaded.policy.systems[name].datasets.values():
        if dataset.facts and dataset.facts.index:
            return loaded.connection(dataset.facts.index.split(".", 1)[0])
    return None
