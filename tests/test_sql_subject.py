"""A subject's lookup and erasure at connector level: identities in, every
related row out, nothing of anyone else."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import ApplyResult
from connectors.sql.connector import SqlConnector
from retention.errors import IdentityError
from retention.identity import validate
from retention.policy import Action
from tests.test_sql_schema import NOW, make_policy, snapshot
from tests.test_sql_sweep import GONE, WORLD, open_world

DELETE = Action(kind="delete")


def erase(connector: SqlConnector, identities: dict[str, list[Any]]) -> ApplyResult:
    total = ApplyResult()
    for dataset, keys in connector.find_subject(validate(identities)).items():
        if keys:
            total.merge(connector.apply(dataset, DELETE, keys, now=NOW))
    return total


def test_lookup_is_exact_case_insensitive_for_email_and_digits_only_for_phone(db_url: str) -> None:
    connector = open_world(db_url, make_policy())
    with connector.engine.begin() as conn:
        conn.execute(sa.text("UPDATE contacts SET email = 'Person1@Example.FI' WHERE id = 1"))

    by_email = connector.find_subject(validate({"email": ["PERSON1@example.fi"]}))
    by_phone = connector.find_subject(validate({"phone": ["+358 (40) 000-0001"]}))
    by_name = connector.find_subject(validate({"name": ["Person  Number1"]}))
    by_id = connector.find_subject(validate({"crm_contact_id": ["2"]}))
    nobody = connector.find_subject(validate({"email": ["person1@example.com"]}))

    assert by_email == {"contacts": [1], "email_addresses": [50]}
    assert by_phone == {"contacts": [1]}
    assert by_name == {"contacts": [1]}  # not Person Number10..., no LIKE
    assert by_id == {"contacts": [2]}
    assert nobody == {"contacts": [], "email_addresses": []}
    connector.close()


def test_erasure_removes_every_related_row_of_one_subject_and_nothing_else(db_url: str) -> None:
    connector = open_world(db_url, make_policy())
    before = snapshot(connector.engine)

    result = erase(connector, {"email": ["person1@example.fi"]})

    after = snapshot(connector.engine)
    assert result.done == [1]
    assert result.skipped == [50]  # already gone with contact 1, exclusively linked
    assert sorted(result.cascaded["crm.comments"]) == [100, 101, 102]
    subject_rows = {table: keys - {5} for table, keys in GONE.items()}  # contact 5 is not them
    for table, rows in before.items():
        if table == "contact_emails":
            assert after[table] == [r for r in rows if r[0] != 1]
        else:
            assert after[table] == [r for r in rows if r[0] not in subject_rows.get(table, set())]
    connector.close()


def test_an_identity_matching_nobody_changes_nothing(db_url: str) -> None:
    connector = open_world(db_url, make_policy())
    before = snapshot(connector.engine)

    result = erase(connector, {"email": ["nobody@example.fi"], "phone": ["+358 50 1234567"]})

    assert result == ApplyResult()
    assert snapshot(connector.engine) == before
    connector.close()


def test_erasing_a_subject_keeps_an_email_address_another_contact_shares(db_url: str) -> None:
    connector = open_world(db_url, make_policy())

    erase(connector, {"crm_contact_id": ["2"]})

    rows = snapshot(connector.engine)
    assert {r[0] for r in rows["email_addresses"]} == {50, 51}  # 51 is still contact 1's
    assert rows["contact_emails"] == [(1, 50), (1, 51)]
    assert {r[0] for r in rows["tickets"]} == {10}
    assert {r[0] for r in rows["comments"]} == {100, 101, 102, 104}
    assert len(WORLD["contacts"]) - 1 == len(rows["contacts"])
    connector.close()


@pytest.mark.parametrize(
    "identities",
    [
        {"email": [""]},
        {"email": ["%"]},
        {"email": ["*@example.fi"]},
        {"phone": ["   "]},
        {"crm_contact_id": ["*"]},
        {"email": []},
        {},
    ],
)
def test_an_empty_or_wildcard_identity_is_refused_before_any_query(
    sqlite_url: str, identities: dict[str, list[Any]]
) -> None:
    connector = open_world(sqlite_url, make_policy())
    before = snapshot(connector.engine)
    with pytest.raises(IdentityError):
        connector.find_subject(identities)
    assert snapshot(connector.engine) == before
    connector.close()
