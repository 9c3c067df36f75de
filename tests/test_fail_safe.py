"""Off the straight path: a rule that does not finish, a refusal, a kill
between a commit and its evidence, a second run, a plan that fails. Each
ends with the oracle (tests/oracle.py): the final data equals an
uninterrupted run's, every changed row is claimed once, nothing is claimed
that did not change, no intent is left open, the ledger verifies.

These are the reproductions of the fail-safe issue; on the wave-1 code each
left personal data for good or a change unclaimed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retention.demo.build import DEMO_HASH_KEY
from retention.ledger import Ledger, build_report
from retention.ledger.lease import LeaseBusy
from retention.pipeline.outcome import RunSummary
from retention.pipeline.run import SweepArgs, sweep
from retention.pipeline.selection import select_rules, systems_needed
from tasks.setup import close_systems, load_checked_policy, open_ledger, open_systems
from tasks.sweep import run_sweep
from tests.conftest import _fresh_postgres_schema
from tests.demo_world import (
    AS_OF,
    POLICY,
    World,
    make_world,
    policy_with,
    rule_of,
    server_databases,
)
from tests.oracle import assert_consistent, snapshots
from tests.snapshots import query, table_rows

ROOT = Path(__file__).parent.parent
COMMENTS = "ticketing-comments-of-deregistered"
TICKETS = "ticketing-tickets-of-deregistered"
USERS = "ticketing-users-after-deregistration"
VISITS = "crm-web-visits"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def worlds(request, tmp_path) -> Iterator[tuple[World, World]]:
    """The demo twice, identical: (the run under test, the reference run)."""
    if request.param == "sqlite":
        yield make_world(tmp_path / "run", None), make_world(tmp_path / "ref", None)
        return
    fresh_url, cleanup = server_databases(_fresh_postgres_schema)
    try:
        yield (
            make_world(tmp_path / "run", fresh_url),
            make_world(tmp_path / "ref", fresh_url),
        )
    finally:
        cleanup()


def use(world: World, monkeypatch) -> None:
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)


def sweep_in(world: World, monkeypatch, policy: Path = POLICY, **options: Any) -> RunSummary:
    use(world, monkeypatch)
    return run_sweep(str(policy), as_of=AS_OF, **options)


def ledger_of(world: World) -> Ledger:
    return Ledger.open(
        world.env["RETENTION_LEDGER_URL"], keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1"
    )


def reference(world: World, monkeypatch) -> dict:
    summary = sweep_in(world, monkeypatch, approved_by="reference")
    assert summary.status == "completed", summary.reason()
    return snapshots(world.urls)


def changes(summary: RunSummary) -> int:
    return sum(o.deleted + o.anonymised + o.held_anonymised + o.cascaded for o in summary.outcomes)


def finish_and_judge(run: World, before: dict, want: dict, monkeypatch) -> None:
    """A last run changes nothing more; then the oracle."""
    again = sweep_in(run, monkeypatch, approved_by="operator")
    assert again.status == "completed" and changes(again) == 0, again.reason()
    with ledger_of(run) as ledger:
        assert_consistent(ledger, before, snapshots(run.urls), want)


def outcome(summary: RunSummary, rule_id: str):
    return next(o for o in summary.outcomes if o.rule_id == rule_id)


# --- 1. a rule that does not finish holds back what depends on it -------------


def test_a_rule_run_alone_waits_for_the_rules_it_must_follow(worlds, monkeypatch):
    run, ref = worlds
    want = reference(ref, monkeypatch)
    before = snapshots(run.urls)
    users = table_rows(run.ticketing, "users")

    assert sweep_in(run, monkeypatch, dry_run=True).dry_run
    assert snapshots(run.urls) == before, "a dry run changes nothing"
    alone = sweep_in(run, monkeypatch, rules=[USERS], approved_by="operator")

    waited = outcome(alone, USERS)
    assert waited.status == "waiting" and waited.anonymised == 0
    assert f"needs {COMMENTS}, {TICKETS}" in waited.note
    with ledger_of(run) as ledger:
        report = build_report(ledger.entries(alone.run_id)).to_markdown()
    assert f"rule `{USERS}` waiting" in report
    assert alone.status == "incomplete" and USERS in alone.reason()
    assert table_rows(run.ticketing, "users") == users, "the users rule changed nothing"
    [end] = query(run.env["RETENTION_LEDGER_URL"], "SELECT outcome, detail FROM ledger_entries "
                  "WHERE kind = 'run-end'")  # fmt: skip
    assert end["outcome"] == "incomplete" and '"waiting"' in end["detail"]

    full = sweep_in(run, monkeypatch, approved_by="operator")
    assert full.status == "completed", full.reason()
    finish_and_judge(run, before, want, monkeypatch)


def test_a_refused_rule_holds_back_the_rules_that_depend_on_it(worlds, monkeypatch, tmp_path):
    run, ref = worlds
    want = reference(ref, monkeypatch)
    before = snapshots(run.urls)
    users = table_rows(run.ticketing, "users")
    strict = policy_with(
        tmp_path, lambda d: rule_of(d, COMMENTS).update(limits={"max_count": 10, "max_share": 1})
    )

    # Nobody approves: the comments rule is over its limit, so the users
    # rule, which would hide the comments it has not redacted, waits.
    refused = sweep_in(run, monkeypatch, policy=strict)
    assert outcome(refused, COMMENTS).status == "not-approved"
    assert outcome(refused, USERS).status == "waiting"
    assert table_rows(run.ticketing, "users") == users
    assert refused.status == "incomplete"
    decisions = query(run.env["RETENTION_LEDGER_URL"], "SELECT outcome, detail FROM "
                      "ledger_entries WHERE kind = 'decision'")  # fmt: skip
    assert [d["outcome"] for d in decisions] == ["not-asked"] and COMMENTS in decisions[0]["detail"]
    with ledger_of(run) as ledger:
        report = build_report(ledger.entries(refused.run_id)).to_markdown()
    assert "approval not-asked at" in report and f"rule `{USERS}` waiting" in report
    assert "**incomplete**" in report

    approved = sweep_in(run, monkeypatch, policy=strict, approved_by="operator")
    assert approved.status == "completed", approved.reason()
    assert outcome(approved, COMMENTS).approved_by == "operator"
    with ledger_of(run) as ledger:
        report = build_report(ledger.entries(approved.run_id)).to_markdown()
    assert f"| ticketing | comments | {COMMENTS} |" in report
    assert [line for line in report.splitlines() if COMMENTS in line and line.endswith(
        "| operator |")], "the evidence report names the approver per rule"  # fmt: skip
    finish_and_judge(run, before, want, monkeypatch)


def test_cli_exit_code_says_due_records_were_left(tmp_path, monkeypatch, capsys):
    from flows.cli import main

    run = make_world(tmp_path / "run", None)
    use(run, monkeypatch)
    code = main(["sweep", "--policy", str(POLICY), "--rule", USERS, "--as-of", AS_OF.isoformat()])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "INCOMPLETE" in out and f"waiting: needs {COMMENTS}" in out
    assert "(applied)" not in out


# --- 2. a kill between a batch's commit and its completion --------------------


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no finally writes evidence."""


