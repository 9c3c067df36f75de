"""A real `retention sweep` process, SIGKILLed: at random moments spread
over its run (SQLite, and PostgreSQL for data and ledger), and exactly
between a batch's commit and its completion (a delete and an anonymise
rule). After each kill, a rerun in a fresh process state finishes the work
and the oracle judges: data equal to an uninterrupted run's, every change
claimed exactly once, nothing phantom, no open intent, the chain verifies,
a last run finds nothing due.

Scale: the demo at scale 20 (about 20,000 rows changed), with batches of
100, so a kill lands in planning, in batches of every rule, or at the end.
Until the sweep got faster it took about 110 s to build and sweep and the
kills ran at scale 2; now the build and a sweep take about 7 s, and this
file about 2 minutes on two workers (38 s at scale 2). Each
moment is drawn from its own slice of the run (slot i of N), with a seed
printed on failure; RETENTION_KILL_SEED replays one.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import _fresh_postgres_schema
from tests.demo_world import AS_OF, World, copy_database, policy_with, server_databases
from tests.faults import kill, ledger_count, retention_process, wait_for
from tests.oracle import snapshots
from tests.snapshots import query
from tests.test_fail_safe import COMMENTS, VISITS, finish_and_judge, ledger_of, sweep_in

pytestmark = pytest.mark.reliability

SCALE = 20
BATCH = 100
INVOICES = "crm-invoice-billing-person"
SQLITE_KILLS = 20
POSTGRES_KILLS = 5
SEED_BASE = int(os.environ.get("RETENTION_KILL_SEED", random.randrange(10**6)))


@dataclass
class Source:
    """The demo built once; each case runs on its own copy."""

    root: Path
    policy: Path
    reference: dict
    run_seconds: float


def copy_world(source: Path, root: Path, fresh_url=None, ledger: str | None = None) -> World:
    from retention.demo import schema
    from retention.demo.build import demo_env

    shutil.copytree(source, root, ignore=shutil.ignore_patterns("ledger.db*"))
    env = demo_env(root)
    env["RETENTION_LEDGER_URL"] = ledger or f"sqlite:///{root / 'ledger.db'}"
    if fresh_url is not None:
        for name, metadata in (("CRM", schema.crm), ("TICKETING", schema.ticketing)):
            url = fresh_url()
            copy_database(env[f"RETENTION_{name}_URL"], url, metadata)
            env[f"RETENTION_{name}_URL"] = url
    return World(env, env["RETENTION_CRM_URL"], env["RETENTION_TICKETING_URL"])


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Iterator[Source]:
    from retention.demo.build import build_demo

    base = tmp_path_factory.mktemp("kill-source")
    build_demo(base / "demo", scale=SCALE, as_of=AS_OF)
    policy = policy_with(base, lambda d: d["settings"].update(batch_size=BATCH))
    ref = copy_world(base / "demo", base / "reference")
    with pytest.MonkeyPatch.context() as mp:
        summary = sweep_in(ref, mp, policy=policy, approved_by="reference")
    assert summary.status == "completed", summary.reason()
    yield Source(base / "demo", policy, snapshots(ref.urls), run_seconds(ref))


def sweep_args(policy: Path) -> list[str]:
    return ["sweep", "--policy", str(policy), "--as-of", AS_OF.isoformat(), "--approve-as", "op"]


def kill_at_random(world: World, src: Source, slot: int, slots: int, seed: int) -> str:
    """Start a real sweep; once its run has begun, wait a moment drawn from
    slot `slot` of `slots` equal slices of the run, then SIGKILL it."""
    rng = random.Random(seed)
    moment = src.run_seconds * (slot + rng.random()) / slots
    ledger = world.env["RETENTION_LEDGER_URL"]
    proc = retention_process(sweep_args(src.policy), {**os.environ, **world.env})
    try:
        wait_for(
            lambda: ledger_count(ledger, "kind = 'run-start'") > 0 or proc.poll() is not None,
            "the run to start",
        )
        time.sleep(moment)
        alive = proc.poll() is None
    finally:
        out = kill(proc)
    intents = ledger_count(ledger, "kind = 'intent'")
    return f"seed {seed}: killed {moment:.2f} s into the run, {intents} intents, " + (
        "mid-run" if alive else f"after it ended:\n{out[-2000:]}"
    )


def rerun_and_judge(world: World, src: Source, monkeypatch, what: str) -> None:
    before = snapshots(source_urls(src))
    rerun = sweep_in(world, monkeypatch, policy=src.policy, approved_by="operator")
    assert rerun.status == "completed", f"{what}: {rerun.reason()}"
    try:
        finish_and_judge(world, before, src.reference, monkeypatch)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from exc


def source_urls(src: Source) -> dict[str, str]:
    return {
        "crm": f"sqlite:///{src.root / 'crm.db'}",
        "ticketing": f"sqlite:///{src.root / 'ticketing.db'}",
    }


@pytest.mark.parametrize("slot", range(SQLITE_KILLS))
def test_sigkill_at_a_random_moment_on_sqlite(source, tmp_path, monkeypatch, slot):
    world = copy_world(source.root, tmp_path / "run")
    what = kill_at_random(world, source, slot, SQLITE_KILLS, SEED_BASE + slot)
    print(what)
    rerun_and_judge(world, source, monkeypatch, what)


def run_seconds(world: World) -> float:
    ends = query(world.env["RETENTION_LEDGER_URL"], "SELECT at FROM ledger_entries WHERE kind "
                 "IN ('run-start', 'run-end') ORDER BY seq")  # fmt: skip
    start, end = (datetime.fromisoformat(e["at"]) for e in ends[:2])
    return (end - start).total_seconds()


@pytest.fixture(scope="module")
def postgres_source(source, tmp_path_factory) -> Iterator[Source]:
    """The same, with a run's length measured on PostgreSQL (data and ledger)."""
    fresh_url, cleanup = server_databases(_fresh_postgres_schema)
    try:
        where = tmp_path_factory.mktemp("pg-ref") / "world"
        ref = copy_world(source.root, where, fresh_url, fresh_url())
        with pytest.MonkeyPatch.context() as mp:
            assert sweep_in(ref, mp, policy=source.policy, approved_by="ref").status == "completed"
        yield Source(source.root, source.policy, source.reference, run_seconds(ref))
    finally:
        cleanup()


