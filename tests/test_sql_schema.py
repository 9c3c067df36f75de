"""A CRM-and-helpdesk schema for the SQL connector's tests, its policy, and
table snapshots. Helpers only (no tests): imported by tests/test_sql_*.py.

Shapes the connector must handle: `tickets`/`tasks` point at contacts with no
declared foreign key; `comments` point at a ticket or a task by object_type;
`contact_emails` links contacts and shared email addresses; `consents` and
`notes` have real foreign keys (notes is not in the policy at all); invoices
keep a contact under the bookkeeping hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from retention.policy import Policy, Rule

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = datetime(2020, 3, 1, 9, 30)  # well past a P2Y cut-off
RECENT = datetime(2026, 1, 10, 8, 0)
HASH_KEY = b"k" * 32

metadata = sa.MetaData()
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(120)),
    sa.Column("phone", sa.String(40)),
    sa.Column("full_name", sa.String(120)),
    sa.Column("status", sa.String(20)),
    sa.Column("last_activity", sa.DateTime),
    sa.Column("notes_text", sa.Text),
)
email_addresses = sa.Table(
    "email_addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("address", sa.String(120)),
)
contact_emails = sa.Table(  # a link table: no primary key, no foreign keys
    "contact_emails",
    metadata,
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("email_id", sa.Integer, index=True),
)
tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("subject", sa.String(200)),
)
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("title", sa.String(200)),
)
comments = sa.Table(  # polymorphic: object_type 'T' -> tickets, 'K' -> tasks
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("object_type", sa.String(1)),
    sa.Column("object_id", sa.Integer, index=True),
    sa.Column("body", sa.Text),
)
consents = sa.Table(  # a real foreign key, a dataset without a declared relation
    "consents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id"), index=True),
    sa.Column("kind", sa.String(40)),
)
notes = sa.Table(  # a real foreign key to a table the policy never mentions
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id"), index=True),
    sa.Column("body", sa.Text),
)
invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("issued_on", sa.Date),
)


def policy_dict() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "test",
        "controller": "ID North Oy",
        "settings": {"timezone": "UTC"},
        "systems": {
            "crm": {
                "kind": "sql",
                "connection": {"env": "CRM_URL"},
                "datasets": {
                    "contacts": {
                        "table": "contacts",
                        "identity_fields": {
                            "email": "email",
                            "phone": "phone",
                            "name": "full_name",
                            "crm_contact_id": "id",
                        },
                        "personal_fields": ["notes_text"],
                        "columns": ["status", "last_activity"],
                        "relations": [
                            {"child": "tickets", "column": "contact_id"},
                            {"child": "tasks", "column": "contact_id"},
                            {"child": "invoices", "column": "contact_id"},
                            {
                                "child": "email_addresses",
                                "through": {
                                    "table": "contact_emails",
                                    "parent_column": "contact_id",
                                    "child_column": "email_id",
                                },
                            },
                        ],
                    },
                    "tickets": {
                        "table": "tickets",
                        "columns": ["contact_id", "subject"],
                        "relations": [
                            {
                                "child": "comments",
                                "column": "object_id",
                                "discriminator": {"object_type": "T"},
                            },
                        ],
                    },
                    "tasks": {
                        "table": "tasks",
                        "columns": ["contact_id"],
                        "relations": [
                            {
                                "child": "comments",
                                "column": "object_id",
                                "discriminator": {"object_type": "K"},
                            },
                        ],
                    },
                    "comments": {
                        "table": "comments",
                        "personal_fields": ["body"],
                        "columns": ["object_type", "object_id"],
                    },
                    "email_addresses": {
                        "table": "email_addresses",
                        "identity_fields": {"email": "address"},
                    },
                    "consents": {"table": "consents", "columns": ["contact_id", "kind"]},
                    "invoices": {"table": "invoices", "columns": ["contact_id", "issued_on"]},
                },
            }
        },
        "holds": [
            {
                "id": "bookkeeping",
                "law": "Kirjanpitolaki 1336/1997 2:10",
                "why": "vouchers are kept six years from the end of the financial year",
                "dataset": "crm.invoices",
                "clock": "issued_on",
                "period": "P6Y",
                "from_year_end": True,
            }
        ],
        "rules": [
            {
                "id": "inactive-contacts",
                "clause": "customer representatives: erase when the cooperation has ended",
                "why": "no ground for processing remains",
                "dataset": "crm.contacts",
                "due": {
                    "clock": "last_activity",
                    "after": "P2Y",
                    "where": [{"column": "status", "op": "ne", "value": "active"}],
                },
                "action": {"kind": "delete"},
                "holds": ["bookkeeping"],
            }
        ],
    }


def make_policy(**rule_changes: Any) -> Policy:
    raw = policy_dict()
    raw["rules"][0].update(rule_changes)
    return Policy.model_validate(raw)


def rule_of(policy: Policy) -> Rule:
    return policy.rules[0]


def create(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    return engine


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as conn:
        return {
            t.name: sorted(
                (tuple(r) for r in conn.execute(sa.select(t))), key=lambda r: tuple(map(repr, r))
            )
            for t in metadata.sorted_tables
        }


def insert(engine: sa.Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if rows.get(table.name):
                conn.execute(table.insert(), rows[table.name])


def contact(id: int, last: datetime = OLD, status: str = "ended", **more: Any) -> dict[str, Any]:
    return {
        "id": id,
        "email": f"person{id}@example.fi",
        "phone": f"+358 40 {id:07d}",
        "full_name": f"Person Number{id}",
        "status": status,
        "last_activity": last,
        "notes_text": f"met Person Number{id} at the fair",
        **more,
    }


def invoice(id: int, contact_id: int, issued: date) -> dict[str, Any]:
    return {"id": id, "contact_id": contact_id, "issued_on": issued}
