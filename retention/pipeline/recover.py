"""Recover: finish the batches a killed run left between intent and completion.

The ledger holds only keyed hashes of record keys, so recovery asks the store
what is still there: it rescans the intent's rule and hashes the keys it
finds. A scan returns only records the rule would still change (an
anonymised row is no longer due), so the intent's keys that the scan no
longer finds are exactly those the crashed batch changed; the completion
claims those and nothing else. The rest is done by the run, as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import Connector
from retention.logs import get_logger
from retention.pipeline.plan import resolve_subjects
from retention.policy import Policy

log = get_logger("retention.recover")


def recover_unfinished(
    ledger: Any, policy: Policy, connectors: Mapping[str, Connector], *, now: datetime
) -> int:
    """Complete every unfinished intent the store can account for; return how many."""
    rules = {rule.id: rule for rule in policy.rules}
    finished = 0
    for intent in ledger.unfinished_intents():
        rule = rules.get(intent.rule_id)
        if rule is None or intent.system not in connectors:
            # The policy changed since the crash: we cannot tell what the batch
            # did, so leave the intent open for verify to report.
            log.warning(
                "intent left unfinished",
                seq=intent.seq,
                rule=intent.rule_id,
                reason="rule or system no longer in the policy",
            )
            continue
        connector = connectors[intent.system]
        resolved = resolve_subjects(rule, connectors)
        present: dict[str, Any] = {}
        if resolved is not None:
            for batch in connector.scan(resolved, now=now):
                for key in [*batch.due, *(h.key for h in batch.held)]:
                    digest = ledger.hash(key, key_id=intent.key_id)
                    if digest in intent.key_hashes:
                        present[digest] = key
        done = [h for h in intent.key_hashes if h not in present]
        ledger.complete_recovered(intent, done_hashes=done)
        log.info(
            "intent recovered",
            seq=intent.seq,
            rule=intent.rule_id,
            claimed=len(done),
            of=len(intent.key_hashes),
        )
        finished += 1
    return finished
