"""The certificate of one erasure request, from its ledger entry alone: what
was erased or anonymised where, what was kept, why and until when, what was
restricted. No personal data beyond the request id and the subject's keyed
hashes, so it can be handed to the person, an auditor or a regulator."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from retention.ledger.entry import Entry

STATUS_TEXT = {
    "completed": "Done. The records below were erased or anonymised.",
    "nothing-held": "No record of this person was found in any system: nothing is held.",
    "restricted": (
        "Restricted: the person's cooperation is still in force, so the records are kept, "
        "flagged and reported instead of erased."
    ),
    "incomplete": "Not finished: some records still wait (see the run's report).",
    "failed": "Failed: some records could not be changed; the next run retries them.",
    "dry-run": "Dry run: this is what the request would do; nothing was changed.",
}


@dataclass
class Certificate:
    request_id: str
    kind: str
    status: str
    run_id: str
    issued_at: str
    policy_hash: str
    subject_hashes: list[str]
    requested_by: str | None = None
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    restricted: list[str] = field(default_factory=list)
    mentions_redacted: dict[str, int] = field(default_factory=dict)
    override: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = [
            f"# Certificate of {self.kind}: request {self.request_id}",
            "",
            STATUS_TEXT.get(self.status, self.status),
            "",
            f"- issued {self.issued_at} by run `{self.run_id}` "
            f"under policy `sha256:{self.policy_hash[:12]}`",
            f"- subject (keyed hash): `{self.subject_hashes[0] if self.subject_hashes else '-'}`",
        ]
        if self.requested_by:
            lines.append(f"- received by {self.requested_by}")
        if self.override:
            lines.append(f"- restriction overridden: {self.override}")
        if self.datasets:
            lines += [
                "",
                "| system.dataset | deleted | anonymised | removed with parent | kept, and why |",
                "|---|---|---|---|---|",
            ]
            for name, counts in sorted(self.datasets.items()):
                lines.append(
                    f"| {name} | {counts.get('deleted', 0)} | {counts.get('anonymised', 0)} | "
                    f"{counts.get('removed_with_parent', 0)} | {_kept(counts)} |"
                )
        for name in self.restricted:
            lines.append(f"- restricted in {name}: kept and flagged; nothing erased")
        for name, count in sorted(self.mentions_redacted.items()):
            lines.append(
                f"- the person's name, email or phone redacted from {count} row(s) of {name} "
                "(also in other people's rows; nothing else changed)"
            )
        return "\n".join(lines) + "\n"


def _kept(counts: dict[str, Any]) -> str:
    parts = [
        f"{k['count']} under {k['hold']} "
        + (f"until {k['until']}" if k.get("until") else f"({k.get('note') or 'open-ended'})")
        + " (the person anonymised in them)"
        for k in counts.get("kept", [])
    ]
    if counts.get("kept_by_policy"):
        parts.append(f"kept: {counts['kept_by_policy']}")
    return "; ".join(parts) or "-"


def certificate_of(entry: Entry) -> Certificate:
    detail = entry.detail
    return Certificate(
        request_id=str(detail.get("request_id")),
        kind=str(detail.get("request_kind", "erasure")),
        status=entry.outcome or "?",
        run_id=entry.run_id,
        issued_at=entry.at.isoformat(),
        policy_hash=entry.policy_hash,
        subject_hashes=list(entry.subject_hashes),
        requested_by=detail.get("requested_by"),
        datasets=dict(detail.get("datasets", {})),
        restricted=list(detail.get("restricted", [])),
        mentions_redacted=dict(detail.get("mentions_redacted", {})),
        override=str(detail.get("override", "")),
    )
