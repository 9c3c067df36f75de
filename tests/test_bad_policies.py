"""Bad policies, as a new user writes them for a schema they do not know yet:
each one is refused by `retention check` (the file alone) or `retention check
--connect` (the file against the database), with exit code 2, the file and
the place in it named, no traceback, and no row changed; on SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from flows.cli import main
from tests.conftest import _fresh_mysql_database, _fresh_postgres_schema

metadata = sa.MetaData()
sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(120)),
    sa.Column("phone", sa.String(40)),
    sa.Column("status", sa.String(20)),
    sa.Column("score", sa.Integer),
    sa.Column("last_seen", sa.DateTime),
    sa.Column("born", sa.Date),
    sa.Column("notes", sa.Text),
)
sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_id", sa.Integer),
    sa.Column("kind", sa.String(20)),
    sa.Column("given_at", sa.DateTime),
)
sa.Table(  # a third-party schema's habit: the contact's id kept as text
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_ref", sa.String(36)),
    sa.Column("opened_at", sa.DateTime),
)
sa.Table(
    "email_addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("address", sa.String(120)),
)
sa.Table(  # SuiteCRM's shape: the module a row links is named on the link table
    "email_links",
    metadata,
    sa.Column("contact_id", sa.Integer),
    sa.Column("email_id", sa.Integer),
    sa.Column("bean_module", sa.String(20)),
)
sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("object_type", sa.String(1)),
    sa.Column("object_id", sa.Integer),
    sa.Column("body", sa.Text),
)

GOOD: dict[str, Any] = {
    "version": 1,
    "name": "bad-policy-test",
    "controller": "Test Oy",
    "settings": {"hash_key": {"env": "BAD_POLICY_HASH_KEY"}, "timezone": "Europe/Helsinki"},
    "systems": {
        "crm": {
            "kind": "sql",
            "connection": {"env": "BAD_POLICY_DB_URL"},
            "datasets": {
                "contacts": {
                    "table": "contacts",
                    "identity_fields": {"email": "email", "phone": "phone"},
                    "personal_fields": ["notes"],
                    "columns": ["status", "score", "last_seen", "born"],
                    "reflect_foreign_keys": False,
                    "relations": [
                        {"child": "consents", "column": "contact_id"},
                        {
                            "child": "email_addresses",
                            "through": {
                                "table": "email_links",
                                "parent_column": "contact_id",
                                "child_column": "email_id",
                            },
                        },
                        {
                            "child": "comments",
                            "column": "object_id",
                            "discriminator": {"object_type": "C"},
                        },
                    ],
                },
                "consents": {
                    "table": "consents",
                    "columns": ["contact_id", "kind", "given_at"],
                    "reflect_foreign_keys": False,
                },
                "tickets": {
                    "table": "tickets",
                    "columns": ["contact_ref", "opened_at"],
                    "reflect_foreign_keys": False,
                },
                "email_addresses": {
                    "table": "email_addresses",
                    "identity_fields": {"email": "address"},
                    "reflect_foreign_keys": False,
                },
                "comments": {
                    "table": "comments",
                    "columns": ["object_type", "object_id"],
                    "personal_fields": ["body"],
                    "reflect_foreign_keys": False,
                },
            },
        }
    },
    "holds": [
        {
            "id": "consent-proof",
            "law": "GDPR art. 7(1)",
            "why": "proof of consent",
            "dataset": "crm.consents",
            "clock": "given_at",
            "period": "P3Y",
        }
    ],
    "rules": [
        {
            "id": "stale-contacts",
            "clause": "kept while the cooperation is in force",
            "why": "cooperation ended",
            "dataset": "crm.contacts",
            "due": {
                "clock": "last_seen",
                "after": "P3Y",
                "where": [
                    {"column": "status", "op": "eq", "value": "former"},
                    {"column": "score", "op": "lt", "value": 10},
                    {
                        "related": "consents",
                        "exists": False,
                        "where": [{"column": "kind", "value": "marketing"}],
                    },
                ],
            },
            "action": {"kind": "delete"},
            "holds": ["consent-proof"],
        },
        {
            "id": "old-tickets",
            "clause": "kept while the subject is registered",
            "why": "deregistered",
            "dataset": "crm.tickets",
            "due": {"clock": "opened_at", "after": "P5Y"},
            "action": {"kind": "delete"},
        },
    ],
}


def _rule(d: dict[str, Any], i: int = 0) -> dict[str, Any]:
    rule: dict[str, Any] = d["rules"][i]
    return rule


def _contacts(d: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = d["systems"]["crm"]["datasets"]["contacts"]
    return found


def _where(d: dict[str, Any], cond: dict[str, Any]) -> None:
    _rule(d)["due"]["where"].append(cond)


def _due(d: dict[str, Any], **fields: Any) -> None:
    _rule(d)["due"].update(fields)


def _subjects_from(d: dict[str, Any], dataset: str, column: str) -> None:
    """Declare `column` on `dataset` (the database lacks it) and read subjects from it."""
    d["systems"]["crm"]["datasets"][dataset.split(".")[1]]["columns"].append(column)
    _where(d, {"column": "id", "subjects_from": {"dataset": dataset, "column": column}})


def _replace_text(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


@dataclass(frozen=True)
class Bad:
    id: str
    path: str  # the place in the file the message must name
    words: str  # a regex the message must contain
    edit: Callable[[dict[str, Any]], Any] | None = None
    text: Callable[[str], str] | None = None  # for mistakes a dict cannot hold
    connect: bool = False  # found only against the database


DS = "systems.crm.datasets"
BAD = [
    # --- the file alone -------------------------------------------------------
    Bad(
        "unknown-field",
        "rules[0].retention",
        "unknown field",
        lambda d: _rule(d).update(retention="P1Y"),
    ),
    Bad(
        "duplicate-holds-key",
        "line ",
        r"'holds' is written twice",
        text=lambda t: t + "holds: []\n",
    ),
    Bad(
        "duplicate-key-in-rule",
        "line ",
        r"'why' is written twice",
        text=_replace_text("why: cooperation ended\n", "why: cooperation ended\n  why: again\n"),
    ),
    Bad(
        "timezone-misspelt",
        "settings.timezone",
        "tz database",
        lambda d: d["settings"].update(timezone="Europe/Helsinkii"),
    ),
    Bad(
        "timezone-lower-case",
        "settings.timezone",
        "tz database",
        lambda d: d["settings"].update(timezone="utc"),
    ),
    Bad(
        "period-P9999Y",
        "rules[0].due.after",
        "longer than 100 years",
        lambda d: _due(d, after="P9999Y"),
    ),
    Bad(
        "period-P2026Y",
        "rules[0].due.after",
        "longer than 100 years",
        lambda d: _due(d, after="P2026Y"),
    ),
    Bad(
        "period-huge-number",
        "rules[0].due.after",
        "longer than 100 years",
        lambda d: _due(d, after="P" + "9" * 400 + "D"),
    ),
    Bad(
        "period-P101Y",
        "rules[0].due.after",
        "longer than 100 years",
        lambda d: _due(d, after="P101Y"),
    ),
    Bad("period-P0D", "rules[0].due.after", "immediately", lambda d: _due(d, after="P0D")),
    Bad("period-PT0S", "rules[0].due.after", "immediately", lambda d: _due(d, after="PT0S")),
    Bad("period-a-number", "rules[0].due.after", "ISO-8601", lambda d: _due(d, after=5)),
    Bad("period-in-words", "rules[0].due.after", "ISO-8601", lambda d: _due(d, after="5 years")),
    Bad(
        "hold-period-too-long",
        "holds[0].period",
        "longer than 100 years",
        lambda d: d["holds"][0].update(period="P200Y"),
    ),
    Bad(
        "value-a-mapping",
        "rules[0].due.where[3].value",
        "mapping",
        lambda d: _where(d, {"column": "status", "value": {"former": True}}),
    ),
    Bad(
        "value-huge-integer",
        "rules[0].due.where[3].value",
        "too large",
        lambda d: _where(d, {"column": "score", "op": "gt", "value": 10**30}),
    ),
    Bad(
        "value-infinite",
        "rules[0].due.where[3].value",
        "finite",
        lambda d: _where(d, {"column": "score", "op": "gt", "value": float("inf")}),
    ),
    Bad(
        "op-unknown",
        "rules[0].due.where[3].op",
        "eq",
        lambda d: _where(d, {"column": "status", "op": "like", "value": "f%"}),
    ),
    Bad(
        "op-in-one-value",
        "rules[0].due.where[3]",
        "non-empty list",
        lambda d: _where(d, {"column": "status", "op": "in", "value": "former"}),
    ),
    Bad(
        "op-is-null-with-value",
        "rules[0].due.where[3]",
        "takes no value",
        lambda d: _where(d, {"column": "status", "op": "is_null", "value": "x"}),
    ),
    Bad(
        "where-as-sql",
        "rules[0].due.where",
        "SQL text is not accepted",
        lambda d: _due(d, where="status = 'former' OR 1=1"),
    ),
    Bad(
        "clock-undeclared",
        "rules[0].due.clock",
        "not declared",
        lambda d: _due(d, clock="updated_at"),
    ),
    Bad(
        "rule-dataset-unknown",
        "rules[1].dataset",
        "no dataset",
        lambda d: _rule(d, 1).update(dataset="crm.visits"),
    ),
    Bad(
        "rule-id-twice",
        "rules[1].id",
        "used twice",
        lambda d: _rule(d, 1).update(id="stale-contacts"),
    ),
    Bad(
        "hold-unknown",
        "rules[0].holds[1]",
        "no hold",
        lambda d: _rule(d)["holds"].append("tax-records"),
    ),
    Bad(
        "phone-region-unknown",
        "settings.phone_region",
        "region",
        lambda d: d["settings"].update(phone_region="XX"),
    ),
    Bad(
        "batch-size-zero",
        "settings.batch_size",
        "greater than or equal to 1",
        lambda d: d["settings"].update(batch_size=0),
    ),
    Bad(
        "batch-size-huge",
        "settings.batch_size",
        "less than or equal to 10000",
        lambda d: d["settings"].update(batch_size=10**30),
    ),
    Bad(
        "identity-kind-unknown",
        f"{DS}.contacts.identity_fields.ssn",
        "unknown identity kind",
        lambda d: _contacts(d)["identity_fields"].update(ssn="notes"),
    ),
    Bad("version-2", "version", "1", lambda d: d.update(version=2)),
    Bad(
        "strategy-unknown",
        "rules[0].action.fields.notes[0].strategy",
        "null",
        lambda d: _rule(d).update(
            action={"kind": "anonymise", "fields": {"notes": {"strategy": "scramble"}}}
        ),
    ),
    Bad(
        "relation-child-unknown",
        f"{DS}.contacts.relations[3].child",
        "no dataset",
        lambda d: _contacts(d)["relations"].append({"child": "orders", "column": "contact_id"}),
    ),
    Bad(
        "related-not-linked",
        "rules[1].due.where[0].related",
        "not linked",
        lambda d: _rule(d, 1)["due"].update(where=[{"related": "consents"}]),
    ),
    Bad(
        "subject-condition-in-related",
        "rules[0].due.where[2].where[1]",
        "column, op, value",
        lambda d: _rule(d)["due"]["where"][2]["where"].append(
            {"column": "contact_id", "subjects_from": {"dataset": "crm.contacts", "column": "id"}}
        ),
    ),
    Bad(
        "max-share-above-one",
        "settings.limits.max_share",
        "less than or equal to 1",
        lambda d: d["settings"].update(limits={"max_share": 2}),
    ),
    Bad("yaml-syntax", "line ", "not valid YAML", text=lambda t: t + "rules: [\n"),
    Bad("not-a-mapping", "(top)", "must hold a mapping", text=lambda t: "- just\n- a list\n"),
    # --- found against the database -----------------------------------------
    Bad(
        "table-missing",
        f"{DS}.tickets.table",
        "'helpdesk_tickets' does not exist",
        lambda d: d["systems"]["crm"]["datasets"]["tickets"].update(table="helpdesk_tickets"),
        connect=True,
    ),
    Bad(
        "column-missing",
        f"{DS}.contacts.columns[4]",
        "'segment' does not exist",
        lambda d: _contacts(d)["columns"].append("segment"),
        connect=True,
    ),
    Bad(
        "identity-column-missing",
        f"{DS}.contacts.identity_fields.phone",
        "'mobile'",
        lambda d: _contacts(d)["identity_fields"].update(phone="mobile"),
        connect=True,
    ),
    Bad(
        "personal-column-missing",
        f"{DS}.contacts.personal_fields[1]",
        "'address'",
        lambda d: _contacts(d)["personal_fields"].append("address"),
        connect=True,
    ),
    Bad(
        "clock-on-text",
        "rules[0].due.clock",
        r"status is VARCHAR\(20\), not a DATE",
        lambda d: _due(d, clock="status"),
        connect=True,
    ),
    Bad(
        "clock-on-integer",
        "rules[0].due.clock",
        r"score is INTEGER, not a DATE",
        lambda d: _due(d, clock="score"),
        connect=True,
    ),
    Bad(
        "hold-clock-on-text",
        "holds[0].clock",
        "kind is VARCHAR",
        lambda d: d["holds"][0].update(clock="kind"),
        connect=True,
    ),
    Bad(
        "gt-text-on-integer",
        "rules[0].due.where[3].value",
        r"'abc' \(str\).*INTEGER",
        lambda d: _where(d, {"column": "score", "op": "gt", "value": "abc"}),
        connect=True,
    ),
    Bad(
        "eq-number-on-text",
        "rules[0].due.where[3].value",
        r"5 \(int\).*VARCHAR",
        lambda d: _where(d, {"column": "status", "value": 5}),
        connect=True,
    ),
    Bad(
        "in-text-on-integer",
        "rules[0].due.where[3].value",
        r"'high'.*INTEGER",
        lambda d: _where(d, {"column": "score", "op": "in", "value": [1, "high"]}),
        connect=True,
    ),
    Bad(
        "not-a-date",
        "rules[0].due.where[3].value",
        r"'yesterday'.*DATE",
        lambda d: _where(d, {"column": "born", "op": "lt", "value": "yesterday"}),
        connect=True,
    ),
    Bad(
        "related-value-type",
        "rules[0].due.where[2].where[0].value",
        r"7 \(int\).*VARCHAR",
        lambda d: _rule(d)["due"]["where"][2].update(where=[{"column": "kind", "value": 7}]),
        connect=True,
    ),
    Bad(
        "relation-varchar-to-integer",
        f"{DS}.contacts.relations[3].column",
        r"contacts\.id \(INTEGER\) to tickets\.contact_ref \(VARCHAR\(36\)\)",
        lambda d: _contacts(d)["relations"].append({"child": "tickets", "column": "contact_ref"}),
        connect=True,
    ),
    Bad(
        "relation-column-missing",
        f"{DS}.contacts.relations[0].column",
        "'contact'",
        lambda d: _contacts(d)["relations"][0].update(column="contact"),
        connect=True,
    ),
    Bad(
        "parent-column-missing",
        f"{DS}.contacts.relations[0].parent_column",
        "'uuid'",
        lambda d: _contacts(d)["relations"][0].update(parent_column="uuid"),
        connect=True,
    ),
    Bad(
        "link-table-missing",
        f"{DS}.contacts.relations[1].through.table",
        "'contact_emails'",
        lambda d: _contacts(d)["relations"][1]["through"].update(table="contact_emails"),
        connect=True,
    ),
    Bad(
        "link-column-missing",
        f"{DS}.contacts.relations[1].through.child_column",
        "'address_id'",
        lambda d: _contacts(d)["relations"][1]["through"].update(child_column="address_id"),
        connect=True,
    ),
    Bad(
        "discriminator-on-link-table",
        f"{DS}.contacts.relations[1].discriminator.bean_module",
        "link table 'email_links'",
        lambda d: _contacts(d)["relations"][1].update(discriminator={"bean_module": "Contacts"}),
        connect=True,
    ),
    Bad(
        "discriminator-missing",
        f"{DS}.contacts.relations[2].discriminator.kind",
        "'kind'",
        lambda d: _contacts(d)["relations"][2].update(discriminator={"kind": "C"}),
        connect=True,
    ),
    Bad(
        "discriminator-value-type",
        f"{DS}.contacts.relations[2].discriminator.object_type",
        r"3 \(int\).*VARCHAR\(1\)",
        lambda d: _contacts(d)["relations"][2].update(discriminator={"object_type": 3}),
        connect=True,
    ),
    Bad(
        "subjects-from-column-missing",
        "rules[0].due.where[3].subjects_from.column",
        "'contact_uuid'",
        lambda d: _subjects_from(d, "crm.tickets", "contact_uuid"),
        connect=True,
    ),
]


def test_there_are_at_least_forty_kinds_of_bad_policy() -> None:
    assert len(BAD) >= 40
    assert len({b.id for b in BAD}) == len(BAD)


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def database(request, tmp_path_factory) -> Iterator[str]:
    """One database per dialect for all the cases: none of them may change it."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('bad') / 'db.sqlite'}"])
    elif request.param == "postgres":
        urls = _fresh_postgres_schema()
    else:
        urls = _fresh_mysql_database()
    url = next(urls)
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                metadata.tables["contacts"].insert(),
                [
                    {"id": 1, "email": "Matti.Virtanen@Example.fi", "status": "former", "score": 3},
                    {"id": 2, "email": "anna@example.fi", "status": "customer", "score": 40},
                ],
            )
            conn.execute(
                metadata.tables["consents"].insert(),
                [{"id": 1, "contact_id": 1, "kind": "marketing"}],
            )
            conn.execute(metadata.tables["tickets"].insert(), [{"id": 1, "contact_ref": "1"}])
    finally:
        engine.dispose()
    yield url
    next(urls, None)  # drops the schema or database


