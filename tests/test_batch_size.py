"""A system's own batch size (policy `systems.<name>.batch_size`): its rules
go in batches of that many keys, one intent each, the other systems keep the
run's size, and the data ends exactly as with the default batches."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from retention.demo.build import DEMO_HASH_KEY
from retention.ledger import Ledger
from retention.ledger.entry import Entry
from tasks.sweep import run_sweep
from tests.demo_world import AS_OF, POLICY, World, make_world, policy_with
from tests.oracle import assert_consistent, snapshots

SMALL = 7


def sweep(world: World, policy: Path, monkeypatch) -> list[Entry]:
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    summary = run_sweep(str(policy), as_of=AS_OF, approved_by="operator")
    assert summary.status == "completed", summary.reason()
    with Ledger.open(
        world.env["RETENTION_LEDGER_URL"], keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1"
    ) as ledger:
        return ledger.entries_of_kind("intent")


def test_a_system_s_batch_size_batches_its_rules_and_changes_nothing_else(tmp_path, monkeypatch):
    small = policy_with(
        tmp_path, lambda data: data["systems"]["ticketing"].update(batch_size=SMALL)
    )
    run, ref = make_world(tmp_path / "run", None), make_world(tmp_path / "ref", None)
    before = snapshots(run.urls)
    want_intents = sweep(ref, POLICY, monkeypatch)
    want = snapshots(ref.urls)

    intents = sweep(run, small, monkeypatch)

    sizes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for intent in intents:
        sizes[(intent.system or "", intent.rule_id or "")].append(intent.count)
    ticketing = {rule: n for (system, rule), n in sizes.items() if system == "ticketing"}
    assert ticketing and all(max(n) <= SMALL for n in ticketing.values())
    for rule, counts in ticketing.items():
        assert len(counts) == math.ceil(sum(counts) / SMALL), rule
    # The CRM keeps the run's batch size: some of its batches are larger.
    assert any(max(n) > SMALL for (system, _), n in sizes.items() if system == "crm")
    assert len(intents) > len(want_intents)
    with Ledger.open(
        run.env["RETENTION_LEDGER_URL"], keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1"
    ) as ledger:
        assert_consistent(ledger, before, snapshots(run.urls), want)


def test_a_batch_size_outside_its_bounds_is_refused_naming_the_field(tmp_path):
    from retention.errors import RetentionError
    from retention.policy_loader import load_policy

    bad = policy_with(tmp_path, lambda data: data["systems"]["crm"].update(batch_size=0))
    try:
        load_policy(bad)
    except RetentionError as exc:
        assert "batch_size" in str(exc) and "crm" in str(exc)
    else:
        raise AssertionError("a batch size of 0 was accepted")
