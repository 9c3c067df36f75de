"""The `retention` command as a user meets it: clear errors with exit code 2
that change nothing, and the commands that read the ledger."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from flows.cli import main
from retention.demo import demo_env
from retention.demo.build import build_demo
from tests.snapshots import table_rows

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "deployments" / "id-north" / "policy.yaml"
AS_OF = datetime(2026, 11, 1)


@pytest.fixture
def env(monkeypatch, tmp_path) -> dict[str, str]:
    values = demo_env(tmp_path / "demo")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    return values


def broken_policy(tmp_path: Path, edit) -> Path:
    document = yaml.safe_load(POLICY.read_text())
    edit(document)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_check_reports_the_policy_and_its_hash(env, capsys):
    assert main(["check", "--policy", str(POLICY)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "sha256:" in out and "13 rules" in out


@pytest.mark.parametrize(
    ("edit", "path", "words"),
    [
        (lambda d: d["rules"][0].update(colour="red"), "rules[0].colour", "unknown field"),
        (lambda d: d["rules"][4]["due"].update(after="P5X"), "rules[4].due.after", "ISO-8601"),
        (
            lambda d: d["rules"][0]["action"]["fields"].update(email={"strategy": "null"}),
            "rules[0].action.fields.email",
            "not declared",
        ),
        (
            lambda d: d["rules"][6].update(dataset="warehouse.visits"),
            "rules[6].dataset",
            "no dataset",
        ),
        (lambda d: d["rules"][0]["due"].update(where="status = 'x'"), "rules[0].due.where", "list"),
        (
            lambda d: d["systems"]["crm"]["datasets"]["contacts"]["identity_fields"].update(
                mail="email"
            ),
            "systems.crm.datasets.contacts.identity_fields.mail",
            "unknown identity kind",
        ),
    ],
)
def test_a_malformed_policy_exits_2_naming_file_and_path(env, tmp_path, capsys, edit, path, words):
    policy = broken_policy(tmp_path, edit)
    for command in (["check"], ["sweep"], ["plan"]):
        assert main([*command, "--policy", str(policy)]) == 2
        err = capsys.readouterr().err
        assert str(policy) in err and path in err and words in err, err


def test_a_missing_environment_variable_exits_2_before_anything_runs(env, monkeypatch, capsys):
    monkeypatch.delenv("RETENTION_CRM_URL")
    assert main(["sweep", "--policy", str(POLICY)]) == 2
    err = capsys.readouterr().err
    assert "systems.crm.connection" in err and "RETENTION_CRM_URL is not set" in err


@pytest.mark.prefect
def test_an_unreachable_database_exits_2_and_changes_nothing(
    env, monkeypatch, tmp_path, capsys, prefect_harness
):

    build_demo(tmp_path / "demo", as_of=AS_OF)
    before = table_rows(env["RETENTION_CRM_URL"], "web_visits")
    photos_before = sorted(p.name for p in (tmp_path / "demo" / "media").rglob("*"))
    # Ticketing points at a server that is not there (and a password that must not leak).
    monkeypatch.setenv(
        "RETENTION_TICKETING_URL", "postgresql+psycopg://retention:s3cret-pw@127.0.0.1:1/helpdesk"
    )
    code = main(["sweep", "--policy", str(POLICY), "--approve-as", "operator"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ticketing" in err and "s3cret-pw" not in err
    assert table_rows(env["RETENTION_CRM_URL"], "web_visits") == before
    assert sorted(p.name for p in (tmp_path / "demo" / "media").rglob("*")) == photos_before


def test_an_unknown_rule_is_refused(env, tmp_path, capsys):

    build_demo(tmp_path / "demo", as_of=AS_OF)
    assert main(["plan", "--policy", str(POLICY), "--rule", "no-such-rule"]) == 2
    assert "no-such-rule" in capsys.readouterr().err


@pytest.mark.parametrize("email", ["", "*@example.fi", "%", "matti%@example.fi", "not-an-email"])
def test_lookup_refuses_empty_and_wildcard_identities(env, capsys, email):
    assert main(["lookup", "--policy", str(POLICY), "--email", email]) == 2
    assert "email" in capsys.readouterr().err


def test_verify_names_a_tampered_entry(env, tmp_path, capsys):
    from retention.ledger import Ledger

    ledger = Ledger.open(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        keys={"k1": b"0123456789abcdef0123"},
        current_key_id="k1",
    )
    ledger.begin_run(
        run_id="run-1", policy_hash="ab" * 32, policy_name="p", trigger="manual", dry_run=False
    )
    ledger.end_run(run_id="run-1", summary={"deleted": 1})
    ledger.close()
    assert main(["verify"]) == 0
    assert "verifies" in capsys.readouterr().out

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.begin() as conn:
        # The append-only trigger is what a tamperer removes first.
        for (name,) in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'")):
            conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        conn.execute(
            sa.text("UPDATE ledger_entries SET policy_hash = :h WHERE seq = 2"), {"h": "cd" * 32}
        )
    engine.dispose()
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "does NOT verify" in out and "entry 2" in out
