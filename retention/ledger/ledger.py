"""The evidence ledger the pipeline writes: one object, plain methods.

Order of writes for a destructive batch: record_intent (committed) -> change
the batch (its own transaction) -> record_completion. A process killed in
between leaves an intent without completion, which unfinished_intents()
returns and complete_recovered() closes, claiming only keys that are gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, Required, TypedDict, Unpack

import sqlalchemy as sa

from retention.identity import validate as validate_identities
from retention.ledger import checks, exports, lookup, store
from retention.ledger.engine import open_engine
from retention.ledger.entry import (
    COMPLETION,
    INTENT,
    KEPT,
    RUN_END,
    RUN_START,
    Entry,
    FailedRecord,
    Intent,
    KeptRecord,
)
from retention.ledger.errors import LedgerError
from retention.ledger.failure import error_code
from retention.ledger.keys import KeyRing
from retention.ledger.verify import VerifyResult, verify_rows

Key = str | int


class HeldLike(Protocol):
    """connectors.base.Held, by shape: the domain does not import connectors."""

    @property
    def key(self) -> Key: ...
    @property
    def hold_id(self) -> str: ...
    @property
    def until(self) -> datetime | None: ...


class IntentArgs(TypedDict, total=False):
    """What an intent names: the batch's keys, under which run, rule and approval."""

    run_id: Required[str]
    policy_hash: Required[str]
    rule_id: Required[str]
    system: Required[str]
    dataset: Required[str]
    action: Required[str]
    keys: Required[Sequence[Key]]
    subjects: Sequence[str]
    approved_by: str | None


