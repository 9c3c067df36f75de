"""Read a person's records whole, by key, for an access request: an SQL
row with every column the database has (not only those the policy names:
the person has a right to all of it), a media item's key with its facts.
Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from connectors.base import Connector, Key
from connectors.media.folder import FolderConnector
from connectors.s3.connector import S3Connector
from connectors.sql.connector import SqlConnector

PAGE = 500  # keys per IN list: within every dialect's parameter limits


def read_records(
    connector: Connector, dataset: str, keys: Sequence[Key]
) -> dict[Key, dict[str, Any]]:
    if not keys:
        return {}
    if isinstance(connector, SqlConnector):
        return _sql_rows(connector, dataset, keys)
    if isinstance(connector, FolderConnector | S3Connector):
        return _media_items(connector, dataset, keys)
    raise TypeError(f"system {connector.name!r}: cannot read {type(connector).__name__} records")


def _sql_rows(
    connector: SqlConnector, dataset: str, keys: Sequence[Key]
) -> dict[Key, dict[str, Any]]:
    node = connector.graph().node(dataset)
    key = node.table.c[node.key]
    out: dict[Key, dict[str, Any]] = {}
    with connector.engine.connect() as conn:
        for start in range(0, len(keys), PAGE):
            page = list(keys[start : start + PAGE])
            for row in conn.execute(sa.select(node.table).where(key.in_(page))).mappings():
                out[row[node.key]] = dict(row)
    return out


def _media_items(
    connector: FolderConnector | S3Connector, dataset: str, keys: Sequence[Key]
) -> dict[Key, dict[str, Any]]:
    ds = connector.system.datasets[dataset]
    wanted = set(ds.columns) | set(ds.identity_fields.values()) | set(ds.personal_fields)
    if ds.facts is not None:
        wanted |= set(ds.facts.names)
    found = {str(k) for k in keys}
    out: dict[Key, dict[str, Any]] = {}
    # The media connectors offer facts only along a listing of the prefix;
    # an access request is rare, so one pass over it is acceptable.
    for key, facts in connector._items(dataset, wanted):
        if key in found:
            out[key] = {"object_key": key, **facts}
    return out
