"""Signed checkpoints: the nightly verify reads only entries after the last
checkpoint and still finds tampering there; `--full` still finds tampering
before it; a checkpoint changed without the key is refused."""

from __future__ import annotations

import sqlalchemy as sa

from retention.ledger import store
from retention.ledger.verify import MISSING_COMPLETION
from tests import test_ledger_helpers
from tests.test_ledger_helpers import K1, K2, POLICY_HASH, open_ledger, seed, tamper

ledger_url = test_ledger_helpers.ledger_url


def _checkpoints(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.select(store.checkpoints.c.seq)).scalars())
    engine.dispose()
    return sorted(found)


def test_the_nightly_verify_reads_only_what_came_after_its_checkpoint(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
        first = ledger.verify(full=False, sign=True)
        assert first.ok and first.entries == 9 and first.started_after == 0
        seed(ledger, run_id="run-b")
        second = ledger.verify(full=False, sign=True)
        assert second.ok and second.started_after == 9
        assert second.entries == 9  # the new run's entries, not the first run's again
        again = ledger.verify(full=False, sign=True)
        assert again.ok and again.entries == 0 and again.started_after == 18
    assert _checkpoints(ledger_url) == [9, 18]


def test_tampering_before_the_checkpoint_is_found_by_full_only(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seqs = seed(ledger, run_id="run-a")
        assert ledger.verify(full=False, sign=True).ok
        seed(ledger, run_id="run-b")
    target = seqs["contacts"] + 1
    tamper(ledger_url, f"UPDATE ledger_entries SET count = 99 WHERE seq = {target}")
    with open_ledger(ledger_url) as ledger:
        nightly = ledger.verify(full=False)
        assert nightly.ok and nightly.started_after == 9  # by design: not re-read
        full = ledger.verify(full=True, sign=True)
    assert not full.ok and full.tampered
    assert full.problems[0][0] == target
    assert _checkpoints(ledger_url) == [9]  # a walk that found tampering signs nothing


def test_tampering_after_the_checkpoint_is_found_by_the_nightly_verify(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
        assert ledger.verify(full=False, sign=True).ok
        seqs = seed(ledger, run_id="run-b")
    target = seqs["subscribers"]
    tamper(ledger_url, f"UPDATE ledger_entries SET rule_id = 'another' WHERE seq = {target}")
    with open_ledger(ledger_url) as ledger:
        nightly = ledger.verify(full=False)
    assert nightly.started_after == 9 and not nightly.ok and nightly.tampered
    assert nightly.problems[0] == (target, "changed after it was written: its hash does not match")


def test_deleting_the_first_entry_after_the_checkpoint_is_found(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
        assert ledger.verify(full=False, sign=True).ok
        seed(ledger, run_id="run-b")
    tamper(ledger_url, "DELETE FROM ledger_entries WHERE seq = 10")
    with open_ledger(ledger_url) as ledger:
        nightly = ledger.verify(full=False)
    assert not nightly.ok and nightly.problems[0][0] == 10
    assert "missing" in nightly.problems[0][1]


def test_a_changed_checkpoint_is_reported_and_everything_walked(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
        assert ledger.verify(full=False, sign=True).ok
    # Moving the checkpoint back over entries would hide nothing, moving it
    # forward would: without the key, its signature no longer matches.
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(sa.update(store.checkpoints).values(seq=5))
    engine.dispose()
    with open_ledger(ledger_url) as ledger:
        forged = ledger.verify(full=False)
    assert not forged.ok and forged.started_after == 0 and forged.entries == 9
    assert forged.problems == [(5, "checkpoint's signature does not match: it was changed")]
    with open_ledger(ledger_url) as ledger:
        assert ledger.verify(full=True).ok  # the entries themselves are intact
        ledger.verify(full=False, sign=True)
    assert _checkpoints(ledger_url) == [5]  # no new checkpoint while one is forged


def test_a_changed_signed_entry_is_reported_and_everything_walked(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
        seed(ledger, run_id="run-b")
        assert ledger.verify(full=False, sign=True).ok
    tamper(ledger_url, "UPDATE ledger_entries SET count = 7 WHERE seq = 18")
    with open_ledger(ledger_url) as ledger:
        result = ledger.verify(full=False)
    assert result.started_after == 0 and result.tampered
    assert (18, "the entry a checkpoint signed was changed or removed since") in result.problems


def test_a_checkpoint_with_an_open_intent_checks_its_later_completion(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        ledger.begin_run(
            run_id="run-a",
            policy_hash=POLICY_HASH,
            policy_name="id-north",
            trigger="manual",
            dry_run=False,
        )
        intent = ledger.record_intent(
            run_id="run-a",
            policy_hash=POLICY_HASH,
            rule_id="r",
            system="crm",
            dataset="contacts",
            action="delete",
            keys=[1, 2],
        )
        open_there = ledger.verify(full=False, sign=True)
        assert open_there.problems == [(intent, MISSING_COMPLETION)]
        assert not open_there.tampered and open_there.open_intents == [intent]
        ledger.record_completion(intent, done=[1, 2], cascaded={}, kept=[], failed=[])
        after = ledger.verify(full=False, sign=True)
        assert after.ok and after.started_after == intent and after.entries == 1


def test_a_checkpoint_signed_with_a_key_no_longer_held_means_a_full_walk(
    ledger_url: str,
) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
        assert ledger.verify(full=False, sign=True).ok
    with open_ledger(ledger_url, keys=K2, current="k2") as ledger:
        result = ledger.verify(full=False)
    assert result.ok and result.started_after == 0 and result.entries == 9


def test_retention_verify_signs_a_checkpoint_and_full_rereads_everything(
    tmp_path, monkeypatch, capsys
) -> None:
    from flows.cli import main

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("RETENTION_LEDGER_URL", url)
    monkeypatch.setenv("RETENTION_HASH_KEY", K1["k1"].decode())
    monkeypatch.delenv("RETENTION_POLICY", raising=False)
    with open_ledger(url) as ledger:
        seqs = seed(ledger, run_id="run-a")
    assert main(["verify"]) == 0
    assert "9 entries" in capsys.readouterr().out
    assert _checkpoints(url) == [9]
    with open_ledger(url) as ledger:
        seed(ledger, run_id="run-b")
    tamper(url, f"UPDATE ledger_entries SET count = 99 WHERE seq = {seqs['contacts'] + 1}")
    assert main(["verify"]) == 0  # the nightly verify reads only entries 10..18
    out = capsys.readouterr().out
    assert "from the checkpoint at entry 9" in out and "9 entries" in out
    assert main(["verify", "--full"]) == 1
    assert f"entry {seqs['contacts'] + 1}" in capsys.readouterr().out
