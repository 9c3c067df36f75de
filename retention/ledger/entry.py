"""One ledger entry, and the open intent the pipeline recovers from a crash.

Every field an auditor reads is here; identities and record keys appear only
as HMAC hex under the entry's key id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RUN_START = "run-start"
INTENT = "intent"
COMPLETION = "completion"
KEPT = "kept"
RUN_END = "run-end"
DECISION = "decision"  # an operator's answer: approved, refused, timed out, cancelled
LEASE = "lease"  # a run took over the applying lease from a holder that was gone
REQUEST = "request"  # what an erasure request did, per dataset: its certificate's source
KINDS = (RUN_START, INTENT, COMPLETION, KEPT, RUN_END, DECISION, LEASE, REQUEST)


@dataclass(frozen=True)
class KeptRecord:
    """A record a hold (or a store lock) kept, as the ledger knows it."""

    key_hash: str
    hold_id: str
    until: str | None  # ISO-8601 UTC, or None for an open-ended hold
    note: str = ""  # e.g. "date unknown"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key_hash": self.key_hash, "hold_id": self.hold_id}
        out["until"] = self.until
        if self.note:  # absent when empty, so older entries hash as they did
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class FailedRecord:
    key_hash: str
    code: str  # an error code only: a reason's text may name a key or value

    def to_json(self) -> dict[str, Any]:
        return {"key_hash": self.key_hash, "code": self.code}


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    kind: str
    run_id: str
    policy_hash: str
    key_id: str
    prev_hash: str
    entry_hash: str
    rule_id: str | None = None
    system: str | None = None
    dataset: str | None = None
    action: str | None = None
    count: int = 0
    key_hashes: list[str] = field(default_factory=list)
    cascaded_hashes: dict[str, list[str]] = field(default_factory=dict)
    kept: list[KeptRecord] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)
    subject_hashes: list[str] = field(default_factory=list)
    outcome: str | None = None
    approved_by: str | None = None
    intent_seq: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def content(self) -> dict[str, Any]:
        """Every field but entry_hash, as JSON values: what the hash covers."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "run_id": self.run_id,
            "policy_hash": self.policy_hash,
            "rule_id": self.rule_id,
            "system": self.system,
            "dataset": self.dataset,
            "action": self.action,
            "count": self.count,
            "key_hashes": list(self.key_hashes),
            "cascaded_hashes": {k: list(v) for k, v in self.cascaded_hashes.items()},
            "kept": [k.to_json() for k in self.kept],
            "failed": [f.to_json() for f in self.failed],
            "subject_hashes": list(self.subject_hashes),
            "outcome": self.outcome,
            "approved_by": self.approved_by,
            "intent_seq": self.intent_seq,
            "detail": dict(self.detail),
            "key_id": self.key_id,
            "prev_hash": self.prev_hash,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.content(), "entry_hash": self.entry_hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            seq=int(data["seq"]),
            at=datetime.fromisoformat(data["at"]),
            kind=data["kind"],
            run_id=data["run_id"],
            policy_hash=data["policy_hash"],
            key_id=data["key_id"],
            prev_hash=data["prev_hash"],
            entry_hash=data["entry_hash"],
            rule_id=data.get("rule_id"),
            system=data.get("system"),
            dataset=data.get("dataset"),
            action=data.get("action"),
            count=int(data.get("count") or 0),
            key_hashes=list(data.get("key_hashes") or []),
            cascaded_hashes={k: list(v) for k, v in (data.get("cascaded_hashes") or {}).items()},
            kept=[KeptRecord(**k) for k in data.get("kept") or []],
            failed=[FailedRecord(**f) for f in data.get("failed") or []],
            subject_hashes=list(data.get("subject_hashes") or []),
            outcome=data.get("outcome"),
            approved_by=data.get("approved_by"),
            intent_seq=data.get("intent_seq"),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class Intent:
    """An intent with no completion: the batch may or may not have changed."""

    seq: int
    run_id: str
    policy_hash: str
    rule_id: str
    system: str
    dataset: str
    action: str
    key_hashes: list[str]
    key_id: str
    # What the batch changes if it commits, beyond its own keys:
    cascaded_hashes: dict[str, list[str]] = field(default_factory=dict)
    detached_hashes: dict[str, list[str]] = field(default_factory=dict)
    # anonymise: per key hash, the keyed digest of the row's after-image
    # (stored as one list in key order, or one digest when all are the same)
    image_digests: dict[str, str] = field(default_factory=dict)
    image_columns: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, entry: Entry) -> Intent:
        images = entry.detail.get("images") or []
        return cls(
            seq=entry.seq,
            run_id=entry.run_id,
            policy_hash=entry.policy_hash,
            rule_id=entry.rule_id or "",
            system=entry.system or "",
            dataset=entry.dataset or "",
            action=entry.action or "",
            key_hashes=list(entry.key_hashes),
            key_id=entry.key_id,
            cascaded_hashes={k: list(v) for k, v in entry.cascaded_hashes.items()},
            detached_hashes={k: list(v) for k, v in (entry.detail.get("detached") or {}).items()},
            # One digest stands for every key when all rows got one image.
            image_digests=(
                dict.fromkeys(entry.key_hashes, images)
                if isinstance(images, str)
                else dict(zip(entry.key_hashes, images, strict=False))
            ),
            image_columns=list(entry.detail.get("image_columns") or []),
        )
