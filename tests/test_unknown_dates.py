"""Unknown means keep, and is counted (DESIGN.md, safety property 12): one
table of cases, run against the SQL engine (SQLite, PostgreSQL) and the media
engine (a folder with sidecar facts).

A record's due clock is `ended` (due after P3Y); a hold keeps it while its
hold clock `kept_from` is less than P6Y old. On the wave-1 code a NULL hold
clock let the record be deleted, and a NULL due clock was silently never due.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.media.folder import open_folder_connector
from connectors.sql.connector import open_sql_connector
from retention.ledger import Ledger, build_report
from retention.pipeline.apply import RunContext, apply_plan
from retention.pipeline.plan import plan_rule
from retention.policy import Policy

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OLD, RECENT = "2015-06-01", "2025-06-01"
KEY = b"unknown-dates-key-0123456789"

# name: (due clock, hold clock or "none" for no hold record, what must happen)
CASES: dict[str, tuple[str | None, str | None, str]] = {
    "due, no hold": (OLD, "none", "deleted"),
    "due, hold over": (OLD, "2016-01-01", "deleted"),
    "due, hold in force": (OLD, RECENT, "held"),
    "due, hold date unknown": (OLD, None, "held-unknown"),
    "not due yet": (RECENT, "none", "kept"),
    "due date unknown": (None, "none", "undated"),
}


def policy_for(kind: str) -> Policy:
    if kind == "sql":
        systems: dict[str, Any] = {
            "crm": {
                "kind": "sql",
                "connection": {"env": "X"},
                "datasets": {
                    "contacts": {
                        "table": "contacts",
                        "columns": ["ended"],
                        "relations": [{"child": "invoices", "column": "contact_id"}],
                    },
                    "invoices": {"table": "invoices", "columns": ["contact_id", "kept_from"]},
                },
            }
        }
        dataset, hold_dataset = "crm.contacts", "crm.invoices"
    else:
        systems = {
            "media": {
                "kind": "folder",
                "connection": {"env": "X"},
                "datasets": {
                    "photos": {
                        "prefix": "photos/",
                        "primary_key": "key",
                        "columns": ["ended", "kept_from"],
                    }
                },
            }
        }
        dataset = hold_dataset = "media.photos"
    return Policy.model_validate(
        {
            "version": 1,
            "name": "unknown-dates",
            "controller": "Test Oy",
            "systems": systems,
            "holds": [
                {
                    "id": "vouchers",
                    "law": "Accounting Act",
                    "why": "vouchers are kept",
                    "dataset": hold_dataset,
                    "clock": "kept_from",
                    "period": "P6Y",
                }
            ],
            "rules": [
                {
                    "id": "ended",
                    "clause": "kept while the cooperation lasts",
                    "why": "test",
                    "dataset": dataset,
                    "due": {"clock": "ended", "after": "P3Y"},
                    "action": {"kind": "delete"},
                    "holds": ["vouchers"],
                }
            ],
        }
    )


def sql_store(url: str, policy: Policy) -> Any:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE contacts (id INTEGER PRIMARY KEY, ended DATE)"))
        conn.execute(
            sa.text(
                "CREATE TABLE invoices (id INTEGER PRIMARY KEY, contact_id INTEGER, kept_from DATE)"
            )
        )
        for number, (_, (ended, kept_from, _)) in enumerate(CASES.items(), start=1):
            conn.execute(
                sa.text("INSERT INTO contacts VALUES (:id, :ended)"), {"id": number, "ended": ended}
            )
            if kept_from != "none":
                conn.execute(
                    sa.text("INSERT INTO invoices VALUES (:id, :id, :kept)"),
                    {"id": number, "kept": kept_from},
                )
    engine.dispose()
    return open_sql_connector("crm", policy.systems["crm"], url, hash_key=KEY, policy=policy)


def folder_store(root: Path, policy: Policy) -> Any:
    for number, (_, (ended, kept_from, _)) in enumerate(CASES.items(), start=1):
        photo = root / "photos" / f"{number}.jpg"
        photo.parent.mkdir(parents=True, exist_ok=True)
        photo.write_bytes(b"jpeg")
        facts = {"ended": ended, **({} if kept_from == "none" else {"kept_from": kept_from})}
        Path(f"{photo}.json").write_text(json.dumps({k: v for k, v in facts.items() if v}))
    return open_folder_connector(
        "media", policy.systems["media"], str(root), hash_key=KEY, policy=policy
    )


@pytest.fixture(
    params=[
        "sql:sqlite",
        pytest.param("sql:postgres", marks=pytest.mark.postgres),
        "media:folder",
    ]
)
def engine(request, tmp_path) -> Any:
    kind, store = request.param.split(":")
    policy = policy_for(kind)
    if store == "sqlite":
        return policy, sql_store(f"sqlite:///{tmp_path / 'crm.db'}", policy)
    if store == "postgres":
        url = request.getfixturevalue("postgres_url")
        return policy, sql_store(url, policy)
    return policy, folder_store(tmp_path / "media", policy)


def test_unknown_dates_keep_the_record_and_are_counted(engine, tmp_path):
    policy, connector = engine
    rule = policy.rules[0]
    system = rule.dataset.split(".")[0]
    plan = plan_rule(rule, policy, {system: connector}, now=NOW)
    names = list(CASES)

    def case(key: Any) -> str:
        return names[int(str(key).removeprefix("photos/").removesuffix(".jpg")) - 1]

    expected = {name: what for name, (_, _, what) in CASES.items()}
    if system == "media":
        # A media item has facts, not related records: no hold fact is an
        # unknown hold date, and unknown means keep.
        expected["due, no hold"] = "held-unknown"
    held = {case(h.key): h for h in plan.held}
    assert {case(k) for k in plan.due} == {n for n, w in expected.items() if w == "deleted"}
    assert set(held) == {n for n, w in expected.items() if w.startswith("held")}
    unknown = held["due, hold date unknown"]
    assert unknown.until is None and unknown.note == "date unknown"
    assert held["due, hold in force"].until is not None
    assert plan.undated == sum(c[2] == "undated" for c in CASES.values()) == 1

    with Ledger.open(
        f"sqlite:///{tmp_path / 'ledger.db'}", keys={"k1": KEY}, current_key_id="k1"
    ) as ledger:
        ledger.begin_run(
            run_id="r", policy_hash="p" * 64, policy_name="t", trigger="manual", dry_run=False
        )
        outcome = apply_plan(
            plan, rule, {system: connector}, ledger, RunContext("r", "p" * 64, "t", NOW, 100)
        )
        kept = [k for e in ledger.entries() if e.kind == "kept" for k in e.kept]
        ledger.end_run(run_id="r", summary={}, undated={"ended": outcome.undated})
        report = build_report(ledger.entries()).to_markdown()
    assert "rule `ended`: 1 record(s) with an unknown date" in report
    deleted = {n for n, w in expected.items() if w == "deleted"}
    assert (outcome.deleted, outcome.held, outcome.undated) == (len(deleted), len(held), 1)
    notes = sorted(k.note for k in kept)
    assert notes == sorted("date unknown" if w == "held-unknown" else "" for w in
                           expected.values() if w.startswith("held"))  # fmt: skip
    remaining = {case(k) for page in connector.keys(rule.dataset.split(".")[1]) for k in page}
    assert remaining == set(expected) - deleted
    connector.close()