class Ledger:
    def __init__(self, engine: sa.Engine, ring: KeyRing) -> None:
        self._engine = engine
        self.ring = ring
        # What this instance wrote itself, so a sweep's batches need no read
        # back: runs it began, and its intents not yet completed. The unique
        # constraint on intent_seq still refuses a second completion made
        # by another process.
        self._runs: dict[str, Entry] = {}
        self._open: dict[int, Entry] = {}

    @classmethod
    def open(cls, url: str, *, keys: Mapping[str, bytes], current_key_id: str) -> Ledger:
        ring = KeyRing.build(keys, current_key_id)
        engine = open_engine(url)
        store.create_schema(engine)
        return cls(engine, ring)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- hashing ---------------------------------------------------------

    def hash(self, value: str | int, *, key_id: str | None = None) -> str:
        """HMAC-SHA256 hex of the normalised value; the current key unless
        key_id names another (an intent's, when recovering after a rotation)."""
        return self.ring.hash(value, key_id)

    def recovered_hashes(self, intent: Intent, still_due: Sequence[Key]) -> list[str]:
        """The intent's key hashes minus those of keys a rescan still finds:
        what complete_recovered may claim. Hashes with the intent's own key."""
        due = {self.ring.hash(key, intent.key_id) for key in still_due}
        return [h for h in intent.key_hashes if h not in due]

    # --- writing ---------------------------------------------------------

    def begin_run(
        self, *, run_id: str, policy_hash: str, policy_name: str, trigger: str, dry_run: bool
    ) -> None:
        checks.token("run_id", run_id)
        if self._has(run_id, RUN_START):
            raise LedgerError(f"run_id: run {run_id!r} has already begun; a run id is used once")
        self._append(
            kind=RUN_START,
            run_id=run_id,
            policy_hash=checks.token("policy_hash", policy_hash),
            detail={
                "policy_name": checks.name("policy_name", policy_name),
                "trigger": checks.token("trigger", trigger),
                "dry_run": bool(dry_run),
            },
        )

    def record_intent(self, **intent: Unpack[IntentArgs]) -> int:
        """Before a batch changes anything: the keys it is about to change."""
        return self._append(**self._intent_fields(intent)).seq

    def _intent_fields(self, intent: IntentArgs) -> dict[str, Any]:
        run_id, keys = intent["run_id"], intent["keys"]
        if not keys:
            raise LedgerError("keys: empty; an intent names the keys it is about to change")
        self._require_started(run_id)
        key_hashes = self.ring.hash_many(keys)
        if len(set(key_hashes)) != len(key_hashes):
            raise LedgerError("keys: the same key is named twice in one intent")
        return dict(
            kind=INTENT,
            run_id=run_id,
            policy_hash=checks.token("policy_hash", intent["policy_hash"]),
            rule_id=checks.name("rule_id", intent["rule_id"]),
            system=checks.name("system", intent["system"]),
            dataset=checks.dataset("dataset", intent["dataset"]),
            action=checks.action(intent["action"]),
            count=len(key_hashes),
            key_hashes=key_hashes,
            subject_hashes=self._subject_hashes(intent.get("subjects", ())),
            approved_by=checks.approver(intent.get("approved_by")),
        )

    def record_completion(
        self,
        intent_seq: int,
        *,
        done: Sequence[Key],
        cascaded: Mapping[str, Sequence[Key]],
        kept: Sequence[HeldLike],
        failed: Sequence[tuple[Key, str]],
        outcome: str = "completed",
        next_intent: IntentArgs | None = None,
    ) -> int | None:
        """What the committed batch really did. Hashed with the intent's key,
        so intent and completion compare key for key.

        With `next_intent` (record_intent's arguments), the next batch's
        intent is appended in the same transaction: one commit per batch
        boundary instead of two, and still before that batch changes
        anything. Returns the next intent's seq."""
        intent = self._open_intent(intent_seq)
        key_id = intent.key_id
        done_hashes = self.ring.hash_many(done, key_id)
        kept_records = [
            KeptRecord(
                key_hash=self.ring.hash(held.key, key_id),
                hold_id=checks.token("kept hold_id", held.hold_id),
                until=checks.utc_text("kept until", held.until),
            )
            for held in kept
        ]
        failed_records = [
            FailedRecord(key_hash=self.ring.hash(key, key_id), code=error_code(reason))
            for key, reason in failed
        ]
        claimed = done_hashes + [k.key_hash for k in kept_records]
        claimed += [f.key_hash for f in failed_records]
        strangers = set(claimed) - set(intent.key_hashes)
        if strangers:
            raise LedgerError(
                f"intent_seq {intent_seq}: {len(strangers)} key(s) in done/kept/failed were not "
                "named by the intent; a completion may only report on its intent's keys"
            )
        completion = dict(
            **self._completion_of(intent),
            count=len(done_hashes),
            key_hashes=done_hashes,
            cascaded_hashes={
                checks.dataset("cascaded dataset", child): self.ring.hash_many(keys, key_id)
                for child, keys in cascaded.items()
            },
            kept=kept_records,
            failed=failed_records,
            outcome=checks.outcome(outcome),
            intent_seq=intent_seq,
        )
        batch = [completion]
        if next_intent is not None:
            batch.append(self._intent_fields(next_intent))
        written = self._append_all(batch)
        return written[1].seq if next_intent is not None else None

    def record_kept(
        self,
        *,
        run_id: str,
        policy_hash: str,
        rule_id: str,
        system: str,
        dataset: str,
        held: Sequence[HeldLike],
        subjects: Sequence[str] = (),
    ) -> None:
        if not held:
            return
        self._require_started(run_id)
        records = [
            KeptRecord(
                key_hash=self.ring.hash(h.key),
                hold_id=checks.token("held hold_id", h.hold_id),
                until=checks.utc_text("held until", h.until),
            )
            for h in held
        ]
        self._append(
            kind=KEPT,
            run_id=run_id,
            policy_hash=checks.token("policy_hash", policy_hash),
            rule_id=checks.name("rule_id", rule_id),
            system=checks.name("system", system),
            dataset=checks.dataset("dataset", dataset),
            count=len(records),
            kept=records,
            subject_hashes=self._subject_hashes(subjects),
        )

    def end_run(self, *, run_id: str, summary: Mapping[str, int]) -> None:
        start = self._require_started(run_id)
        if self._has(run_id, RUN_END):
            raise LedgerError(f"run_id: run {run_id!r} has already ended")
        self._append(
            kind=RUN_END,
            run_id=run_id,
            policy_hash=start.policy_hash,
            detail={"summary": checks.counts("summary", summary)},
        )

    def unfinished_intents(self) -> list[Intent]:
        completions = sa.select(store.entries.c.intent_seq).where(
            store.entries.c.intent_seq.is_not(None)
        )
        rows = store.read(
            self._engine,
            store.entries.c.kind == INTENT,
            store.entries.c.seq.not_in(completions),
        )
        return [Intent.of(entry) for entry in rows]

    def complete_recovered(
        self, intent: Intent, *, done_hashes: Sequence[str], outcome: str = "recovered"
    ) -> None:
        """Close an intent a killed process left open. done_hashes must be the
        intent's hashes of keys no longer there (see recovered_hashes)."""
        stored = self._open_intent(intent.seq)
        done = [checks.key_hash("done_hashes", h) for h in done_hashes]
        strangers = set(done) - set(stored.key_hashes)
        if strangers:
            raise LedgerError(
                f"done_hashes: {len(strangers)} hash(es) are not among intent {intent.seq}'s keys"
            )
        in_intent_order = [h for h in stored.key_hashes if h in set(done)]
        self._append(
            **self._completion_of(stored),
            count=len(in_intent_order),
            key_hashes=in_intent_order,
            outcome=checks.outcome(outcome),
            intent_seq=stored.seq,
            detail={"still_due": len(stored.key_hashes) - len(in_intent_order)},
        )

    # --- reading ---------------------------------------------------------

    def entries(self, run_id: str | None = None) -> list[Entry]:
        where = [] if run_id is None else [store.entries.c.run_id == run_id]
        return store.read(self._engine, *where)

    def verify(self) -> VerifyResult:
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # one snapshot for entries and head, though appends go on meanwhile
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return verify_rows(
                    (store.entry_of(r._mapping) for r in conn.execute(store.select_entries())),
                    store.read_head(conn),
                )

    def lookup(self, identities: Mapping[str, Sequence[str]]) -> list[Entry]:
        """Entries about a person, found by their identities hashed with every
        known key. Validation refuses empty and wildcard identities."""
        valid = validate_identities(identities)
        values = [v for vs in valid.values() for v in vs]
        hashes = {h for v in values for h in self.ring.hash_all_keys(v).values()}
        return lookup.by_subject(self._engine, hashes)

    def lookup_keys(self, dataset: str, keys: Sequence[Key]) -> list[Entry]:
        """Entries naming these record keys of a dataset ('dataset' or
        'system.dataset'), as changed, cascaded, kept or failed."""
        checks.dataset("dataset", dataset)
        hashes = {h for key in keys for h in self.ring.hash_all_keys(key).values()}
        return lookup.by_key(self._engine, dataset, hashes)

    # --- inside ----------------------------------------------------------

    def _append(self, **fields: Any) -> Entry:
        return self._append_all([fields])[0]

    def _append_all(self, batch: list[dict[str, Any]]) -> list[Entry]:
        for fields in batch:
            fields.setdefault("key_id", self.ring.current_id)
        written = store.append_all(self._engine, batch)
        for entry in written:
            if entry.kind == RUN_START:
                self._runs[entry.run_id] = entry
            elif entry.kind == INTENT:
                self._open[entry.seq] = entry
            elif entry.kind == COMPLETION and entry.intent_seq is not None:
                self._open.pop(entry.intent_seq, None)
        return written

    def _subject_hashes(self, subjects: Sequence[str]) -> list[str]:
        if isinstance(subjects, str):
            raise LedgerError("subjects: give a list of identities, not one string")
        return sorted(set(self.ring.hash_many(subjects)))

    def _has(self, run_id: str, kind: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(store.entries.c.seq)
                .where(store.entries.c.run_id == run_id, store.entries.c.kind == kind)
                .limit(1)
            ).first()
        return found is not None

    def _require_started(self, run_id: str) -> Entry:
        checks.token("run_id", run_id)
        if run_id in self._runs:
            return self._runs[run_id]
        found = store.read(
            self._engine, store.entries.c.run_id == run_id, store.entries.c.kind == RUN_START
        )
        if not found:
            raise LedgerError(f"run_id: run {run_id!r} was not begun; call begin_run first")
        return found[0]

    def _open_intent(self, seq: int) -> Entry:
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise LedgerError(f"intent_seq: {seq!r} is not an entry number")
        if seq in self._open:
            return self._open[seq]
        found = store.read(self._engine, store.entries.c.seq == seq)
        if not found or found[0].kind != INTENT:
            raise LedgerError(f"intent_seq: entry {seq} is not an intent")
        done = store.read(self._engine, store.entries.c.intent_seq == seq)
        if done:
            raise LedgerError(f"intent_seq: intent {seq} already has a completion ({done[0].seq})")
        intent = found[0]
        self.ring.secret(intent.key_id)  # fail before anything is written
        return intent

    @staticmethod
    def _completion_of(intent: Entry) -> dict[str, Any]:
        return {
            "kind": COMPLETION,
            "run_id": intent.run_id,
            "policy_hash": intent.policy_hash,
            "rule_id": intent.rule_id,
            "system": intent.system,
            "dataset": intent.dataset,
            "action": intent.action,
            "subject_hashes": list(intent.subject_hashes),
            "approved_by": intent.approved_by,
            "key_id": intent.key_id,
        }

    # --- the WORM copy (see retention.ledger.exports) ---------------------

    def record_export(
        self,
        *,
        run_id: str,
        status: str,
        last_seq: int,
        object_key: str | None = None,
        code: str | None = None,
    ) -> None:
        """An attempt to copy run_id's segment, up to entry last_seq."""
        exports.record(
            self._engine,
            run_id=checks.token("run_id", run_id),
            status=status,
            last_seq=last_seq,
            object_key=object_key,
            code=code,
        )

    def unexported_runs(self) -> list[str]:
        """Runs, oldest first, whose entries are not all in an exported segment."""
        return exports.owed(self._engine)
