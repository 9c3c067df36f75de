"""A database that goes away, with a real TCP proxy between the pipeline and
PostgreSQL: live connections cut in the middle of a batch (the data
system's, and separately the ledger's), connections refused for seconds, and
one system down for the rest of the run while the others are up.

Each time: the run fails and names the system, the rules that depend on
the failed one wait, what committed is claimed (a COMMIT whose answer was
lost is settled at the run's end, or by the next run), a rerun completes,
and the oracle judges the end state against an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.pipeline.outcome import RunSummary
from tests.conftest import POSTGRES_URL, _fresh_postgres_schema
from tests.demo_world import World, make_world, policy_with, server_databases
from tests.faults import CutAt, TcpProxy
from tests.oracle import snapshots
from tests.test_fail_safe import (
    COMMENTS,
    USERS,
    finish_and_judge,
    ledger_of,
    outcome,
    sweep_in,
)

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

COMMENTS_UPDATE = b"UPDATE comments"
COMMENTS_ID = len(COMMENTS).to_bytes(4, "big") + COMMENTS.encode()
COMMIT = b"COMMIT"


@dataclass
class Setup:
    world: World
    policy: Path
    before: dict
    reference: dict
    proxy: TcpProxy


@pytest.fixture(scope="module")
def small_policy(tmp_path_factory) -> Path:
    # 314 due comments in 7 batches of 50, so a cut can land mid-rule.
    base = tmp_path_factory.mktemp("policy")
    return policy_with(base, lambda d: d["settings"].update(batch_size=50))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_policy) -> dict:
    ref = make_world(tmp_path_factory.mktemp("ref"), None)
    with pytest.MonkeyPatch.context() as mp:
        assert sweep_in(ref, mp, policy=small_policy, approved_by="ref").status == "completed"
    return snapshots(ref.urls)


@pytest.fixture
def proxied(tmp_path, small_policy, reference) -> Iterator[Callable[[str], Setup]]:
    """proxied(which): the demo in PostgreSQL, data and ledger, with the
    ticketing database or the ledger reached through a proxy."""
    fresh_url, cleanup = server_databases(_fresh_postgres_schema)
    target = sa.make_url(POSTGRES_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)

    def make(which: str) -> Setup:
        world = make_world(tmp_path / "run", fresh_url, ledger=fresh_url())
        before = snapshots(world.urls)
        name = {"ticketing": "RETENTION_TICKETING_URL", "ledger": "RETENTION_LEDGER_URL"}[which]
        world.env[name] = proxy.url(world.env[name])
        return Setup(world, small_policy, before, reference, proxy)

    try:
        yield make
    finally:
        proxy.close()
        cleanup()


def failed_naming(summary: RunSummary, words: str) -> None:
    assert summary.status == "failed", summary.reason()
    failed = [o for o in summary.outcomes if o.status == "failed"]
    assert failed and all(words in o.note for o in failed), [o.note for o in failed]


def dependents_wait(summary: RunSummary) -> None:
    """The users rule would hide the comments left unredacted: it waits."""
    assert outcome(summary, COMMENTS).status == "failed"
    assert outcome(summary, USERS).status == "waiting"
    assert f"needs {COMMENTS}" in outcome(summary, USERS).note


def rerun_and_judge(s: Setup, monkeypatch) -> None:
    s.proxy.trigger = None
    s.proxy.refuse(0)
    # A lease the run could not release (its ledger was away) expires.
    rerun = sweep_in(s.world, monkeypatch, policy=s.policy, approved_by="operator", lease_wait_s=10)
    assert rerun.status == "completed", rerun.reason()
    finish_and_judge(s.world, s.before, s.reference, monkeypatch)


def crm_done(summary: RunSummary) -> None:
    crm = [o for o in summary.outcomes if o.dataset.startswith("crm.")]
    assert crm and all(o.status == "done" for o in crm), [(o.rule_id, o.status) for o in crm]


# psycopg prepares a statement it runs often and then no longer sends its
# text, so cuts are counted in COMMITs (always sent as text) after the first
# sight of the batch's statement (data) or of the rule's id as a bound
# value, length-prefixed (ledger).
@pytest.mark.parametrize(
    "cut",
    [
        # Batch 2 of the comments rule wrote its intent, then died before COMMIT.
        pytest.param(CutAt(COMMIT, after_seen=COMMENTS_UPDATE, nth=2), id="before-a-commit"),
        pytest.param(CutAt(COMMIT, after_seen=COMMENTS_UPDATE, when="after"), id="commit-in-doubt"),
        pytest.param(
            CutAt(COMMIT, after_seen=COMMENTS_UPDATE, nth=2, refuse_s=3), id="refused-for-3-s"
        ),  # fmt: skip
    ],
)
def test_the_data_database_goes_away_mid_batch(proxied, monkeypatch, cut):
    s = proxied("ticketing")
    s.proxy.trigger = cut
    summary = sweep_in(s.world, monkeypatch, policy=s.policy, approved_by="operator")

    assert s.proxy.cuts == 1
    failed_naming(summary, "system 'ticketing'")
    dependents_wait(summary)
    crm_done(summary)
    with ledger_of(s.world) as ledger:
        # A commit in doubt is settled before the run ends if the store
        # answers again; else the next run settles it.
        assert len(ledger.unfinished_intents()) <= (1 if cut.refuse_s else 0)
    rerun_and_judge(s, monkeypatch)


@pytest.mark.parametrize(
    "cut",
    [
        # The first intent's transaction dies before its commit: the batch rolls back.
        pytest.param(
            CutAt(COMMIT, after_seen=COMMENTS_ID, per_transaction=True),
            id="before-an-intent-commits",
        ),  # fmt: skip
        # Batch 1's completion and batch 2's intent share one transaction;
        # it committed, its answer was lost: batch 2 rolls back and recovery
        # claims nothing of it.
        pytest.param(
            CutAt(COMMIT, after_seen=COMMENTS_ID, nth=2, when="after", per_transaction=True),
            id="intent-commit-in-doubt",
        ),  # fmt: skip
        pytest.param(
            CutAt(COMMIT, after_seen=COMMENTS_ID, nth=2, refuse_s=3, per_transaction=True),
            id="refused-for-3-s",
        ),  # fmt: skip
    ],
)
def test_the_ledger_goes_away_mid_batch(proxied, monkeypatch, cut):
    s = proxied("ledger")
    s.proxy.trigger = cut
    monkeypatch.setenv("RETENTION_LEASE_TTL_S", "2")
    summary = sweep_in(s.world, monkeypatch, policy=s.policy, approved_by="operator")

    assert s.proxy.cuts == 1
    failed_naming(summary, "ledger")
    dependents_wait(summary)
    rerun_and_judge(s, monkeypatch)


def test_one_system_down_the_others_finish_and_the_next_run_completes(proxied, monkeypatch):
    s = proxied("ticketing")
    # Down from the first change it is asked for, for longer than the run.
    s.proxy.trigger = CutAt(b"DELETE FROM login_accounts", refuse_s=600)
    summary = sweep_in(s.world, monkeypatch, policy=s.policy, approved_by="operator")

    failed_naming(summary, "system 'ticketing'")
    crm_done(summary)
    media = [o for o in summary.outcomes if o.dataset.startswith("media.")]
    assert media and all(o.status == "done" and o.deleted for o in media)
    ticketing = {o.status for o in summary.outcomes if o.dataset.startswith("ticketing.")}
    assert ticketing == {"failed", "waiting"}
    with ledger_of(s.world) as ledger:
        [end] = [e for e in ledger.entries() if e.kind == "run-end"]
        assert end.outcome == "failed" and "ticketing" in str(end.detail)
    rerun_and_judge(s, monkeypatch)
