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
    "skipped",
    "failed",
)


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
    skipped: int = 0  # gone or no longer due at apply time
    failed: int = 0
    status: str = "planned"  # planned | done | dry-run | awaiting-approval | not-approved | failed
    note: str = ""
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
            "skipped": self.skipped,
            "failed": self.failed,
            "status": self.status,
        }


@dataclass
class RunSummary:
    run_id: str
    policy_name: str
    policy_hash: str
    dry_run: bool
    outcomes: list[RuleOutcome] = field(default_factory=list)
    recovered: int = 0

    @property
    def ok(self) -> bool:
        return not any(o.failed or o.status == "failed" for o in self.outcomes)

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
            "rules": [o.as_row() for o in self.outcomes],
            "totals": self.totals(),
        }


def render_table(summary: RunSummary) -> str:
    """A plain text table for the console."""
    rows = [o.as_row() for o in summary.outcomes]
    columns = ["rule", "dataset", *COUNTS, "status"]
    cells = [[str(r[c]) for c in columns] for r in rows]
    totals = summary.totals()
    cells.append(["TOTAL", ""] + [str(totals.get(c, "")) for c in columns[2:-1]] + [""])
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if i < 2 or i == len(values) - 1 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    mode = "DRY RUN, nothing changed" if summary.dry_run else "applied"
    head = (
        f"run {summary.run_id}  policy {summary.policy_name} "
        f"sha256:{summary.policy_hash[:12]}  ({mode})"
    )
    out = [head, line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells[:-1]]
    out += [line(["-" * w for w in widths]), line(cells[-1])]
    if summary.recovered:
        out.append(f"recovered {summary.recovered} unfinished batch(es) of an earlier run")
    return "\n".join(out)
