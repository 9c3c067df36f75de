"""A batch's related records, found at once (SqlConnector.related_by_owner),
are each owner's related records as `related` finds them one owner at a
time: on the two third-party schemas (no foreign keys and polymorphic
threads; a link table shared by contacts and leads), on each dialect."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sql.connector import SqlConnector
from tasks.setup import close_systems, load_checked_policy, open_systems
from tests.third_party import (
    CRM_POLICY,
    HELPDESK_POLICY,
    build,
    crm,
    crm_rows,
    helpdesk,
    helpdesk_rows,
)

CASES = [
    ("RETENTION_HELPDESK_URL", HELPDESK_POLICY, helpdesk, helpdesk_rows, "helpdesk", "users"),
    ("RETENTION_CRM_URL", CRM_POLICY, crm, crm_rows, "crm", "contacts"),
]


@pytest.mark.parametrize("case", CASES, ids=["helpdesk", "crm"])
def test_at_once_is_each_owner_one_by_one(db_url: str, monkeypatch: Any, case: Any) -> None:
    variable, policy, metadata, rows, system, dataset = case
    build(db_url, metadata, rows(12, extra=8))
    monkeypatch.setenv(variable, db_url)
    monkeypatch.setenv("RETENTION_HASH_KEY", "related-by-owner-test-key")
    connectors = open_systems(load_checked_policy(str(policy)), [system])
    try:
        connector = connectors[system]
        assert isinstance(connector, SqlConnector)
        keys = [k for page in connector.keys(dataset) for k in page]
        # Owners sharing records, and one owner with several.
        owners = {key: {f"R{n % 5}"} for n, key in enumerate(keys)}
        owners[keys[0]] |= {"R1", "R9"}
        at_once = connector.related_by_owner(dataset, owners)
        assert at_once is not None
        expected: dict[str, dict[Any, set[str]]] = {}
        for owner in sorted({o for who in owners.values() for o in who}):
            mine = [k for k, who in owners.items() if owner in who]
            for child, child_keys in connector.related(dataset, mine).items():
                for key in child_keys:
                    expected.setdefault(child, {}).setdefault(key, set()).add(owner)
        assert expected, "the schema has records below these"
        assert at_once == expected
    finally:
        close_systems(connectors)
