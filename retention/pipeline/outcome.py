"""What a run did, per rule: the numbers the summary and the exit code use."""

from __future__ import annotations

from dataclasses import dataclass, field

# The per-rule counts, in the order the summary shows them.
COUNTS = (
    "due",
    "deleted",
    "anonymised",
    "cascaded",
    "kept_by_hold",
    "kept_by_lock",
    "undated",
    "skipped",
    "failed",
)

# A rule that left due records unchanged on purpose: not approved, or
# waiting for a rule it must follow. The run is then not a clean success.
LEFT_DUE = ("not-approved", "waiting")


@dataclass
class RuleOutcome:
    rule_id: str
    dataset: str  # qualified
    action: str
    due: int = 0
    deleted: int = 0
    anonymised: int = 0
    cascaded: int = 0  # child rows removed or detached with their parents
    held: int = 0  # kept by a legal hold (anonymised instead, when the rule says so)
    held_anonymised: int = 0
    locked: int = 0  # the store refused: Object Lock, legal hold on the object
    undated: int = 0  # the clock is unknown (NULL): never acted on, always reported
    skipped: int = 0  # gone or no longer due at apply time
    failed: int = 0
    status: str = "planned"  # planned | done | dry-run | not-approved | waiting | failed
    note: str = ""  # why: the failure's reason, the limit exceeded, the rule waited for
    approved_by: str | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, object]:
        return {
            "rule": self.rule_id,
            "dataset": self.dataset,
            "action": self.action,
            "due": self.due,
            "deleted": self.deleted,
            "anonymised": self.anonymised + self.held_anonymised,
            "cascaded": self.cascaded,
            "kept_by_hold": self.held,
            "kept_by_lock": self.locked,
            "undated": self.undated,
            "skipped": self.skipped,
            "failed": self.failed,
            "status": self.status,
            "reason": self.note,
            "approved_by": self.approved_by or "",
        }


@dataclass
class RunSummary:
    run_id: str
    policy_name: str
    policy_hash: str
    dry_run: bool
    outcomes: list[RuleOutcome] = field(default_factory=list)
    recovered: int = 0
    decision: str = ""  # the operator's answer, when one was asked for
    error: str = ""  # why the run stopped before its rules, if it did

    @property
    def ok(self) -> bool:
        return not self.error and not any(o.failed or o.status == "failed" for o in self.outcomes)

    @property
    def status(self) -> str:
        """completed | incomplete | refused | failed: how the run ended."""
        if not self.ok:
            return "failed"
        if any(o.status in LEFT_DUE for o in self.outcomes):
            return "refused" if self.decision in ("refused", "timed-out") else "incomplete"
        return "completed"

    def reason(self) -> str:
        """One sentence on why a run is not a clean success ('' if it is)."""
        if self.error:
            return self.error
        failed = [o.rule_id for o in self.outcomes if o.failed or o.status == "failed"]
        if failed:
            return f"{len(failed)} rule(s) failed: {', '.join(failed)}"
        left = [o for o in self.outcomes if o.status in LEFT_DUE]
        if not left:
            return ""
        due = sum(o.due + o.held for o in left)
        return (
            f"{len(left)} rule(s) left {due} due record(s) unchanged "
            f"({'; '.join(f'{o.rule_id}: {o.note or o.status}' for o in left)})"
        )

    def totals(self) -> dict[str, int]:
        rows = [o.as_row() for o in self.outcomes]
        return {k: sum(int(r[k]) for r in rows) for k in COUNTS}  # type: ignore[call-overload]

    def as_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "policy": self.policy_name,
            "policy_hash": self.policy_hash,
            "dry_run": self.dry_run,
            "recovered_batches": self.recovered,
            "status": "dry-run" if self.dry_run else self.status,
            "reason": self.reason(),
            "rules": [{**o.as_row(), "failures": o.failures} for o in self.outcomes],
            "totals": self.totals(),
        }


def render_table(summary: RunSummary) -> str:
    """A plain text table for the console."""
    rows = [o.as_row() for o in summary.outcomes]
    columns = ["rule", "dataset", *COUNTS, "status"]
    cells = [[str(r[c]) for c in columns] for r in rows]
    totals = summary.totals()
    cells.append(["TOTAL", ""] + [str(totals.get(c, "")) for c in columns[2:-1]] + [""])
    reasons = [
        f"  {o.rule_id}: "
        + "; ".join(filter(None, [o.note, f"approved by {o.approved_by}" if o.approved_by else ""]))
        for o in summary.outcomes
        if o.note or o.approved_by
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if i < 2 or i == len(values) - 1 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    head = (
        f"run {summary.run_id}  policy {summary.policy_name} "
        f"sha256:{summary.policy_hash[:12]}  ({mode_of(summary)})"
    )
    out = [head, line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells[:-1]]
    out += [line(["-" * w for w in widths]), line(cells[-1])]
    if reasons:
        out += ["", "why:", *reasons]
    if summary.recovered:
        out.append(f"recovered {summary.recovered} unfinished batch(es) of an earlier run")
    if not summary.dry_run and summary.status != "completed":
        out.append(f"run {summary.status}: {summary.reason()}")
    return "\n".join(out)


def mode_of(summary: RunSummary) -> str:
    """How a run's summary is titled: never 'applied' when it was not."""
    if summary.dry_run:
        return "DRY RUN, nothing changed"
    return {
        "completed": "applied",
        "incomplete": "INCOMPLETE: due records left unchanged",
        "refused": "REFUSED: over-limit rules not applied",
        "failed": "FAILED",
    }[summary.status]
