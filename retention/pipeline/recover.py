"""Recover: finish the batches a killed run left between intent and completion.

The ledger holds only keyed hashes of record keys, so recovery asks the store
what is still there: it hashes every key the dataset still holds and keeps
those the intent named. For a delete, the intent's keys no longer held are
exactly the ones the crashed batch removed. For an anonymisation, the keys
still held that the rule's scan no longer finds (an anonymised row is no
longer due) are the ones it changed. The completion claims those and
nothing else; whatever is still due is done by the run, as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from connectors.base import Connector, Key
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
        named = set(intent.key_hashes)
        pages = connector.keys(intent.dataset)
        held = _among(ledger, (k for page in pages for k in page), named, intent.key_id)
        if intent.action == "delete":
            done = named - held
        else:
            resolved = resolve_subjects(rule, connectors)
            batches = connector.scan(resolved, now=now) if resolved is not None else iter(())
            due = (k for batch in batches for k in [*batch.due, *(h.key for h in batch.held)])
            done = held - _among(ledger, due, named, intent.key_id)
        ledger.complete_recovered(intent, done_hashes=sorted(done))
        log.info(
            "intent recovered",
            seq=intent.seq,
            rule=intent.rule_id,
            claimed=len(done),
            of=len(named),
        )
        finished += 1
    return finished


def _among(ledger: Any, keys: Iterable[Key], named: set[str], key_id: str) -> set[str]:
    """The hashes of `keys` that the intent named (hashed with its key)."""
    return {h for h in (ledger.hash(k, key_id=key_id) for k in keys) if h in named}
