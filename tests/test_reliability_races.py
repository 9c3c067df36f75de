"""Two sweeps at once, each a real starter: two `retention sweep` processes
started together, and a CLI run against a Prefect flow run. One applies;
the other exits 4 with a message naming the holder, or waits (--wait) and
then finds nothing due. Nothing is processed or claimed twice (the oracle
counts claims per rule and key)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retention.ledger.lease import LeaseBusy
from retention.pipeline.outcome import RunSummary
from tests.demo_world import AS_OF, World, make_world, policy_with
from tests.faults import kill, ledger_count, retention_process, wait_for
from tests.oracle import snapshots
from tests.snapshots import query
from tests.test_fail_safe import finish_and_judge, sweep_in

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def small_policy(tmp_path_factory) -> Path:
    # Small batches: the run lasts long enough for the other to meet it.
    return policy_with(
        tmp_path_factory.mktemp("policy"), lambda d: d["settings"].update(batch_size=20)
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_policy) -> dict:
    ref = make_world(tmp_path_factory.mktemp("ref"), None)
    with pytest.MonkeyPatch.context() as mp:
        assert sweep_in(ref, mp, policy=small_policy, approved_by="ref").status == "completed"
    return snapshots(ref.urls)


def cli(world: World, policy: Path, *extra: str):  # type: ignore[no-untyped-def]
    args = ["sweep", "--policy", str(policy), "--as-of", AS_OF.isoformat(), "--approve-as", "op"]
    return retention_process([*args, *extra], {**os.environ, **world.env})


def applying_runs(world: World) -> list[str]:
    """Runs that changed something, by their intents."""
    rows = query(world.env["RETENTION_LEDGER_URL"],
                 "SELECT DISTINCT run_id FROM ledger_entries WHERE kind = 'intent'")  # fmt: skip
    return [r["run_id"] for r in rows]


def lease_taken(world: World) -> bool:
    return ledger_count(world.env["RETENTION_LEDGER_URL"], "kind = 'run-start'") > 0


def test_two_cli_sweeps_started_together_one_applies(
    tmp_path, monkeypatch, small_policy, reference
):
    world = make_world(tmp_path / "run", None)
    before = snapshots(world.urls)
    first, second = cli(world, small_policy), cli(world, small_policy)
    outputs = [p.communicate(timeout=240)[0].decode() for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))

    assert len(applying_runs(world)) == 1, outputs
    if codes == [0, 4]:
        refused = outputs[[first.returncode, second.returncode].index(4)]
        assert (
            "another run is applying changes: run " in refused and "nothing was changed" in refused
        )
    else:  # the second reached the lease only after the first had ended: nothing was left
        assert codes == [0, 0], outputs
    finish_and_judge(world, before, reference, monkeypatch)


def test_a_second_cli_sweep_with_wait_waits_then_finds_nothing(
    tmp_path, monkeypatch, small_policy, reference
):
    world = make_world(tmp_path / "run", None)
    before = snapshots(world.urls)
    first = cli(world, small_policy)
    try:
        wait_for(lambda: lease_taken(world) or first.poll() is not None, "the first run")
        second = cli(world, small_policy, "--wait", "120")
        out = second.communicate(timeout=240)[0].decode()
    finally:
        kill(first) if first.poll() is None else first.wait()
    assert first.returncode == 0 and second.returncode == 0, out
    assert len(applying_runs(world)) == 1, "the second run found nothing left to do"
    finish_and_judge(world, before, reference, monkeypatch)


@pytest.mark.prefect
def test_a_cli_sweep_and_a_flow_run_one_applies(
    prefect_harness, tmp_path, monkeypatch, small_policy, reference
):
    from flows.nightly_sweep import retention_sweep

    world = make_world(tmp_path / "run", None)
    before = snapshots(world.urls)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    # The CLI run pauses 15 s after its first batch of web visits, holding
    # the lease, so the flow certainly starts while it applies.
    marker = tmp_path / "paused"
    args = ["sweep", "--policy", str(small_policy), "--as-of", AS_OF.isoformat(), "--approve-as",
            "op"]  # fmt: skip
    first = retention_process(
        args, {**os.environ, **world.env}, pause=f"crm-web-visits:1:{marker}@15"
    )
    try:
        wait_for(lambda: marker.exists() or first.poll() is not None, "the CLI run")
        assert first.poll() is None, "the CLI run ended before the flow started"
        with pytest.raises(LeaseBusy, match="another run is applying changes: run .*cli, pid"):
            retention_sweep(
                policy=str(small_policy), as_of=AS_OF, ask_approval=False, lease_wait_s=0
            )
        waited = retention_sweep(
            policy=str(small_policy), as_of=AS_OF, ask_approval=False, lease_wait_s=120
        )
        out = first.communicate(timeout=240)[0].decode()
    finally:
        if first.poll() is None:
            kill(first)
    assert first.returncode == 0, out
    assert isinstance(waited, RunSummary)
    assert sum(o.deleted + o.anonymised for o in waited.outcomes) == 0
    assert len(applying_runs(world)) == 1
    finish_and_judge(world, before, reference, monkeypatch)
