"""A process killed between intent and completion, a rerun, and two writers
at once: the ledger stays one unbroken chain and claims nothing undone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from retention.ledger import Intent, LedgerError
from tests import test_ledger_helpers
from tests.test_ledger_helpers import K1, K2, POLICY_HASH, open_ledger

ledger_url = test_ledger_helpers.ledger_url
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(ledger, run_id: str = "crashed-run") -> None:
    ledger.begin_run(
        run_id=run_id, policy_hash=POLICY_HASH, policy_name="id-north", trigger="nightly",
        dry_run=False,
    )  # fmt: skip


def _intent(ledger, keys, run_id: str = "crashed-run") -> int:
    return ledger.record_intent(
        run_id=run_id, policy_hash=POLICY_HASH, rule_id="web-visits-13-months", system="web",
        dataset="visits", action="delete", keys=keys,
    )  # fmt: skip


def _child(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_open_intent_is_recovered_claiming_only_keys_that_are_gone(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        _start(ledger)
        seq = _intent(ledger, [11, 12, 13])
    # ... the process died here; a rerun finds the open intent
    with open_ledger(ledger_url) as ledger:
        [intent] = ledger.unfinished_intents()
        assert (intent.seq, intent.rule_id, intent.dataset, intent.key_id) == (
            seq, "web-visits-13-months", "visits", "k1",
        )  # fmt: skip
        # the store still holds 12: its delete never committed
        done = [ledger.hash(13), ledger.hash(11)]
        ledger.complete_recovered(intent, done_hashes=done)
        assert ledger.unfinished_intents() == []
        completion = ledger.entries()[-1]
        result = ledger.verify()
    assert completion.intent_seq == seq and completion.outcome == "recovered"
    assert completion.key_hashes == [ledger.hash(11), ledger.hash(13)]
    assert completion.detail == {"not_committed": 1}
    assert result.ok


def test_recovery_after_rotation_hashes_with_the_intents_key(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        _start(ledger)
        _intent(ledger, [11, 12])
    with open_ledger(ledger_url, keys={**K1, **K2}, current="k2") as ledger:
        [intent] = ledger.unfinished_intents()
        done = [ledger.hash(11, key_id="k1")]
        assert done != [ledger.hash(11)]
        ledger.complete_recovered(intent, done_hashes=done)
        assert ledger.entries()[-1].key_hashes == done
        assert ledger.verify().ok


def test_recovery_cannot_claim_a_key_the_intent_did_not_name(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        _start(ledger)
        _intent(ledger, [11])
        [intent] = ledger.unfinished_intents()
        with pytest.raises(LedgerError, match="not among intent"):
            ledger.complete_recovered(intent, done_hashes=[ledger.hash(99)])
        with pytest.raises(LedgerError, match="done_hashes"):
            ledger.complete_recovered(intent, done_hashes=["not-a-hash"])
        assert len(ledger.unfinished_intents()) == 1


def test_an_intent_is_completed_once(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        _start(ledger)
        seq = _intent(ledger, [11])
        ledger.record_completion(seq, done=[11], cascaded={}, kept=[], failed=[])
        with pytest.raises(LedgerError, match=f"intent {seq} already has a completion"):
            ledger.record_completion(seq, done=[11], cascaded={}, kept=[], failed=[])
        [intent_entry] = [e for e in ledger.entries() if e.seq == seq]
        with pytest.raises(LedgerError, match="already has a completion"):
            ledger.complete_recovered(Intent.of(intent_entry), done_hashes=intent_entry.key_hashes)
        assert ledger.verify().ok


def test_a_completion_cannot_claim_keys_outside_its_intent(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        _start(ledger)
        seq = _intent(ledger, [11, 12])
        with pytest.raises(LedgerError, match=f"intent_seq {seq}: 1 key"):
            ledger.record_completion(seq, done=[11, 99], cascaded={}, kept=[], failed=[])
        assert [i.seq for i in ledger.unfinished_intents()] == [seq]


def test_process_killed_after_its_intent_leaves_it_for_recovery(ledger_url: str) -> None:
    child = _child(f"""
        import os, signal
        from tests.test_ledger_helpers import open_ledger, POLICY_HASH
        ledger = open_ledger({ledger_url!r})
        ledger.begin_run(run_id="killed", policy_hash=POLICY_HASH, policy_name="p",
                         trigger="nightly", dry_run=False)
        ledger.record_intent(run_id="killed", policy_hash=POLICY_HASH, rule_id="r",
                             system="web", dataset="visits", action="delete", keys=[1, 2])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert child.returncode == -signal.SIGKILL, child.stderr
    with open_ledger(ledger_url) as ledger:
        [intent] = ledger.unfinished_intents()
        assert intent.run_id == "killed" and len(intent.key_hashes) == 2
        result = ledger.verify()
        assert result.problems == [(intent.seq, "missing completion")] and not result.tampered
        ledger.complete_recovered(intent, done_hashes=intent.key_hashes)
        assert ledger.verify().ok


