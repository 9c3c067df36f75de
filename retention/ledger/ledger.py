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

from retention.connector import Key
from retention.identity import validate as validate_identities
from retention.ledger import checkpoint, checks, exports, lease, lookup, store
from retention.ledger.engine import open_engine
from retention.ledger.entry import (
    COMPLETION,
    DECISION,
    INTENT,
    KEPT,
    LEASE,
    REQUEST,
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
from retention.ledger.verify import VerifyResult


class HeldLike(Protocol):
    """connectors.base.Held, by shape: the domain does not import connectors."""

    @property
    def key(self) -> Key: ...
    @property
    def hold_id(self) -> str: ...
    @property
    def until(self) -> datetime | None: ...


class IntentArgs(TypedDict, total=False):
    """What an intent names: the keys the batch changes if it commits, under
    which run, rule and approval; for recovery, what else it changes (child
    rows removed or unlinked) and, for an anonymisation, each row's
    after-image (hashed here into a keyed digest)."""

    run_id: Required[str]
    policy_hash: Required[str]
    rule_id: Required[str]
    system: Required[str]
    dataset: Required[str]
    action: Required[str]
    keys: Required[Sequence[Key]]
    cascaded: Mapping[str, Sequence[Key]]
    detached: Mapping[str, Sequence[Key]]
    images: Mapping[Key, str]
    image_columns: Sequence[str]
    subjects: Sequence[str]
    approved_by: str | None


class CompletionArgs(TypedDict, total=False):
    """What a committed batch really did (record_completion's arguments)."""

    intent_seq: Required[int]
    done: Required[Sequence[Key]]
    cascaded: Mapping[str, Sequence[Key]]
    detached: Mapping[str, Sequence[Key]]
    kept: Sequence[HeldLike]
    failed: Sequence[tuple[Key, str]]
    outcome: str


DECISIONS = ("approved", "refused", "timed-out", "cancelled", "not-asked")
FINISHED_REQUESTS = ("completed", "nothing-held")
RUN_STATUSES = ("completed", "incomplete", "failed", "refused", "cancelled")


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

    def record_intent(
        self, *, completing: CompletionArgs | None = None, **intent: Unpack[IntentArgs]
    ) -> int:
        """Before a batch's change is durable: what it changes if it commits.

        With `completing`, the previous batch's completion goes first in the
        same transaction: one ledger commit per batch, completion before the
        next intent in the chain."""
        batch = [self._completion_fields(completing)] if completing is not None else []
        batch.append(self._intent_fields(intent))
        return self._append_all(batch)[-1].seq

    def _intent_fields(self, intent: IntentArgs) -> dict[str, Any]:
        run_id, keys = intent["run_id"], intent["keys"]
        cascaded = intent.get("cascaded") or {}
        if not keys and not any(cascaded.values()):
            raise LedgerError("keys: empty; an intent names the keys it is about to change")
        self._require_started(run_id)
        key_hashes = self.ring.hash_many(keys)
        if len(set(key_hashes)) != len(key_hashes):
            raise LedgerError("keys: the same key is named twice in one intent")
        detail: dict[str, Any] = {}
        images = intent.get("images") or {}
        if images:
            missing = [k for k in keys if k not in images]
            if missing:
                raise LedgerError(f"images: {len(missing)} changed key(s) have no after-image")
            # Rows given the same values share an image: each distinct one is
            # digested once, and one image for every key is stored once.
            digests = {text: self.ring.digest(text) for text in {images[k] for k in keys}}
            if len(digests) == 1:
                detail["images"] = next(iter(digests.values()))
            else:
                detail["images"] = [digests[images[k]] for k in keys]
            detail["image_columns"] = [
                checks.name("image_columns", c) for c in intent.get("image_columns") or []
            ]
        detached = {k: v for k, v in (intent.get("detached") or {}).items() if v}
        if detached:
            detail["detached"] = self._hashed_per_dataset(detached, None)
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
            cascaded_hashes=self._hashed_per_dataset(cascaded, None),
            subject_hashes=self._subject_hashes(intent.get("subjects", ())),
            approved_by=checks.approver(intent.get("approved_by")),
            detail=detail,
        )

    def _hashed_per_dataset(
        self, per_dataset: Mapping[str, Sequence[Key]], key_id: str | None
    ) -> dict[str, list[str]]:
        return {
            checks.dataset("cascaded dataset", child): self.ring.hash_many(keys, key_id)
            for child, keys in per_dataset.items()
            if keys
        }

    def record_completion(
        self,
        intent_seq: int,
        *,
        done: Sequence[Key],
        cascaded: Mapping[str, Sequence[Key]],
        kept: Sequence[HeldLike],
        failed: Sequence[tuple[Key, str]],
        outcome: str = "completed",
        detached: Mapping[str, Sequence[Key]] | None = None,
    ) -> None:
        """What the committed batch really did. Hashed with the intent's key,
        so intent and completion compare key for key."""
        self._append(
            **self._completion_fields(
                CompletionArgs(
                    intent_seq=intent_seq,
                    done=done,
                    cascaded=cascaded,
                    detached=detached or {},
                    kept=kept,
                    failed=failed,
                    outcome=outcome,
                )
            )
        )

    def _completion_fields(self, args: CompletionArgs) -> dict[str, Any]:
        intent_seq = args["intent_seq"]
        intent = self._open_intent(intent_seq)
        key_id = intent.key_id
        done_hashes = self.ring.hash_many(args["done"], key_id)
        kept_records = [
            KeptRecord(
                key_hash=self.ring.hash(held.key, key_id),
                hold_id=checks.token("kept hold_id", held.hold_id),
                until=checks.utc_text("kept until", held.until),
                note=_note(held),
            )
            for held in args.get("kept", ())
        ]
        failed_records = [
            FailedRecord(key_hash=self.ring.hash(key, key_id), code=error_code(reason))
            for key, reason in args.get("failed", ())
        ]
        claimed = done_hashes + [k.key_hash for k in kept_records]
        claimed += [f.key_hash for f in failed_records]
        strangers = set(claimed) - set(intent.key_hashes)
        if strangers:
            raise LedgerError(
                f"intent_seq {intent_seq}: {len(strangers)} key(s) in done/kept/failed were not "
                "named by the intent; a completion may only report on its intent's keys"
            )
        detached = self._hashed_per_dataset(args.get("detached") or {}, key_id)
        return dict(
            **self._completion_of(intent),
            count=len(done_hashes),
            key_hashes=done_hashes,
            cascaded_hashes=self._hashed_per_dataset(args.get("cascaded") or {}, key_id),
            kept=kept_records,
            failed=failed_records,
            outcome=checks.outcome(args.get("outcome", "completed")),
            intent_seq=intent_seq,
            detail={"detached": detached} if detached else {},
        )

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
                note=_note(h),
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

    def end_run(
        self,
        *,
        run_id: str,
        summary: Mapping[str, int],
        status: str = "completed",
        reason: str = "",
        rules: Mapping[str, str] | None = None,
        undated: Mapping[str, int] | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        """The run's end: its totals, its status (completed, incomplete,
        failed, refused, cancelled), why, each rule's status, and per rule
        the records whose date is unknown (never acted on, always reported)."""
        start = self._require_started(run_id)
        if self._has(run_id, RUN_END):
            raise LedgerError(f"run_id: run {run_id!r} has already ended")
        if status not in RUN_STATUSES:
            raise LedgerError(f"status: {status!r} is not one of {', '.join(RUN_STATUSES)}")
        detail: dict[str, Any] = {"summary": checks.counts("summary", summary), "status": status}
        if reason:
            detail["reason"] = checks.free_text("reason", reason)
        if rules:
            detail["rules"] = {
                checks.name("rules key", k): checks.free_text("rule status", v)
                for k, v in rules.items()
            }
        if undated:
            detail["undated"] = checks.counts("undated", undated)
        if reasons:
            # An error's text may quote a statement's values: emails and phone
            # numbers are masked, and it is cut short.
            detail["reasons"] = {
                checks.name("reasons key", k): checks.free_text("reason", v, limit=300)
                for k, v in reasons.items()
                if v
            }
        self._append(
            kind=RUN_END,
            run_id=run_id,
            policy_hash=start.policy_hash,
            outcome=status,
            detail=detail,
        )

    def record_decision(
        self,
        *,
        run_id: str,
        decision: str,
        rules: Sequence[str],
        reviewer: str | None = None,
        comment: str = "",
    ) -> None:
        """An operator's answer to a plan over its limits, whatever it was:
        approved (with who), refused, timed out or cancelled."""
        start = self._require_started(run_id)
        if decision not in DECISIONS:
            raise LedgerError(f"decision: {decision!r} is not one of {', '.join(DECISIONS)}")
        detail: dict[str, Any] = {
            "decision": decision,
            "rules": [checks.name("rules", r) for r in rules],
        }
        if comment.strip():
            detail["comment"] = checks.free_text("comment", comment)
        self._append(
            kind=DECISION,
            run_id=run_id,
            policy_hash=start.policy_hash,
            outcome=decision,
            approved_by=checks.approver(reviewer) if reviewer and reviewer.strip() else None,
            count=len(rules),
            detail=detail,
        )

    def record_takeover(self, *, run_id: str, previous: str) -> None:
        """This run took the applying lease from a holder that was gone."""
        start = self._require_started(run_id)
        self._append(
            kind=LEASE,
            run_id=run_id,
            policy_hash=start.policy_hash,
            outcome="taken-over",
            detail={"previous": checks.free_text("previous", previous)},
        )

    def record_request(self, **request: Any) -> None:
        """What one erasure request did, dataset by dataset (counts, holds and
        their end dates, what the policy keeps and why, restriction): its
        certificate is built from this entry alone. The person appears only
        as keyed hashes of their identities."""
        self._append(**self._request_fields(**request))

    def record_requests(self, requests: Sequence[Mapping[str, Any]]) -> None:
        """record_request for a batch, in one transaction: a commit per
        request was a thousand fsyncs for a thousand requests."""
        if requests:
            self._append_all([self._request_fields(**r) for r in requests])

    def _request_fields(
        self,
        *,
        run_id: str,
        request_id: str,
        kind: str,
        status: str,
        subjects: Sequence[str],
        requested_by: str,
        datasets: Mapping[str, Mapping[str, Any]],
        restricted: Sequence[str] = (),
        override: str = "",
        mentions: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        start = self._require_started(run_id)
        detail: dict[str, Any] = {
            "request_id": checks.token("request_id", request_id),
            "request_kind": checks.outcome(kind),
            "datasets": {
                checks.dataset("datasets key", name): {
                    field: (checks.free_text(field, value) if isinstance(value, str) else value)
                    for field, value in counts.items()
                }
                for name, counts in datasets.items()
            },
            "restricted": [checks.dataset("restricted", d) for d in restricted],
            "mentions_redacted": dict(mentions or {}),
        }
        if requested_by.strip():
            detail["requested_by"] = checks.approver(requested_by)
        if override.strip():
            detail["override"] = checks.free_text("override", override)
        return {
            "kind": REQUEST,
            "run_id": run_id,
            "policy_hash": start.policy_hash,
            "outcome": checks.outcome(status),
            "count": len(datasets),
            "subject_hashes": self._subject_hashes(subjects),
            "detail": detail,
        }

    def entries_of_kind(self, kind: str) -> list[Entry]:
        return store.read(self._engine, store.entries.c.kind == kind)

    def requests_done(self, request_ids: Sequence[str]) -> dict[str, Entry]:
        """The entry that finished each of these request ids, if one did
        (completed, or nothing held). A restricted, incomplete or failed
        request is not finished: running it again goes on with it."""
        wanted = set(request_ids)
        found: dict[str, Entry] = {}
        for entry in store.read(self._engine, store.entries.c.kind == REQUEST):
            rid = entry.detail.get("request_id")
            if rid in wanted and rid not in found and entry.outcome in FINISHED_REQUESTS:
                found[rid] = entry
        return found

    def latest_request(self, request_id: str) -> Entry | None:
        """The last entry of a request id, finished or not."""
        return self.latest_requests([request_id]).get(request_id)

    def latest_requests(self, request_ids: Sequence[str]) -> dict[str, Entry]:
        """latest_request of each, from one read of the request entries."""
        wanted = set(request_ids)
        found: dict[str, Entry] = {}
        for entry in store.read(self._engine, store.entries.c.kind == REQUEST):
            rid = entry.detail.get("request_id")
            if rid in wanted:
                found[rid] = entry  # read in order: the last one stays
        return found

    # --- the applying lease ------------------------------------------------

    def acquire_lease(self, run_id: str, holder: str, *, wait_s: float = 0.0) -> lease.Taken:
        return lease.acquire(self._engine, checks.token("run_id", run_id), holder, wait_s=wait_s)

    def heartbeat(self, run_id: str) -> lease.Heartbeat:
        return lease.Heartbeat(self._engine, run_id, lease.ttl_s()).start()

    def release_lease(self, run_id: str) -> None:
        lease.release(self._engine, run_id)

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
        self,
        intent: Intent,
        *,
        done_hashes: Sequence[str],
        cascaded_hashes: Mapping[str, Sequence[str]] | None = None,
        detached_hashes: Mapping[str, Sequence[str]] | None = None,
        outcome: str = "recovered",
    ) -> None:
        """Close an intent a killed process left open, claiming only what the
        store shows was committed (see pipeline.recover): hashes the intent
        itself named, nothing else."""
        stored = Intent.of(self._open_intent(intent.seq))
        done = _subset("done_hashes", done_hashes, stored.key_hashes, intent.seq)
        cascaded = {
            child: _subset(child, hashes, stored.cascaded_hashes.get(child, []), intent.seq)
            for child, hashes in (cascaded_hashes or {}).items()
            if hashes
        }
        detached = {
            child: _subset(child, hashes, stored.detached_hashes.get(child, []), intent.seq)
            for child, hashes in (detached_hashes or {}).items()
            if hashes
        }
        detail: dict[str, Any] = {"not_committed": len(stored.key_hashes) - len(done)}
        if detached:
            detail["detached"] = detached
        self._append(
            kind=COMPLETION,
            run_id=stored.run_id,
            policy_hash=stored.policy_hash,
            rule_id=stored.rule_id,
            system=stored.system,
            dataset=stored.dataset,
            action=stored.action,
            key_id=stored.key_id,
            count=len(done),
            key_hashes=done,
            cascaded_hashes=cascaded,
            outcome=checks.outcome(outcome),
            intent_seq=stored.seq,
            detail=detail,
        )

    # --- reading ---------------------------------------------------------

    def entries(self, run_id: str | None = None) -> list[Entry]:
        where = [] if run_id is None else [store.entries.c.run_id == run_id]
        return store.read(self._engine, *where)

    def verify(self, *, full: bool = True, sign: bool = False) -> VerifyResult:
        """Walk the chain: all of it, or (full=False) only what came after
        the newest signed checkpoint. With `sign`, a walk that found no
        tampering leaves a checkpoint where it ended, for the next one."""
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # one snapshot for entries and head, though appends go on meanwhile
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                result = checkpoint.verify(conn, self.ring, full=full)
        if sign:
            checkpoint.record(self._engine, self.ring, result)
        return result

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

    # --- access requests (retention.access) --------------------------------

    def record_access(
        self,
        *,
        request_id: str,
        policy_hash: str,
        requested_by: str,
        systems: Sequence[str],
        subjects: Sequence[str],
        counts: Mapping[str, int],
    ) -> Entry:
        """That a person's data was looked up and handed out: who asked, when
        (the entry's time), which systems answered, how many records per
        dataset; the person only as keyed hashes, never the data. An access
        is no run: the request id stands as its run id."""
        detail: dict[str, Any] = {
            "request_id": checks.token("request_id", request_id),
            "systems": [checks.name("systems", s) for s in systems],
            "records": {checks.dataset("counts key", k): int(n) for k, n in counts.items()},
        }
        if requested_by.strip():
            detail["requested_by"] = checks.approver(requested_by)
        return self._append(
            kind="access",
            run_id=request_id,
            policy_hash=checks.token("policy_hash", policy_hash),
            outcome="answered",
            count=sum(counts.values()),
            subject_hashes=self._subject_hashes(subjects),
            detail=detail,
        )


def _note(held: HeldLike) -> str:
    note = getattr(held, "note", "")
    return checks.free_text("kept note", note) if note else ""


def _subset(field: str, hashes: Sequence[str], named: Sequence[str], seq: int) -> list[str]:
    """`hashes` in the intent's order, refused if any is not among `named`."""
    wanted = {checks.key_hash(field, h) for h in hashes}
    strangers = wanted - set(named)
    if strangers:
        raise LedgerError(f"{field}: {len(strangers)} hash(es) are not among intent {seq}'s keys")
    return [h for h in named if h in wanted]
