"""A hold keeps a record until its period has passed since the *latest*
kept clock among the related rows it reaches, and a related row with no
date keeps it with no end; a record with only ended or no related rows is
due. Checked on every SQL dialect, since the hold look-up is one grouped
query per hold whose plan each database chooses itself."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from connectors.sql.connector import open_sql_connector
from retention.pipeline.plan import plan_rule
from tests.test_unknown_dates import KEY, policy_for

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# contact id: (its invoices' kept_from dates; None is a missing date)
INVOICES: dict[int, list[str | None]] = {
    1: ["2019-03-01", "2024-03-01", "2021-03-01"],  # held until 2030 (the latest)
    2: ["2015-01-01", None],  # held, no end: one date unknown
    3: ["2015-01-01", "2016-05-01"],  # every hold over: due
    4: [],  # no invoice: due
    5: ["2024-03-01"],  # held until 2030
}


def test_the_latest_related_date_decides_how_long_a_hold_keeps(db_url):
    policy = policy_for("sql")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE contacts (id INTEGER PRIMARY KEY, ended DATE)"))
        conn.execute(
            sa.text(
                "CREATE TABLE invoices (id INTEGER PRIMARY KEY, contact_id INTEGER, kept_from DATE)"
            )
        )
        number = 0
        for contact, dates in INVOICES.items():
            conn.execute(
                sa.text("INSERT INTO contacts VALUES (:id, '2015-01-01')"), {"id": contact}
            )
            for kept_from in dates:
                number += 1
                conn.execute(
                    sa.text("INSERT INTO invoices VALUES (:id, :contact, :kept)"),
                    {"id": number, "contact": contact, "kept": kept_from},
                )
    engine.dispose()
    connector = open_sql_connector(
        "crm", policy.systems["crm"], db_url, hash_key=KEY, policy=policy
    )
    try:
        plan = plan_rule(policy.rules[0], policy, {"crm": connector}, now=NOW)
    finally:
        connector.close()

    held = {int(h.key): h for h in plan.held}  # type: ignore[call-overload]
    assert sorted(int(k) for k in plan.due) == [3, 4]  # type: ignore[call-overload]
    assert sorted(held) == [1, 2, 5]
    # P6Y after 2024-03-01, not after 2019 or 2021: the latest date decides.
    assert held[1].until is not None and held[1].until.year == 2030, held[1]
    assert held[1].until == held[5].until
    assert held[2].until is None and held[2].note == "date unknown"
