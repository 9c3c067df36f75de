"""Recover: close the intents a killed or failed run left open, claiming
exactly what committed, key by key (DESIGN.md, safety property 10).

An intent is written before its batch's change is durable and names what the
batch changes if it commits: the keys it deletes or anonymises, the child
rows removed with them and, for an anonymisation, a keyed digest of each
row's after-image. The ledger holds only keyed hashes, so recovery reads the
store and hashes what it finds:
- a deleted key (or cascaded child) that the store no longer holds was
  removed by the batch: claimed; one still held was not;
- an anonymised key whose current image has the intent's digest was
  changed by the batch: claimed; any other image was not (the batch rolled
  back, or the row was already like that and never part of the change);
- rows unlinked from a deleted parent are claimed with it: one transaction
  changed both.
The run holds the applying lease while it recovers, so no live run's intent
is ever touched. An intent the store cannot answer for (the policy lost its
system, the store is down) stays open, for the next run and for `verify`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from retention.connector import Connector, Key
from retention.ledger.entry import Intent
from retention.logs import get_logger
from retention.policy import split_name

log = get_logger("retention.recover")


def recover_unfinished(ledger: Any, connectors: Mapping[str, Connector]) -> int:
    """Close every open intent the stores can account for; return how many."""
    finished = 0
    for intent in ledger.unfinished_intents():
        connector = connectors.get(intent.system)
        if connector is None:
            _left_open(intent, "its system is not open in this run")
            continue
        if intent.action == "anonymise" and intent.key_hashes and not intent.image_digests:
            _left_open(intent, "it names no after-images, so a commit cannot be told")
            continue
        try:
            claims = _claims(ledger, connector, intent)
        except Exception as exc:  # noqa: BLE001 - the next run tries again
            _left_open(intent, f"the store did not answer ({type(exc).__name__})")
            continue
        done, cascaded, detached = claims
        ledger.complete_recovered(
            intent, done_hashes=done, cascaded_hashes=cascaded, detached_hashes=detached
        )
        log.info(
            "intent recovered",
            seq=intent.seq,
            rule=intent.rule_id,
            claimed=len(done),
            cascaded=sum(len(v) for v in cascaded.values()),
            of=len(intent.key_hashes),
        )
        finished += 1
    return finished


def _claims(
    ledger: Any, connector: Connector, intent: Intent
) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    named = set(intent.key_hashes)
    if intent.action == "delete":
        held = _hashes_among(ledger, _keys(connector.keys(intent.dataset)), named, intent.key_id)
        done = named - held
    else:
        pages = connector.images(intent.dataset, intent.image_columns)
        done = {
            digest_key
            for page in pages
            for key, image in page
            if (digest_key := ledger.hash(key, key_id=intent.key_id)) in named
            and ledger.ring.digest(image, intent.key_id) == intent.image_digests[digest_key]
        }
    cascaded: dict[str, list[str]] = {}
    for child, hashes in intent.cascaded_hashes.items():
        wanted = set(hashes)
        still = _hashes_among(ledger, _keys(connector.keys(_local(child))), wanted, intent.key_id)
        if wanted - still:
            cascaded[child] = sorted(wanted - still)
    committed = bool(done) or bool(cascaded)
    detached = {k: list(v) for k, v in intent.detached_hashes.items()} if committed else {}
    return sorted(done), cascaded, detached


def _local(qualified: str) -> str:
    return split_name(qualified)[1] if "." in qualified else qualified


def _keys(pages: Iterable[list[Key]]) -> Iterable[Key]:
    return (key for page in pages for key in page)


def _hashes_among(ledger: Any, keys: Iterable[Key], named: set[str], key_id: str) -> set[str]:
    """The hashes of `keys` that the intent named (hashed with its key)."""
    return {h for h in (ledger.hash(k, key_id=key_id) for k in keys) if h in named}


def _left_open(intent: Intent, why: str) -> None:
    log.warning("intent left unfinished", seq=intent.seq, rule=intent.rule_id, reason=why)