class DyingLedger:
    """The real ledger until the moment of death, then every call dies.

    It dies at the batch boundary after `batches` batches of `rule` have
    committed: the next write would have carried the last one's completion
    (with the next intent, or alone after the rule's last batch)."""

    def __init__(self, ledger: Ledger, rule: str, batches: int) -> None:
        self._ledger, self._rule, self._batches = ledger, rule, batches
        self._boundaries = 0
        self.dead = False

    def _boundary(self, rule_id: str | None) -> None:
        if self.dead:
            raise Killed
        if rule_id == self._rule:
            self._boundaries += 1
            if self._boundaries >= self._batches:
                self.dead = True
                raise Killed

    def record_intent(self, *, completing=None, **intent):  # type: ignore[no-untyped-def]
        if completing is not None:
            self._boundary(intent["rule_id"])
        elif self.dead:
            raise Killed
        return self._ledger.record_intent(completing=completing, **intent)

    def record_completion(self, intent_seq, **kwargs):  # type: ignore[no-untyped-def]
        rule = next(e.rule_id for e in self._ledger.entries() if e.seq == intent_seq)
        self._boundary(rule)
        return self._ledger.record_completion(intent_seq, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._ledger, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise Killed
            return attribute(*args, **kwargs)

        return call


def run_until_killed(world: World, monkeypatch, policy: Path, rule: str, batches: int) -> None:
    use(world, monkeypatch)
    loaded = load_checked_policy(str(policy))
    selected = select_rules(loaded.policy, None)
    connectors = open_systems(loaded, systems_needed(loaded.policy, selected))
    real = open_ledger(loaded)
    dying = DyingLedger(real, rule, batches)
    args = SweepArgs(
        policy=loaded.policy,
        policy_hash=loaded.sha256,
        run_id=str(uuid.uuid4()),
        now=AS_OF,
        rules=selected,
        approved_by="operator",
    )
    try:
        with pytest.raises(Killed):
            sweep(args, connectors, dying)
    finally:
        close_systems(connectors)
        real.close()
    assert dying.dead, "the run never reached the moment it was to die at"


@pytest.mark.parametrize(
    ("rule", "batches"),
    [
        (COMMENTS, 3),  # an anonymisation: three batches committed, the third unclaimed
        (COMMENTS, 7),  # ...its last batch (314 comments in 7 batches of 50)
        (VISITS, 2),  # a delete
    ],
)
def test_a_kill_between_commit_and_completion_is_claimed_by_recovery(
    worlds, monkeypatch, tmp_path, rule, batches
):
    run, ref = worlds
    want = reference(ref, monkeypatch)
    before = snapshots(run.urls)
    small = policy_with(tmp_path, lambda d: d["settings"].update(batch_size=50))
    # The dead run's lease is not released; it expires quickly here.
    monkeypatch.setenv("RETENTION_LEASE_TTL_S", "1")

    run_until_killed(run, monkeypatch, small, rule, batches)
    with ledger_of(run) as ledger:
        [open_intent] = ledger.unfinished_intents()
        assert open_intent.rule_id == rule
    time.sleep(1.2)

    rerun = sweep_in(run, monkeypatch, policy=small, approved_by="operator")
    assert rerun.recovered == 1 and rerun.status == "completed", rerun.reason()
    with ledger_of(run) as ledger:
        [recovered] = [e for e in ledger.entries() if e.outcome == "recovered"]
        assert recovered.count == open_intent.key_hashes.__len__() > 0, (
            "every change of the committed batch is claimed"
        )
    finish_and_judge(run, before, want, monkeypatch)


# --- 3. one applying run at a time ---------------------------------------------


def test_a_second_run_is_refused_while_one_applies_and_changes_nothing(tmp_path, monkeypatch):
    from flows.cli import main

    run = make_world(tmp_path / "run", None)
    use(run, monkeypatch)
    before = snapshots(run.urls)
    with ledger_of(run) as ledger:
        ledger.acquire_lease("the-other-run", "deployment:nightly, pid 1 on elsewhere")
        with pytest.raises(LeaseBusy, match="another run is applying changes: run the-other-run"):
            run_sweep(str(POLICY), as_of=AS_OF, approved_by="operator")
        code = main(["sweep", "--policy", str(POLICY), "--as-of", AS_OF.isoformat()])
        assert code == 4
        assert snapshots(run.urls) == before
        assert ledger.entries() == [], "a refused run leaves no run start without an end"
        ledger.release_lease("the-other-run")
    assert run_sweep(str(POLICY), as_of=AS_OF, approved_by="operator").status == "completed"


def test_a_dead_holder_is_taken_over_and_the_takeover_is_evidence(tmp_path, monkeypatch):
    run = make_world(tmp_path / "run", None)
    use(run, monkeypatch)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from retention.ledger import Ledger
                ledger = Ledger.open({run.env["RETENTION_LEDGER_URL"]!r},
                                     keys={{'k1': b'x' * 20}}, current_key_id='k1')
                ledger.acquire_lease('killed-run', 'cli, a process about to die')
                print('held', flush=True)
                time.sleep(600)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(LeaseBusy):
            run_sweep(str(POLICY), as_of=AS_OF, approved_by="operator")
    finally:
        holder.kill()
        holder.wait()
    # Its process is gone: no need to wait for the lease to expire.
    summary = run_sweep(str(POLICY), as_of=AS_OF, approved_by="operator")
    assert summary.status == "completed"
    taken = query(run.env["RETENTION_LEDGER_URL"], "SELECT outcome, detail FROM ledger_entries "
                  "WHERE kind = 'lease'")  # fmt: skip
    assert [t["outcome"] for t in taken] == ["taken-over"] and "killed-run" in taken[0]["detail"]


# --- 4. every run start has a run end ----------------------------------------


def test_a_plan_that_fails_still_ends_the_run_in_the_ledger(tmp_path, monkeypatch):
    import sqlalchemy as sa

    run = make_world(tmp_path / "run", None)
    use(run, monkeypatch)
    loaded = load_checked_policy(str(POLICY))
    selected = select_rules(loaded.policy, [VISITS, "crm-newsletter-unsubscribed"])
    connectors = open_systems(loaded, systems_needed(loaded.policy, selected))
    engine = sa.create_engine(run.crm)
    with engine.begin() as conn:  # the schema changes under a running sweep
        conn.execute(sa.text("ALTER TABLE web_visits RENAME COLUMN visited_at TO seen_at"))
    engine.dispose()
    ledger = open_ledger(loaded)
    try:
        args = SweepArgs(
            policy=loaded.policy,
            policy_hash=loaded.sha256,
            run_id="plan-fails",
            now=AS_OF,
            rules=selected,
            approved_by="operator",
        )
        summary = sweep(args, connectors, ledger)
        ends = [e for e in ledger.entries() if e.kind == "run-end"]
    finally:
        close_systems(connectors)
        ledger.close()
    assert outcome(summary, VISITS).status == "failed"
    assert "plan failed" in outcome(summary, VISITS).note
    assert outcome(summary, "crm-newsletter-unsubscribed").status == "done"
    assert summary.status == "failed"
    [end] = ends
    assert end.outcome == "failed" and end.detail["rules"][VISITS] == "failed"
    assert "visited_at" in end.detail["reasons"][VISITS], "the reason is in the ledger"


# --- 5. held records are re-checked and guarded like due ones ------------------


def test_held_records_are_rechecked_at_apply_time_and_count_against_limits(tmp_path, monkeypatch):
    import sqlalchemy as sa

    from retention.pipeline.apply import RunContext, apply_plan
    from retention.pipeline.guard import over_limits
    from retention.pipeline.plan import plan_rule
    from retention.policy import Limits

    run = make_world(tmp_path / "run", None)
    use(run, monkeypatch)
    loaded = load_checked_policy(str(POLICY))
    [rule] = select_rules(loaded.policy, ["crm-contact-after-cooperation"])
    connectors = open_systems(loaded, ["crm"])
    ledger = open_ledger(loaded)
    try:
        plan = plan_rule(rule, loaded.policy, connectors, now=AS_OF)
        assert plan.held and plan.held_to_change
        # Held records the rule anonymises are changes: they count.
        limits = Limits(max_count=len(plan.due), max_share=1.0)
        assert f"{len(plan.due) + len(plan.held)} records to change" in (
            over_limits(plan, limits) or ""
        )
        resumed = plan.held[0].key  # the cooperation resumed after the plan
        engine = sa.create_engine(run.crm)
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE contacts SET relationship_status = 'customer' WHERE id = :id"),
                {"id": resumed},
            )
        before = table_rows(run.crm, "contacts")[resumed]
        engine.dispose()
        ledger.begin_run(
            run_id="held", policy_hash=loaded.sha256, policy_name="p", trigger="t", dry_run=False
        )
        result = apply_plan(
            plan, rule, connectors, ledger, RunContext("held", loaded.sha256, "p", AS_OF, 1000)
        )
    finally:
        close_systems(connectors)
        ledger.close()
    assert result.held_anonymised == len(plan.held) - 1 and result.skipped == 1
    assert table_rows(run.crm, "contacts")[resumed] == before, "a no-longer-due row is untouched"