@pytest.fixture
def env(database: str, monkeypatch) -> str:
    monkeypatch.setenv("BAD_POLICY_DB_URL", database)
    monkeypatch.setenv("BAD_POLICY_HASH_KEY", "a-test-key-of-enough-length")
    return database


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read with one connection (the cases are many)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(conn.execute(table.select()).tuples(), key=repr)
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def write(tmp_path: Path, document: dict[str, Any], edit_text=None) -> Path:
    text = yaml.safe_dump(document, sort_keys=False)
    path = tmp_path / "policy.yaml"
    path.write_text(edit_text(text) if edit_text else text, encoding="utf-8")
    return path


def test_the_good_policy_passes_check_connect(env, tmp_path, capsys) -> None:
    path = write(tmp_path, GOOD)
    assert main(["check", "--connect", "--policy", str(path)]) == 0, capsys.readouterr().err
    assert "connected" in capsys.readouterr().out


@pytest.mark.parametrize("bad", BAD, ids=lambda b: b.id)
def test_a_bad_policy_is_refused_naming_file_and_place(env, tmp_path, capsys, bad) -> None:
    document = copy.deepcopy(GOOD)
    if bad.edit:
        bad.edit(document)
    path = write(tmp_path, document, bad.text)
    before = snapshot(env)

    if bad.connect:  # the file alone is fine: only the database shows the mistake
        assert main(["check", "--policy", str(path)]) == 0, capsys.readouterr().err
        capsys.readouterr()
    code = main(["check", "--connect", "--policy", str(path)])

    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert err.startswith("error: "), err
    line = next((x for x in err.splitlines() if bad.path in x), None)
    assert line is not None, f"{bad.path!r} not named in:\n{err}"
    assert line.strip().startswith(f"{path}: "), line
    assert re.search(bad.words, line), f"{bad.words!r} not in {line!r}"
    # What pydantic tried, and the union branches it gave up on, mean nothing to the reader.
    assert "function-after" not in err and "required field is missing" not in err
    assert snapshot(env) == before


AT_RUN_START = ["gt-text-on-integer", "relation-varchar-to-integer", "clock-on-text"]


@pytest.mark.parametrize("bad", [b for b in BAD if b.id in AT_RUN_START], ids=lambda b: b.id)
def test_a_run_refuses_the_same_policy_before_anything_changes(
    env, tmp_path, capsys, monkeypatch, bad
) -> None:
    """What `check --connect` finds, a sweep finds when it opens its systems."""
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    document = copy.deepcopy(GOOD)
    bad.edit(document)  # type: ignore[misc]
    path = write(tmp_path, document)
    before = snapshot(env)

    code = main(["sweep", "--policy", str(path), "--approve-as", "tester"])

    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    line = next((x for x in err.splitlines() if bad.path in x), "")
    assert line.strip().startswith(f"{path}: ") and re.search(bad.words, line), err
    assert snapshot(env) == before
