"""What was done, built from ledger entries alone.

The report never reads a run's memory, so it can be rebuilt years later from
the database or from an exported segment, and an erasure certificate can be
built from the entries a lookup found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from retention.ledger.entry import (
    COMPLETION,
    DECISION,
    INTENT,
    KEPT,
    LEASE,
    RUN_END,
    RUN_START,
    Entry,
    KeptRecord,
)


@dataclass
class KeptLine:
    hold_id: str
    until: str | None
    count: int
    note: str = ""  # e.g. "date unknown"


@dataclass
class RuleLine:
    system: str
    dataset: str
    rule_id: str
    deleted: int = 0
    anonymised: int = 0
    recovered: int = 0  # of the above, closed by crash recovery
    cascaded: dict[str, int] = field(default_factory=dict)
    detached: dict[str, int] = field(default_factory=dict)
    kept: list[KeptLine] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0  # intents with no completion: the change may or may not have happened
    first_at: str | None = None
    last_at: str | None = None
    policy_hashes: list[str] = field(default_factory=list)
    approved_by: list[str] = field(default_factory=list)


@dataclass
class RunLine:
    run_id: str
    policy_hash: str
    policy_name: str | None
    trigger: str | None
    dry_run: bool | None
    started: str | None
    ended: str | None
    summary: dict[str, int] = field(default_factory=dict)
    status: str | None = None  # completed | incomplete | refused | failed | cancelled
    reason: str = ""
    rules: dict[str, str] = field(default_factory=dict)  # rule -> its status in the run
    undated: dict[str, int] = field(default_factory=dict)  # rule -> records of unknown date
    reasons: dict[str, str] = field(default_factory=dict)  # failed rule -> why
    decisions: list[DecisionLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the lease taken from a dead run


@dataclass
class DecisionLine:
    at: str
    decision: str  # approved | refused | timed-out | cancelled | not-asked
    reviewer: str | None
    rules: list[str]
    comment: str = ""


@dataclass
class Report:
    entries: int
    runs: list[RunLine]
    rules: list[RuleLine]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = ["# Retention report", "", f"Built from {self.entries} ledger entries.", ""]
        lines += ["## Runs", "", "| run | policy | trigger | dry run | started | ended | status |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for run in self.runs:
            lines.append(
                f"| {run.run_id} | {run.policy_name or '?'} `{run.policy_hash[:12]}` | "
                f"{run.trigger or '?'} | {_yes_no(run.dry_run)} | {run.started or '?'} | "
                f"{run.ended or 'not ended'} | {run.status or '?'} |"
            )
        for run in self.runs:
            lines += _run_details(run)
        lines += ["", "## Per system and rule", ""]
        lines += [
            "| system | dataset | rule | deleted | anonymised | cascaded | unlinked | kept "
            "(hold, until) | failed | unfinished | approved by |"
        ]
        lines += ["|---|---|---|---|---|---|---|---|---|---|---|"]
        for rule in self.rules:
            cascaded = ", ".join(f"{k}: {v}" for k, v in sorted(rule.cascaded.items())) or "-"
            detached = ", ".join(f"{k}: {v}" for k, v in sorted(rule.detached.items())) or "-"
            kept = ", ".join(_kept_text(k) for k in rule.kept) or "-"
            failed = ", ".join(f"{v} {k}" for k, v in sorted(rule.failed.items())) or "-"
            lines.append(
                f"| {rule.system} | {rule.dataset} | {rule.rule_id} | {rule.deleted} | "
                f"{rule.anonymised} | {cascaded} | {detached} | {kept} | {failed} | "
                f"{rule.unfinished} | {', '.join(rule.approved_by) or '-'} |"
            )
        return "\n".join(lines) + "\n"


def _kept_text(kept: KeptLine) -> str:
    if kept.until is None and kept.note:
        return f"{kept.count} under {kept.hold_id}, {kept.note}: kept until it is known"
    return f"{kept.count} under {kept.hold_id} until {kept.until or 'open-ended'}"


def _run_details(run: RunLine) -> list[str]:
    """Why a run did not simply complete, and who decided what."""
    out: list[str] = []
    if run.reason:
        out.append(f"- run {run.run_id}: **{run.status}**: {run.reason}")
    for rule, status in sorted(run.rules.items()):
        if status not in ("done", "dry-run"):
            why = f": {run.reasons[rule]}" if rule in run.reasons else ""
            out.append(f"- run {run.run_id}: rule `{rule}` {status}{why}")
    for decision in run.decisions:
        who = f" by {decision.reviewer}" if decision.reviewer else ""
        why = f" ({decision.comment})" if decision.comment else ""
        out.append(
            f"- run {run.run_id}: approval {decision.decision}{who} at {decision.at} "
            f"for {', '.join(decision.rules)}{why}"
        )
    for rule, count in sorted(run.undated.items()):
        out.append(
            f"- run {run.run_id}: rule `{rule}`: {count} record(s) with an unknown date "
            "(undated): never acted on, kept until their date is known"
        )
    out += [f"- run {run.run_id}: {note}" for note in run.notes]
    return ["", *out] if out else []


def build_report(entries: Sequence[Entry]) -> Report:
    runs: dict[str, RunLine] = {}
    rules: dict[tuple[str, str, str], RuleLine] = {}
    kept: dict[tuple[str, str, str], dict[tuple[str, str | None, str], int]] = {}
    open_intents: dict[int, tuple[str, str, str]] = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.kind in (RUN_START, RUN_END, DECISION, LEASE):
            _note_run(runs, entry)
            continue
        where = (entry.system or "", entry.dataset or "", entry.rule_id or "")
        line = rules.setdefault(where, RuleLine(*where))
        _note_time_and_policy(line, entry)
        if entry.kind == INTENT:
            open_intents[entry.seq] = where
        elif entry.kind == COMPLETION:
            open_intents.pop(entry.intent_seq or -1, None)
            _note_completion(line, entry)
            _note_kept(kept.setdefault(where, {}), entry.kept)
        elif entry.kind == KEPT:
            _note_kept(kept.setdefault(where, {}), entry.kept)
    for where in open_intents.values():
        rules[where].unfinished += 1
    for where, groups in kept.items():
        ordered_groups = sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "", g[0][2]))
        rules[where].kept = [
            KeptLine(hold, until, n, note) for (hold, until, note), n in ordered_groups
        ]
    ordered = [rules[k] for k in sorted(rules)]
    return Report(entries=len(entries), runs=list(runs.values()), rules=ordered)


def _note_run(runs: dict[str, RunLine], entry: Entry) -> None:
    run = runs.setdefault(
        entry.run_id, RunLine(entry.run_id, entry.policy_hash, None, None, None, None, None)
    )
    if entry.kind == RUN_START:
        run.policy_name = entry.detail.get("policy_name")
        run.trigger = entry.detail.get("trigger")
        run.dry_run = entry.detail.get("dry_run")
        run.started = entry.at.isoformat()
    elif entry.kind == DECISION:
        run.decisions.append(
            DecisionLine(
                at=entry.at.isoformat(),
                decision=entry.outcome or "?",
                reviewer=entry.approved_by,
                rules=list(entry.detail.get("rules", [])),
                comment=str(entry.detail.get("comment", "")),
            )
        )
    elif entry.kind == LEASE:
        run.notes.append(f"took the applying lease from {entry.detail.get('previous')}, gone")
    else:
        run.ended = entry.at.isoformat()
        run.summary = dict(entry.detail.get("summary", {}))
        # Runs ended before statuses were recorded completed or failed by counts.
        run.status = entry.detail.get("status") or (
            "failed" if run.summary.get("failed") else "completed"
        )
        run.reason = str(entry.detail.get("reason", ""))
        run.rules = dict(entry.detail.get("rules", {}))
        run.undated = dict(entry.detail.get("undated", {}))
        run.reasons = dict(entry.detail.get("reasons", {}))


def _note_time_and_policy(line: RuleLine, entry: Entry) -> None:
    at = entry.at.isoformat()
    line.first_at = min(line.first_at or at, at)
    line.last_at = max(line.last_at or at, at)
    if entry.policy_hash not in line.policy_hashes:
        line.policy_hashes.append(entry.policy_hash)
    if entry.approved_by and entry.approved_by not in line.approved_by:
        line.approved_by.append(entry.approved_by)


def _note_completion(line: RuleLine, entry: Entry) -> None:
    if entry.action == "anonymise":
        line.anonymised += entry.count
    else:
        line.deleted += entry.count
    if entry.outcome == "recovered":
        line.recovered += entry.count
    for child, keys in entry.cascaded_hashes.items():
        line.cascaded[child] = line.cascaded.get(child, 0) + len(keys)
    for child, keys in (entry.detail.get("detached") or {}).items():
        line.detached[child] = line.detached.get(child, 0) + len(keys)
    for failure in entry.failed:
        line.failed[failure.code] = line.failed.get(failure.code, 0) + 1


def _note_kept(
    groups: dict[tuple[str, str | None, str], int], records: Sequence[KeptRecord]
) -> None:
    for record in records:
        group = (record.hold_id, record.until, record.note)
        groups[group] = groups.get(group, 0) + 1


def _yes_no(value: Any) -> str:
    return "?" if value is None else ("yes" if value else "no")
