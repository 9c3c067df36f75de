"""One batch's completion and the next batch's intent share a transaction:
the chain stays whole and each intent still names exactly its keys."""

from __future__ import annotations

from connectors.base import Key
from retention.ledger import Ledger
from retention.ledger.ledger import CompletionArgs, IntentArgs
from tests.test_ledger_helpers import K1, POLICY_HASH, RUN


def test_completion_with_next_intent_chains_both_and_verifies(tmp_path):
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", keys=K1, current_key_id="k1")
    ledger.begin_run(
        run_id=RUN, policy_hash=POLICY_HASH, policy_name="p", trigger="manual", dry_run=False
    )

    def intent(keys: list[Key]) -> IntentArgs:
        return IntentArgs(
            run_id=RUN,
            policy_hash=POLICY_HASH,
            rule_id="r",
            system="crm",
            dataset="contacts",
            action="delete",
            keys=keys,
        )

    first = ledger.record_intent(**intent([1, 2]))
    second = ledger.record_intent(
        completing=CompletionArgs(intent_seq=first, done=[1, 2]), **intent([3])
    )
    assert second == first + 2
    ledger.record_completion(second, done=[3], cascaded={}, kept=[], failed=[])

    entries = {e.seq: e for e in ledger.entries(RUN)}
    assert entries[first + 1].kind == "completion" and entries[first + 1].intent_seq == first
    assert entries[second].kind == "intent"
    assert entries[second].key_hashes == [ledger.hash(3)]
    assert ledger.verify().ok and not ledger.unfinished_intents()
    ledger.close()
