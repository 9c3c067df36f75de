"""Anonymising in place: only the rows and columns that change, once."""

from __future__ import annotations

from typing import Any

from retention.policy import Action
from tests.test_sql_schema import NOW, make_policy, rule_of, snapshot
from tests.test_sql_sweep import open_world

CONTACT_FIELDS: dict[str, Any] = {
    "email": {"strategy": "keyed_hash"},
    "full_name": {"strategy": "constant", "value": "anonymous"},
    "notes_text": {"strategy": "redact", "identifiers": ["full_name"]},
}


def by_id(rows: list[tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
    return {row[0]: row for row in rows}


def test_anonymise_changes_only_due_rows_and_a_second_run_changes_nothing(db_url: str) -> None:
    policy = make_policy(action={"kind": "anonymise", "fields": CONTACT_FIELDS})
    rule = rule_of(policy)
    connector = open_world(db_url, policy)
    before = snapshot(connector.engine)
    due = [k for batch in connector.scan(rule, now=NOW) for k in batch.due]

    first = connector.apply("contacts", rule.action, due, now=NOW, rule=rule)
    middle = snapshot(connector.engine)
    second = connector.apply("contacts", rule.action, due, now=NOW, rule=rule)

    assert first.done == [1, 5] and first.skipped == []
    assert second.done == [] and sorted(second.skipped) == [1, 5]
    assert snapshot(connector.engine) == middle
    old, new = by_id(before["contacts"]), by_id(middle["contacts"])
    for key in (1, 5):
        _, email, phone, name, status, last, text = new[key]
        assert email.startswith("h:") and name == "anonymous"
        assert (phone, status, last) == (
            old[key][2],
            old[key][4],
            old[key][5],
        )  # columns not in the action keep their value
        assert f"Person Number{key}" not in text and text.endswith("at the fair")
    assert {k: v for k, v in new.items() if k not in (1, 5)} == {
        k: v for k, v in old.items() if k not in (1, 5)
    }
    assert {t: r for t, r in middle.items() if t != "contacts"} == {
        t: r for t, r in before.items() if t != "contacts"
    }
    connector.close()


def test_redact_reaches_a_grandparent_through_a_polymorphic_link(db_url: str) -> None:
    policy = make_policy()
    connector = open_world(db_url, policy)
    action = Action.model_validate(
        {
            "kind": "anonymise",
            "fields": {"body": {"strategy": "redact", "identifiers": ["contacts.full_name"]}},
        }
    )
    with connector.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE comments SET body = 'Person Number1 called' WHERE id IN (100, 102, 104)"
        )
    before = by_id(snapshot(connector.engine)["comments"])

    result = connector.apply("comments", action, [100, 102, 104, 105], now=NOW)

    after = by_id(snapshot(connector.engine)["comments"])
    assert result.done == [100, 102]  # 100 via ticket 10, 102 via task 20: contact 1's name
    assert sorted(result.skipped) == [104, 105]  # 104 has no parent, 105 names nobody
    assert after[100][3] == after[102][3] == "[redacted] called"
    assert after[104] == before[104] and after[105] == before[105]
    connector.close()
