"""Property: a sweep changes exactly the rows an independent model predicts,
on generated data, and no other row of any table."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sql.connector import open_sql_connector
from tests.test_sql_schema import HASH_KEY, OLD, RECENT, create, insert, make_policy, rule_of
from tests.test_sql_schema import snapshot as take_snapshot
from tests.test_sql_sweep import sweep

HELD_SINCE = date(2020, 1, 1)  # P6Y from the end of the year before NOW's cut-off year

ids = st.integers(1, 8)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    people = draw(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=8))
    contacts = [
        {
            "id": i,
            "email": f"p{i}@example.fi",
            "phone": None,
            "full_name": f"P N{i}",
            "status": "active" if active else "ended",
            "last_activity": OLD if old else RECENT,
            "notes_text": None,
        }
        for i, (old, active) in enumerate(people, start=1)
    ]
    owners = st.integers(1, len(people) + 1)  # one past the end: rows pointing at nobody
    real = st.integers(1, len(people))

    tickets = [
        {"id": i, "contact_id": c, "subject": "s"}
        for i, c in enumerate(draw(st.lists(owners, max_size=6)), 1)
    ]
    tasks = [
        {"id": i, "contact_id": c, "title": "t"}
        for i, c in enumerate(draw(st.lists(owners, max_size=6)), 1)
    ]
    comments = [
        {"id": i, "object_type": kind, "object_id": obj, "body": "b"}
        for i, (kind, obj) in enumerate(
            draw(st.lists(st.tuples(st.sampled_from("TK"), ids), max_size=10)), 1
        )
    ]
    emails = [
        {"id": i, "address": f"e{i}@example.fi"} for i in range(1, draw(st.integers(0, 5)) + 1)
    ]
    links = sorted(
        draw(st.sets(st.tuples(owners, st.integers(1, max(len(emails), 1))), max_size=8))
    )
    years = st.integers(2014, 2026)
    return {
        "contacts": contacts,
        "tickets": tickets,
        "tasks": tasks,
        "comments": comments,
        "email_addresses": emails,
        "contact_emails": [{"contact_id": c, "email_id": e} for c, e in links],
        "consents": [
            {"id": i, "contact_id": c, "kind": "k"}
            for i, c in enumerate(draw(st.lists(real, max_size=5)), 1)
        ],
        "notes": [
            {"id": i, "contact_id": c, "body": "n"}
            for i, c in enumerate(draw(st.lists(real, max_size=5)), 1)
        ],
        "invoices": [
            {"id": i, "contact_id": c, "issued_on": date(y, 6, 1)}
            for i, (c, y) in enumerate(draw(st.lists(st.tuples(owners, years), max_size=5)), 1)
        ],
    }


def expected_gone(world: dict[str, list[dict[str, Any]]]) -> dict[str, set[Any]]:
    """The model: which rows the sweep must remove, worked out without the connector."""
    held = {r["contact_id"] for r in world["invoices"] if r["issued_on"] >= HELD_SINCE}
    due = {
        c["id"]
        for c in world["contacts"]
        if c["last_activity"] == OLD and c["status"] != "active" and c["id"] not in held
    }

    def owned(table: str) -> set[Any]:
        return {r["id"] for r in world[table] if r["contact_id"] in due}

    tickets, tasks = owned("tickets"), owned("tasks")
    kept_links = {r["email_id"] for r in world["contact_emails"] if r["contact_id"] not in due}
    gone_links = {r["email_id"] for r in world["contact_emails"] if r["contact_id"] in due}
    existing_emails = {r["id"] for r in world["email_addresses"]}
    return {
        "contacts": due,
        "tickets": tickets,
        "tasks": tasks,
        "comments": {
            r["id"]
            for r in world["comments"]
            if (r["object_type"], r["object_id"])
            in {("T", t) for t in tickets} | {("K", t) for t in tasks}
        },
        "email_addresses": (gone_links - kept_links) & existing_emails,
        "consents": owned("consents"),
        "notes": owned("notes"),
        "invoices": owned("invoices"),
        "contact_emails": due,  # keyed by contact_id, the link's first column
    }


def check_sweep(url: str, world: dict[str, list[dict[str, Any]]], batch_size: int) -> None:
    engine = create(url)
    insert(engine, world)
    engine.dispose()
    policy = make_policy()
    connector = open_sql_connector(
        "crm", policy.systems["crm"], url, hash_key=HASH_KEY, batch_size=batch_size, policy=policy
    )
    before = take_snapshot(connector.engine)
    gone = expected_gone(world)

    _, result = sweep(connector, rule_of(policy))

    after = take_snapshot(connector.engine)
    connector.close()
    for table, rows in before.items():
        assert after[table] == [r for r in rows if r[0] not in gone[table]], table
    assert sorted(result.done) == sorted(gone["contacts"])
    for table, keys in result.cascaded.items():
        assert sorted(keys) == sorted(gone[table.split(".")[1]]), table


PROPERTY = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@settings(PROPERTY, max_examples=25)
@given(world=worlds(), batch_size=st.integers(1, 4))
def test_sweep_changes_no_other_row_sqlite(sqlite_url: str, world: Any, batch_size: int) -> None:
    check_sweep(sqlite_url, world, batch_size)


@pytest.mark.postgres
@settings(PROPERTY, max_examples=5)
@given(world=worlds(), batch_size=st.integers(1, 4))
def test_sweep_changes_no_other_row_postgres(
    postgres_url: str, world: Any, batch_size: int
) -> None:
    check_sweep(postgres_url, world, batch_size)


@pytest.mark.mysql
@settings(PROPERTY, max_examples=5)
@given(world=worlds(), batch_size=st.integers(1, 4))
def test_sweep_changes_no_other_row_mysql(mysql_url: str, world: Any, batch_size: int) -> None:
    check_sweep(mysql_url, world, batch_size)
