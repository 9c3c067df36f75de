"""What a coverage check found, and how it ends: a personal-looking column
no dataset declares and nobody reviewed fails the check (exit 1); with
--strict, anything undeclared and unreviewed does (drift, for CI)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Place = Literal["table", "column", "prefix"]


@dataclass(frozen=True)
class Finding:
    system: str
    place: Place
    table: str  # the table, or the media prefix
    column: str | None = None
    personal: tuple[str, ...] = ()  # kinds it looks like: "email (name)", "phone (values)"
    reviewed: str | None = None  # the allow-list's reason, when a person reviewed it

    @property
    def where(self) -> str:
        tail = f".{self.column}" if self.column else ""
        return f"{self.system}.{self.table}{tail}"

    def fails(self, strict: bool) -> bool:
        if self.reviewed is not None:
            return False
        return bool(self.personal) or strict

    def describe(self) -> str:
        what = {"table": "table", "column": "column", "prefix": "media prefix"}[self.place]
        text = f"{what} {self.where}: declared by no dataset"
        if self.personal:
            text += f"; looks personal: {', '.join(self.personal)}"
        if self.reviewed is not None:
            text += f"; reviewed: {self.reviewed}"
        return text


@dataclass
class CoverageReport:
    policy_name: str
    findings: list[Finding] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)  # the systems examined
    sample_rows: int = 0

    def failing(self, strict: bool = False) -> list[Finding]:
        return [f for f in self.findings if f.fails(strict)]

    def exit_code(self, strict: bool = False) -> int:
        return 1 if self.failing(strict) else 0

    def to_text(self, strict: bool = False) -> str:
        failing = self.failing(strict)
        lines = [
            f"coverage of policy {self.policy_name}: {', '.join(self.systems)} "
            f"(values sampled: at most {self.sample_rows} per column, none shown)"
        ]
        unreviewed = [f for f in self.findings if f.reviewed is None]
        if not unreviewed:
            lines.append("  clean: every table, column and prefix is declared or reviewed")
        for finding in unreviewed:
            mark = "FAIL" if finding in failing else "note"
            lines.append(f"  {mark}  {finding.describe()}")
        reviewed = len(self.findings) - len(unreviewed)
        if reviewed:
            lines.append(f"  {reviewed} undeclared item(s) reviewed in the policy (reviewed:)")
        if failing:
            lines.append(
                "Declare each in a dataset (identity_fields, personal_fields, columns) with a "
                "rule that ends it, or, if it is not personal data, add it to the system's "
                "`reviewed:` list with the reason."
            )
        return "\n".join(lines)

    def to_json(self, strict: bool = False) -> str:
        return json.dumps(
            {
                "policy": self.policy_name,
                "systems": self.systems,
                "sample_rows": self.sample_rows,
                "ok": not self.failing(strict),
                "strict": strict,
                "findings": [
                    {**asdict(f), "personal": list(f.personal), "fails": f.fails(strict)}
                    for f in self.findings
                ],
            },
            indent=2,
        )
