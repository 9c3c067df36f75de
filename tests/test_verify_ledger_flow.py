"""The nightly verify-ledger flow verifies as `retention verify` does: with
the policy's hash key it signs a checkpoint and the next run reads only the
entries after it; `full=True` re-reads everything; without the key it walks
the whole chain and signs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.ledger import store
from tests.test_ledger_helpers import K1, open_ledger, seed, tamper

POLICY = str(Path(__file__).resolve().parent.parent / "deployments/id-north/policy.yaml")


def _checkpoints(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.select(store.checkpoints.c.seq)).scalars())
    engine.dispose()
    return sorted(found)


@pytest.fixture
def ledger_at(tmp_path, monkeypatch, prefect_harness) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("RETENTION_LEDGER_URL", url)
    monkeypatch.setenv("RETENTION_HASH_KEY", K1["k1"].decode())  # the policy's key id is k1
    monkeypatch.delenv("RETENTION_HASH_KEYS_OLD", raising=False)
    return url


def test_the_flow_signs_a_checkpoint_and_then_reads_only_the_new_entries(ledger_at: str) -> None:
    from flows.verify_ledger import LedgerBroken, verify_ledger

    with open_ledger(ledger_at) as ledger:
        seqs = seed(ledger, run_id="run-a")
    assert verify_ledger(policy=POLICY) == 9
    assert _checkpoints(ledger_at) == [9]
    with open_ledger(ledger_at) as ledger:
        seed(ledger, run_id="run-b")
    # Changed before the checkpoint: the nightly run does not re-read it ...
    tamper(ledger_at, f"UPDATE ledger_entries SET count = 99 WHERE seq = {seqs['contacts'] + 1}")
    assert verify_ledger(policy=POLICY) == 9  # entries 10..18 only
    assert _checkpoints(ledger_at) == [9, 18]
    # ... a full one does, and fails the run naming the entry.
    with pytest.raises(LedgerBroken, match=f"entry {seqs['contacts'] + 1}:"):
        verify_ledger(policy=POLICY, full=True)


def test_without_the_hash_key_the_flow_walks_everything_and_signs_nothing(
    ledger_at: str, monkeypatch
) -> None:
    from flows.verify_ledger import verify_ledger

    with open_ledger(ledger_at) as ledger:
        seed(ledger, run_id="run-a")
        assert ledger.verify(full=False, sign=True).ok  # a checkpoint it cannot check
        seed(ledger, run_id="run-b")
    monkeypatch.delenv("RETENTION_HASH_KEY")
    assert verify_ledger(policy=POLICY) == 18
    assert _checkpoints(ledger_at) == [9]