@pytest.mark.postgres
@pytest.mark.parametrize("slot", range(POSTGRES_KILLS))
def test_sigkill_at_a_random_moment_on_postgres(postgres_source, tmp_path, monkeypatch, slot):
    source = postgres_source
    fresh_url, cleanup = server_databases(_fresh_postgres_schema)
    try:
        world = copy_world(source.root, tmp_path / "run", fresh_url, ledger=fresh_url())
        what = kill_at_random(world, source, slot, POSTGRES_KILLS, SEED_BASE + 100 + slot)
        print(what)
        rerun_and_judge(world, source, monkeypatch, what)
    finally:
        cleanup()


# Invoices: constants and nulls, set by one UPDATE ... RETURNING; the intent
# stores one after-image digest for every key, and recovery reads it so.
@pytest.mark.parametrize(("rule", "batch"), [(VISITS, 2), (COMMENTS, 3), (INVOICES, 1)])
def test_sigkill_between_a_commit_and_its_completion(source, tmp_path, monkeypatch, rule, batch):
    world = copy_world(source.root, tmp_path / "run")
    marker = tmp_path / "paused"
    proc = retention_process(
        sweep_args(source.policy), {**os.environ, **world.env}, pause=f"{rule}:{batch}:{marker}"
    )
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, "the pause point")
        assert marker.exists(), "the run ended before the pause point"
    finally:
        out = kill(proc)
    # The batch committed; its completion was never written.
    with ledger_of(world) as ledger:
        [open_intent] = ledger.unfinished_intents()
        assert open_intent.rule_id == rule, out[-2000:]
        [stored] = [e for e in ledger.entries() if e.seq == open_intent.seq]
        assert isinstance(stored.detail.get("images"), str) == (rule == INVOICES)
        completions = [e for e in ledger.entries() if e.kind == "completion" and e.rule_id == rule]
        assert len(completions) == batch - 1
    rerun = sweep_in(world, monkeypatch, policy=source.policy, approved_by="operator")
    assert rerun.recovered == 1 and rerun.status == "completed", rerun.reason()
    with ledger_of(world) as ledger:
        [recovered] = [e for e in ledger.entries() if e.outcome == "recovered"]
        assert recovered.count == len(open_intent.key_hashes)
        assert recovered.count == BATCH or batch == 1
    finish_and_judge(world, snapshots(source_urls(source)), source.reference, monkeypatch)
