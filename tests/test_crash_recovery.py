"""Crash safety with a real process and a real SIGKILL: a sweep killed in the
middle of its batches, then run again, leaves data and ledger consistent.
Every removed row has a completion entry; no completion claims a row that
still exists; the ledger verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.ledger import Ledger
from tests.snapshots import query, table_rows

pytestmark = pytest.mark.prefect

KEY = "crash-test-hmac-key-0123456789"
DUE, NOT_DUE = 4000, 400

POLICY = """
version: 1
name: crash-test
controller: Test Oy
settings:
  batch_size: 40
  limits: {max_count: 1000000, max_share: 1.0}
  hash_key: {env: RETENTION_HASH_KEY}
systems:
  crm:
    kind: sql
    connection: {env: RETENTION_CRM_URL}
    datasets:
      contacts:
        table: contacts
        identity_fields: {email: email}
        personal_fields: [full_name]
        columns: [ended_at]
        relations:
          - {child: notes, column: contact_id}
      notes:
        table: notes
        columns: [contact_id]
rules:
  - id: ended-contacts
    clause: Kept while the cooperation is in force.
    why: Test rule.
    dataset: crm.contacts
    due: {clock: ended_at, after: P3Y}
    action: {kind: delete}
"""


def make_crm(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, full_name TEXT, "
                "ended_at TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, contact_id INTEGER, body TEXT)")
        )
        rows = [
            {
                "id": i,
                "email": f"person{i}@example.fi",
                "full_name": f"Person {i}",
                "ended_at": "2015-01-01 00:00:00" if i <= DUE else "2026-01-01 00:00:00",
            }
            for i in range(1, DUE + NOT_DUE + 1)
        ]
        conn.execute(
            sa.text("INSERT INTO contacts VALUES (:id, :email, :full_name, :ended_at)"), rows
        )
        conn.execute(
            sa.text("INSERT INTO notes VALUES (:id, :cid, 'note')"),
            [{"id": i, "cid": i} for i in range(1, DUE + NOT_DUE + 1)],
        )
    engine.dispose()


def intents_so_far(ledger_file: Path) -> int:
    if not ledger_file.exists():
        return 0
    try:
        return query(
            f"sqlite:///{ledger_file}",
            "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'intent'",
        )[0]["n"]
    except sa.exc.OperationalError:  # table not created yet, or locked for a moment
        return 0


def run_sweep(env: dict[str, str], policy: Path, kill_after_intents: int | None) -> int | None:
    cmd = [
        sys.executable,
        "-m",
        "flows.cli",
        "sweep",
        "--policy",
        str(policy),
        "--as-of",
        "2026-11-01T00:00:00+00:00",
    ]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if kill_after_intents is None:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out.decode()[-3000:]
        return proc.returncode
    ledger_file = Path(env["RETENTION_LEDGER_URL"].removeprefix("sqlite:///"))
    deadline = time.monotonic() + 180
    while intents_so_far(ledger_file) < kill_after_intents:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "the sweep never started its batches"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and anything it started
    proc.wait(timeout=30)
    return None


@pytest.mark.parametrize("meanwhile", ["nothing", "the rest is no longer due"])
def test_sigkill_mid_batch_then_rerun_leaves_data_and_ledger_consistent(tmp_path, meanwhile):
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_crm(crm_url)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {
        **os.environ,
        "RETENTION_CRM_URL": crm_url,
        "RETENTION_HASH_KEY": KEY,
        "RETENTION_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)

    run_sweep(env, policy, kill_after_intents=15)
    remaining = set(table_rows(crm_url, "contacts"))
    removed_by_killed_run = DUE + NOT_DUE - len(remaining)
    assert 0 < removed_by_killed_run < DUE, "the kill must land in the middle of the run"
    if meanwhile != "nothing":
        # E.g. the cooperation resumed: recovery must not claim rows still there
        # merely because they are no longer due.
        engine = sa.create_engine(crm_url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE contacts SET ended_at = '2026-06-01 00:00:00'"))
        engine.dispose()

    run_sweep(env, policy, kill_after_intents=None)

    contacts = table_rows(crm_url, "contacts")
    expected = set(range(DUE + 1, DUE + NOT_DUE + 1))
    if meanwhile != "nothing":
        expected = remaining
    assert set(contacts) == expected
    assert set(table_rows(crm_url, "notes")) == expected

    ledger = Ledger.open(
        env["RETENTION_LEDGER_URL"], keys={"k1": KEY.encode()}, current_key_id="k1"
    )
    try:
        verdict = ledger.verify()
        assert verdict.ok, verdict.problems
        claimed = set()
        for entry in ledger.entries():
            if entry.kind == "completion":
                claimed.update(entry.key_hashes)
        existing = {ledger.hash(i) for i in contacts}
        removed = {ledger.hash(i) for i in range(1, DUE + NOT_DUE + 1)} - existing
        assert removed <= claimed, "a removed row has no completion entry"
        assert not (claimed & existing), "a completion claims a row that still exists"
        assert not ledger.unfinished_intents()
    finally:
        ledger.close()
