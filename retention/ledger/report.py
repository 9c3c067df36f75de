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

from retention.ledger.entry import COMPLETION, INTENT, KEPT, RUN_END, RUN_START, Entry, KeptRecord


@dataclass
class KeptLine:
    hold_id: str
    until: str | None
    count: int


@dataclass
class RuleLine:
    system: str
    dataset: str
    rule_id: str
    deleted: int = 0
    anonymised: int = 0
    recovered: int = 0  # of the above, closed by crash recovery
    cascaded: dict[str, int] = field(default_factory=dict)
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


@dataclass
class Report:
    entries: int
    runs: list[RunLine]
    rules: list[RuleLine]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = ["# Retention report", "", f"Built from {self.entries} ledger entries.", ""]
        lines += ["## Runs", "", "| run | policy | trigger | dry run | started | ended |"]
        lines += ["|---|---|---|---|---|---|"]
        for run in self.runs:
            lines.append(
                f"| {run.run_id} | {run.policy_name or '?'} `{run.policy_hash[:12]}` | "
                f"{run.trigger or '?'} | {_yes_no(run.dry_run)} | {run.started or '?'} | "
                f"{run.ended or 'not ended'} |"
            )
        lines += ["", "## Per system and rule", ""]
        lines += [
            "| system | dataset | rule | deleted | anonymised | cascaded | kept "
            "(hold, until) | failed | unfinished |"
        ]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
        for rule in self.rules:
            cascaded = ", ".join(f"{k}: {v}" for k, v in sorted(rule.cascaded.items())) or "-"
            kept = (
                ", ".join(
                    f"{k.count} under {k.hold_id} until {k.until or 'open-ended'}"
                    for k in rule.kept
                )
                or "-"
            )
            failed = ", ".join(f"{v} {k}" for k, v in sorted(rule.failed.items())) or "-"
            lines.append(
                f"| {rule.system} | {rule.dataset} | {rule.rule_id} | {rule.deleted} | "
                f"{rule.anonymised} | {cascaded} | {kept} | {failed} | {rule.unfinished} |"
            )
        return "\n".join(lines) + "\n"


def build_report(entries: Sequence[Entry]) -> Report:
    runs: dict[str, RunLine] = {}
    rules: dict[tuple[str, str, str], RuleLine] = {}
    kept: dict[tuple[str, str, str], dict[tuple[str, str | None], int]] = {}
    open_intents: dict[int, tuple[str, str, str]] = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.kind in (RUN_START, RUN_END):
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
        ordered_groups = sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or ""))
        rules[where].kept = [KeptLine(hold, until, n) for (hold, until), n in ordered_groups]
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
    else:
        run.ended = entry.at.isoformat()
        run.summary = dict(entry.detail.get("summary", {}))


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
    for failure in entry.failed:
        line.failed[failure.code] = line.failed.get(failure.code, 0) + 1


def _note_kept(groups: dict[tuple[str, str | None], int], records: Sequence[KeptRecord]) -> None:
    for record in records:
        group = (record.hold_id, record.until)
        groups[group] = groups.get(group, 0) + 1


def _yes_no(value: Any) -> str:
    return "?" if value is None else ("yes" if value else "no")