def test_process_killed_inside_an_append_leaves_no_trace_and_no_lock(ledger_url: str) -> None:
    child = _child(f"""
        import os, signal
        import sqlalchemy as sa
        from retention.ledger import store
        from tests.test_ledger_helpers import open_ledger
        ledger = open_ledger({ledger_url!r})
        with store.writing(ledger.engine) as conn:
            conn.execute(sa.update(store.head).values(seq=41))
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert child.returncode == -signal.SIGKILL, child.stderr
    with open_ledger(ledger_url) as ledger:
        _start(ledger, run_id="after-the-kill")
        assert [e.seq for e in ledger.entries()] == [1]
        assert ledger.verify().ok


def test_two_processes_appending_at_once_make_one_chain(ledger_url: str, tmp_path) -> None:
    script = """
        import sys, time
        from pathlib import Path
        from tests.test_ledger_helpers import open_ledger, POLICY_HASH
        run, gate = sys.argv[1], Path(sys.argv[2])
        ledger = open_ledger({url!r})
        (gate / run).touch()
        while not (gate / "go").exists():  # start appending together
            time.sleep(0.005)
        ledger.begin_run(run_id=run, policy_hash=POLICY_HASH, policy_name="p",
                         trigger="nightly", dry_run=False)
        for i in range(40):
            seq = ledger.record_intent(run_id=run, policy_hash=POLICY_HASH, rule_id="r",
                                       system="web", dataset="visits", action="delete",
                                       keys=[f"{{run}}-{{i}}"])
            ledger.record_completion(seq, done=[f"{{run}}-{{i}}"], cascaded={{}}, kept=[],
                                     failed=[])
            time.sleep(0.02)  # a batch's own work: lets the other writer take the lock
        ledger.end_run(run_id=run, summary={{"deleted": 40}})
    """
    code = textwrap.dedent(script.format(url=ledger_url))
    with open_ledger(ledger_url):
        pass  # create the schema first, as the pipeline's first run does
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", code, run, str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE
        )
        for run in ("writer-a", "writer-b")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / run).exists() for run in ("writer-a", "writer-b")):
        assert time.monotonic() < deadline, "the writers did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for writer in writers:
        _, err = writer.communicate(timeout=180)
        assert writer.returncode == 0, err.decode()
    with open_ledger(ledger_url) as ledger:
        entries = ledger.entries()
        result = ledger.verify()
    assert result.ok, result.problems
    assert [e.seq for e in entries] == list(range(1, 165))
    runs_in_order = [e.run_id for e in entries]
    assert runs_in_order.count("writer-a") == runs_in_order.count("writer-b") == 82
    switches = sum(a != b for a, b in zip(runs_in_order, runs_in_order[1:], strict=False))
    assert switches > 1, "the writers did not overlap: this test proved nothing"
