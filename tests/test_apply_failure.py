"""A store that fails in the middle of a rule: the failing batch rolls back
and says so in the ledger, batches before it stay done and counted, the rest
are reported failed, and nothing claims a row that is still there."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from connectors.registry import open_connector
from retention.ledger import Ledger
from retention.pipeline.apply import RunContext, apply_plan
from retention.pipeline.plan import plan_rule
from retention.policy_loader import load_policy
from tests.snapshots import table_rows

KEY = "apply-failure-test-key-0123456789"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
POLICY = """
version: 1
name: failure-test
controller: Test Oy
settings: {batch_size: 10, hash_key: {env: RETENTION_HASH_KEY}}
systems:
  crm:
    kind: sql
    connection: {env: RETENTION_CRM_URL}
    datasets:
      contacts: {table: contacts, columns: [ended_at]}
rules:
  - id: ended
    clause: Kept while the cooperation is in force.
    why: Test rule.
    dataset: crm.contacts
    due: {clock: ended_at, after: P3Y}
    action: {kind: delete}
"""


def test_a_batch_that_fails_rolls_back_and_the_rest_are_reported_failed(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE contacts (id INTEGER PRIMARY KEY, ended_at TIMESTAMP)"))
        conn.execute(
            sa.text("INSERT INTO contacts VALUES (:id, '2015-01-01 00:00:00')"),
            [{"id": i} for i in range(1, 36)],
        )
        # The store refuses one row, as a real database does on a constraint.
        conn.execute(
            sa.text(
                "CREATE TRIGGER refuse BEFORE DELETE ON contacts WHEN old.id = 15 "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    engine.dispose()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    monkeypatch.setenv("RETENTION_CRM_URL", url)
    monkeypatch.setenv("RETENTION_HASH_KEY", KEY)
    loaded = load_policy(policy)
    connectors = {"crm": open_connector("crm", loaded)}
    ledger = Ledger.open(
        f"sqlite:///{tmp_path / 'l.db'}", keys={"k1": KEY.encode()}, current_key_id="k1"
    )
    ledger.begin_run(
        run_id="r1", policy_hash=loaded.sha256, policy_name="p", trigger="manual", dry_run=False
    )
    rule = loaded.policy.rules[0]
    plan = plan_rule(rule, loaded.policy, connectors, now=NOW)

    outcome = apply_plan(
        plan, rule, connectors, ledger, RunContext("r1", loaded.sha256, "p", NOW, 10)
    )

    # Batch 1 (ids 1-10) done; batch 2 (11-20) refused as a whole; 21-35 never ran.
    assert (outcome.deleted, outcome.failed, outcome.status) == (10, 25, "failed")
    assert "refused" in outcome.note
    assert set(table_rows(url, "contacts")) == set(range(11, 36))
    # The refused batch rolled back before it told the ledger anything: no
    # intent names it, so nothing can ever claim it.
    completions = [e for e in ledger.entries() if e.kind == "completion"]
    intents = [e for e in ledger.entries() if e.kind == "intent"]
    assert [c.outcome for c in completions] == ["completed"] and len(intents) == 1
    assert set(completions[0].key_hashes) == {ledger.hash(i) for i in range(1, 11)}
    assert ledger.verify().ok and not ledger.unfinished_intents()
    ledger.close()
    connectors["crm"].close()
