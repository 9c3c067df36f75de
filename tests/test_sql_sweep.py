"""A retention sweep through the SQL connector, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import ApplyResult
from connectors.sql.connector import SqlConnector, open_sql_connector
from connectors.sql.errors import ConditionError, RelationCycle
from retention.errors import ConnectionFailed, RetentionError
from retention.policy import ColumnCondition, Policy, Rule
from tests.test_sql_schema import (
    HASH_KEY,
    NOW,
    RECENT,
    contact,
    create,
    insert,
    invoice,
    make_policy,
    policy_dict,
    rule_of,
    snapshot,
)

# contact 1: due, with every kind of child; 2: recent; 3: due but its 2021 invoice is
# held; 4: old but still active; 5: due, no children.
WORLD: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        contact(1),
        contact(2, last=RECENT, status="active"),
        contact(3),
        contact(4, status="active"),
        contact(5),
    ],
    "tickets": [
        {"id": 10, "contact_id": 1, "subject": "login fails"},
        {"id": 11, "contact_id": 2, "subject": "invoice copy"},
    ],
    "tasks": [{"id": 20, "contact_id": 1, "title": "call back"}],
    "comments": [
        {"id": 100, "object_type": "T", "object_id": 10, "body": "ticket 10 first"},
        {"id": 101, "object_type": "T", "object_id": 10, "body": "ticket 10 second"},
        {"id": 102, "object_type": "K", "object_id": 20, "body": "task 20"},
        {"id": 104, "object_type": "K", "object_id": 10, "body": "a task 10 that is not ticket 10"},
        {"id": 105, "object_type": "T", "object_id": 11, "body": "ticket 11"},
    ],
    "email_addresses": [
        {"id": 50, "address": "person1@example.fi"},
        {"id": 51, "address": "shared@example.fi"},
    ],
    "contact_emails": [
        {"contact_id": 1, "email_id": 50},
        {"contact_id": 1, "email_id": 51},
        {"contact_id": 2, "email_id": 51},
    ],
    "consents": [{"id": 60, "contact_id": 1, "kind": "newsletter"}],
    "notes": [{"id": 70, "contact_id": 1, "body": "likes coffee"}],
    "invoices": [invoice(80, 1, date(2015, 5, 1)), invoice(81, 3, date(2021, 3, 1))],
}

GONE = {
    "contacts": {1, 5},
    "tickets": {10},
    "tasks": {20},
    "comments": {100, 101, 102},
    "email_addresses": {50},
    "consents": {60},
    "notes": {70},
    "invoices": {80},
}


def open_world(url: str, policy: Policy, batch_size: int = 2) -> SqlConnector:
    insert(create(url), WORLD)
    return open_sql_connector(
        "crm", policy.systems["crm"], url, hash_key=HASH_KEY, batch_size=batch_size, policy=policy
    )


def sweep(connector: SqlConnector, rule: Rule) -> tuple[list[Any], ApplyResult]:
    held, total = [], ApplyResult()
    for batch in connector.scan(rule, now=NOW):
        held += batch.held
        if batch.due:
            total.merge(connector.apply("contacts", rule.action, batch.due, now=NOW, rule=rule))
    return held, total


def ids(rows: list[tuple[Any, ...]]) -> set[Any]:
    return {row[0] for row in rows}


def test_sweep_removes_exactly_the_planned_rows_children_first(db_url: str) -> None:
    policy = make_policy()
    connector = open_world(db_url, policy)
    before = snapshot(connector.engine)

    held, result = sweep(connector, rule_of(policy))

    after = snapshot(connector.engine)
    assert sorted(result.done) == [1, 5]
    assert {k: sorted(v) for k, v in result.cascaded.items()} == {
        f"crm.{table}": sorted(keys) for table, keys in GONE.items() if table != "contacts"
    }
    for table, rows in before.items():
        if table == "contact_emails":
            assert after[table] == [r for r in rows if r[0] != 1]
        else:
            assert after[table] == [r for r in rows if r[0] not in GONE.get(table, set())], table
    assert [(h.key, h.hold_id, h.until) for h in held] == [
        (3, "bookkeeping", datetime(2028, 1, 1, tzinfo=UTC))
    ]
    connector.close()


def test_a_second_sweep_finds_nothing(db_url: str) -> None:
    policy = make_policy()
    connector = open_world(db_url, policy)
    sweep(connector, rule_of(policy))
    before = snapshot(connector.engine)

    held, result = sweep(connector, rule_of(policy))

    assert result.done == [] and result.cascaded == {}
    assert [h.key for h in held] == [3]
    assert snapshot(connector.engine) == before
    connector.close()


def test_apply_with_rule_skips_keys_no_longer_due_held_or_gone(db_url: str) -> None:
    policy = make_policy()
    rule = rule_of(policy)
    connector = open_world(db_url, policy, batch_size=10)
    planned = [k for batch in connector.scan(rule, now=NOW) for k in batch.due]
    assert planned == [1, 5]
    with connector.engine.begin() as conn:  # contact 1 came back; contact 5 was removed by hand
        conn.execute(
            sa.update(sa.table("contacts", sa.column("id"), sa.column("last_activity")))
            .where(sa.column("id") == 1)
            .values(last_activity=RECENT)
        )
        conn.execute(sa.text("DELETE FROM contacts WHERE id = 5"))
    before = snapshot(connector.engine)

    result = connector.apply("contacts", rule.action, [1, 5, 3, 4], now=NOW, rule=rule)

    assert result.done == [] and result.cascaded == {}
    assert sorted(result.skipped) == [1, 3, 4, 5]
    assert snapshot(connector.engine) == before
    connector.close()


def test_a_cycle_in_relations_is_reported_and_nothing_changes(db_url: str) -> None:
    raw = policy_dict()
    raw["systems"]["crm"]["datasets"]["tickets"]["relations"].append(
        {"child": "contacts", "column": "id", "parent_column": "contact_id"}
    )
    policy = Policy.model_validate(raw)
    connector = open_world(db_url, policy)
    before = snapshot(connector.engine)

    with pytest.raises(RelationCycle, match=r"crm\.contacts -> crm\.tickets -> crm\.contacts"):
        connector.apply("contacts", rule_of(policy).action, [1], now=NOW)

    assert snapshot(connector.engine) == before
    connector.close()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"column": "status", "op": "eq", "value": 5}, r"'status'.*integer.*text"),
        ({"column": "id", "op": "in", "value": ["abc"]}, r"'id'.*'abc'.*integers"),
        ({"column": "last_activity", "op": "lt", "value": "last year"}, r"'last_activity'"),
    ],
)
def test_a_condition_with_a_value_of_the_wrong_type_is_refused(
    db_url: str, condition: dict[str, Any], message: str
) -> None:
    policy = make_policy(due={"clock": "last_activity", "after": "P2Y", "where": [condition]})
    connector = open_world(db_url, policy)
    before = snapshot(connector.engine)

    with pytest.raises(ConditionError, match=message):
        next(connector.scan(rule_of(policy), now=NOW))
    with pytest.raises(ConditionError, match=message):
        connector.apply("contacts", rule_of(policy).action, [1], now=NOW, rule=rule_of(policy))

    assert snapshot(connector.engine) == before
    connector.close()


def test_a_related_condition_selects_by_existence_of_children(db_url: str) -> None:
    policy = make_policy(
        due={
            "where": [
                {
                    "related": "comments",
                    "exists": True,
                    "where": [{"column": "object_type", "op": "eq", "value": "K"}],
                }
            ]
        },
        holds=[],
    )
    connector = open_world(db_url, policy, batch_size=10)

    due = [k for batch in connector.scan(rule_of(policy), now=NOW) for k in batch.due]

    assert due == [1]  # only contact 1 has a task with a comment
    connector.close()


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    policy = make_policy()
    url = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/test"
    connector = open_sql_connector("crm", policy.systems["crm"], url, hash_key=HASH_KEY)

    with pytest.raises(ConnectionFailed, match="'crm'") as caught:
        connector.check()

    assert "s3cret-pw" not in str(caught.value)


def test_a_missing_sqlite_file_is_not_created(tmp_path) -> None:
    path = tmp_path / "nowhere.sqlite"
    with pytest.raises(ConnectionFailed, match="'crm'"):
        open_sql_connector(
            "crm", make_policy().systems["crm"], f"sqlite:///{path}", hash_key=HASH_KEY
        )
    assert not path.exists()


def test_a_dataset_whose_table_is_missing_is_a_clear_error(sqlite_url: str) -> None:
    policy = make_policy()
    engine = create(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE invoices"))
    connector = open_sql_connector("crm", policy.systems["crm"], sqlite_url, hash_key=HASH_KEY)

    with pytest.raises(RetentionError, match="'invoices' does not exist"):
        connector.check()


def test_subject_values_and_count_read_what_the_conditions_select(db_url: str) -> None:
    connector = open_world(db_url, make_policy())
    ended = [ColumnCondition(column="status", op="eq", value="ended")]

    assert connector.subject_values("contacts", "id", ended) == {1, 3, 5}
    assert connector.subject_values("tickets", "contact_id", []) == {1, 2}
    assert connector.count("comments") == len(WORLD["comments"])
    connector.close()


def test_a_detach_relation_keeps_the_child_and_clears_its_link(db_url: str) -> None:
    raw = policy_dict()
    relations = raw["systems"]["crm"]["datasets"]["contacts"]["relations"]
    relations[1] = {"child": "tasks", "column": "contact_id", "on_delete": "detach"}
    policy = Policy.model_validate(raw)
    connector = open_world(db_url, policy)
    before = snapshot(connector.engine)

    result = connector.apply("contacts", rule_of(policy).action, [1], now=NOW)

    after = snapshot(connector.engine)
    assert "crm.tasks" not in result.cascaded
    assert after["tasks"] == [(20, None, "call back")]
    assert after["comments"] == [r for r in before["comments"] if r[0] not in (100, 101)]
    connector.close()
